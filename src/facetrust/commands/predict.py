"""``facetrust predict CKPT IMAGE_OR_VIDEO...``: live/spoof score and decision with the stored threshold."""

VIDEO_EXTENSIONS = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv")


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "predict", help="score images or videos with a checkpoint: live or spoof",
        description="Score = P(bona fide); accepted as live when score >= the checkpoint's calibrated "
        "threshold. A video's score is the mean over N equidistant frames. Unreadable files are "
        "reported and skipped; the exit status is non-zero only when every input failed.",
    )
    p.add_argument("checkpoint", help="checkpoint folder (model.safetensors + config.json) or exported ONNX folder")
    p.add_argument("inputs", nargs="+", metavar="IMAGE_OR_VIDEO")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument("--frames", type=int, default=8, help="frames sampled per video (default 8)")
    p.add_argument("--threshold", type=float, help="override the stored threshold")
    p.add_argument("--device", default="cpu")
    p.set_defaults(func=run)


def read_video_frames(path, frames: int) -> list:
    """``frames`` equidistant RGB frames of a video via OpenCV; DataError naming the file if unusable."""
    from pathlib import Path

    import cv2
    import numpy as np

    from facetrust.errors import DataError

    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    capture = cv2.VideoCapture(str(path))
    try:
        if not capture.isOpened():
            raise DataError(f"{path}: OpenCV cannot open this video")
        total = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
        wanted = set(np.linspace(0, max(total - 1, 0), num=max(1, frames)).round().astype(int).tolist())
        out, index = [], 0
        while len(out) < len(wanted):
            ok, frame = capture.read()
            if not ok:
                break
            if index in wanted or total <= 0:
                out.append(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
            index += 1
        if not out:
            raise DataError(f"{path}: no frame could be decoded (empty or corrupt video)")
        return out
    finally:
        capture.release()


def score_inputs(predictor, inputs: list[str], frames: int = 8, threshold: float | None = None) -> list[dict]:
    """One record per input: kind, score, decision (or error); bad inputs do not stop the others."""
    from pathlib import Path

    from facetrust.data.io import read_image
    from facetrust.errors import DataError

    threshold = predictor.threshold if threshold is None else threshold
    records = []
    for item in inputs:
        record = {"path": item}
        try:
            if Path(item).suffix.lower() in VIDEO_EXTENSIONS:
                images = read_video_frames(item, frames)
                frame_scores = predictor.scores(images)
                record.update(kind="video", frames=len(images), frame_scores=[float(s) for s in frame_scores],
                              score=float(frame_scores.mean()))
            else:
                record.update(kind="image", score=float(predictor.scores([read_image(item)])[0]))
        except (DataError, ValueError) as err:
            record.update(kind="error", error=str(err))
            records.append(record)
            continue
        if threshold is not None:
            record["decision"] = "live" if record["score"] >= threshold else "spoof"
        records.append(record)
    return records


def run(args) -> int:
    import json
    import sys

    import facetrust

    if args.frames < 1:
        print("facetrust predict: --frames must be >= 1", file=sys.stderr)
        return 2
    predictor = facetrust.load(args.checkpoint, device=args.device)
    threshold = predictor.threshold if args.threshold is None else args.threshold
    records = score_inputs(predictor, args.inputs, args.frames, threshold)
    if threshold is None:
        print("warning: the checkpoint has no calibrated threshold; scores only (pass --threshold)", file=sys.stderr)
    if args.json:
        print(json.dumps({"checkpoint": str(args.checkpoint), "threshold": threshold, "results": records}, indent=2))
    else:
        print(f"threshold {threshold} ({getattr(predictor, 'config', {}).get('threshold_strategy')}); score = P(bona fide)")
        print(f"{'decision':8}  {'score':>6}  {'kind':5}  path")
        for r in records:
            if r["kind"] == "error":
                print(f"{'ERROR':8}  {'':>6}  {'':5}  {r['path']}: {r['error']}")
            else:
                extra = f" ({r['frames']} frames)" if r["kind"] == "video" else ""
                print(f"{r.get('decision', '-'):8}  {r['score']:6.3f}  {r['kind']:5}  {r['path']}{extra}")
    failed = [r for r in records if r["kind"] == "error"]
    for r in failed:
        print(f"facetrust predict: skipped {r['path']}: {r['error']}", file=sys.stderr)
    return 1 if len(failed) == len(records) else 0

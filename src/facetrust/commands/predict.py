"""``facetrust predict CKPT IMAGE|VIDEO|FOLDER... [--camera N]``: faces found, cropped as trained, decided.

Every input goes through ``facetrust.pipeline`` (images) or ``facetrust.faces.track.FaceTracker``
(videos and the camera); see ``facetrust predict --help``.
"""

from __future__ import annotations

from facetrust.commands._options import add_device, add_max_pixels

VIDEO_EXTENSIONS = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".3gp")
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm")
MIN_VIDEO_FRAMES = 8


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "predict", help="find the faces in images, videos or a camera and decide each: live or spoof",
        description="Each face is found by a detector (or given by --box), cropped exactly as the "
        "checkpoint was trained (its recorded crop, or the default one), and scored: score = P(bona fide), "
        "accepted when score >= the calibrated threshold. Faces are listed largest first; the top-level "
        "score/decision is the largest face's. A picture without a face says so and is never scored "
        "whole. Videos and the camera: a track per face, smoothed score, decision with hysteresis. "
        "Bad inputs are reported and the others go on; the exit status is non-zero when every input "
        "failed (or any, with --strict).",
    )
    p.add_argument("checkpoint", help="checkpoint folder (model.safetensors + config.json) or exported ONNX folder")
    p.add_argument("inputs", nargs="*", metavar="IMAGE_VIDEO_OR_FOLDER",
                   help="images, videos, or folders (every image and video in them)")
    p.add_argument("--camera", type=int, default=None, metavar="N", help="read camera N (OpenCV index) instead")
    p.add_argument("--json", action="store_true",
                   help="JSON lines: one per video/camera frame ({\"type\": \"frame\"}), then the report")
    p.add_argument("--threshold", type=float, help="override the stored threshold (0..1)")
    add_device(p)  # PyTorch device for a checkpoint folder (an ONNX folder runs on ONNX Runtime's CPU)
    add_max_pixels(p)
    p.add_argument("--detector", default=None,
                   help="face detector: mtcnn, blazeface, cascade, dlib, yunet (default: the one the checkpoint's "
                   "training crops were made with, else facetrust.faces.DEFAULT_DETECTOR)")
    p.add_argument("--detector-model", default=None, metavar="FILE", help="model file for detectors that need one (yunet)")
    p.add_argument("--box", default=None, metavar="X,Y,W,H",
                   help="use this face box (pixels of the upright image) instead of detecting")
    p.add_argument("--crops", action="store_true",
                   help="the inputs are already face crops (as in a prepared manifest): score each image whole")
    p.add_argument("--min-face", type=float, default=None, metavar="PX",
                   help="faces whose shorter side is under PX pixels are reported as too small (default 24)")
    p.add_argument("--detect-every", type=int, default=1, metavar="N",
                   help="videos: detect every N frames and follow the boxes in between (default 1)")
    p.add_argument("--smoothing", choices=("ema", "window"), default="ema", help="videos: score smoothing per track")
    p.add_argument("--alpha", type=float, default=0.5, help="EMA weight of the newest score (default 0.5)")
    p.add_argument("--window", type=int, default=5, help="frames averaged by --smoothing window (default 5)")
    p.add_argument("--band", type=float, default=0.05,
                   help="hysteresis: accept at >= threshold+band, reject at < threshold-band (default 0.05)")
    p.add_argument("--max-frames", type=int, default=None, metavar="N", help="videos/camera: stop after N frames")
    p.add_argument("--min-frames", type=int, default=MIN_VIDEO_FRAMES, metavar="N",
                   help=f"videos: under N decoded frames, warn and give no decision (default {MIN_VIDEO_FRAMES})")
    p.add_argument("--annotate", default=None, metavar="OUT.mp4",
                   help="write the (single) video or camera stream with boxes, scores and decisions drawn")
    p.add_argument("--strict", action="store_true", help="exit 1 if any input failed (no face, error, ...)")
    p.set_defaults(func=run)


def parse_box(text: str):
    """``"x,y,w,h"`` -> Box; DataError explaining the format otherwise."""
    from facetrust.errors import DataError

    try:
        x, y, w, h = (float(v) for v in text.split(","))
    except ValueError as err:
        raise DataError(f"--box {text!r}: expected four numbers x,y,w,h in pixels, e.g. --box 120,80,200,200") from err
    return _box_type()(x, y, w, h, 1.0)


def _box_type():
    try:
        from facetrust.faces import Box
    except ImportError:
        from facetrust.data.faces import Box
    return Box


def expand_inputs(inputs: list[str]) -> list[str]:
    """Folders -> their images and videos (sorted, recursive); other arguments kept as given."""
    from pathlib import Path

    out = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            found = sorted(str(p) for p in path.rglob("*")
                           if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS + VIDEO_EXTENSIONS)
            out += found or [item]  # an empty folder is reported as such
        else:
            out.append(item)
    return out


class Session:
    """What every input needs: the predictor, the detector (built once), the options."""

    def __init__(self, predictor, args, emit) -> None:
        from facetrust.pipeline import MIN_FACE, detector_name_for

        self.predictor, self.args, self.emit = predictor, args, emit
        self.threshold = predictor.threshold if args.threshold is None else args.threshold
        self.min_face = MIN_FACE if args.min_face is None else args.min_face
        self.box = parse_box(args.box) if args.box else None
        self.detector_name = detector_name_for(predictor, args.detector)
        self._detector = None

    @property
    def detector(self):
        if self._detector is None:
            from facetrust.pipeline import create_detector

            kwargs = {"model": self.args.detector_model} if self.args.detector_model else {}
            self._detector = create_detector(self.detector_name, **kwargs)
        return self._detector

    def image(self, path: str) -> dict:
        import time

        from facetrust.data.io import read_image
        from facetrust.pipeline import StageTimes, analyze_crop, analyze_image, check_box_inside

        times, started = StageTimes(), time.perf_counter()
        image = read_image(path)
        times.add("decode", started)
        if self.args.crops:
            faces = [analyze_crop(self.predictor, image, self.threshold)]
        else:
            boxes = None
            if self.box is not None:
                check_box_inside(self.box, image.shape, path)
                boxes = [self.box]
            detector = None if boxes else self.detector
            faces = analyze_image(self.predictor, image, detector=detector, boxes=boxes, min_face=self.min_face,
                                  threshold=self.threshold, timings=times)
        record = {"path": path, "kind": "image", "size": [int(image.shape[1]), int(image.shape[0])],
                  "faces": [f.to_dict() for f in faces],
                  "timings_ms": {k: round(v, 3) for k, v in times.per_frame().items()}}
        return {**record, **top_level(faces, self.min_face)}

    def stream(self, source, name: str) -> dict:
        from facetrust.commands.predict_stream import run_stream

        return run_stream(self, source, name)


def top_level(faces: list, min_face: float) -> dict:
    """The record's status, score and decision from its faces (the largest scored face decides)."""
    scored = [f for f in faces if f.score is not None]
    if not faces:
        return {"status": "no face", "score": None, "decision": None,
                "message": "no face found (try another --detector, or give --box x,y,w,h)"}
    if not scored:
        return {"status": "face too small", "score": None, "decision": None,
                "message": f"every face is smaller than {min_face:g} px (shorter side); move closer or use a "
                "larger image (--min-face lowers the limit)"}
    best = scored[0]
    return {"status": "ok", "score": best.score, "decision": best.to_dict()["decision"]}


def _print_table(records: list[dict], threshold, strategy, detector: str | None) -> None:
    found = f"faces found by {detector}" if detector else "faces given"
    print(f"threshold {threshold} ({strategy}); score = P(bona fide) of the largest face; {found}")
    print(f"{'decision':9}  {'score':>6}  {'faces':>5}  {'kind':6}  path")
    for r in records:
        score = "" if r.get("score") is None else f"{r['score']:.3f}"
        decision = r.get("decision") or r["status"].upper()
        faces = len(r.get("faces", [])) if r["kind"] == "image" else len(r.get("tracks", []))
        extra = f" ({r['frames_decoded']} frames)" if "frames_decoded" in r else ""
        note = f": {r['message']}" if r.get("message") else ""
        print(f"{decision:9}  {score:>6}  {faces:>5}  {r['kind']:6}  {r['path']}{extra}{note}")


def summary_of(records: list[dict]) -> dict:
    failed = [r for r in records if r["status"] != "ok"]
    reasons: dict[str, int] = {}
    for r in failed:
        reasons[r["status"]] = reasons.get(r["status"], 0) + 1
    return {"inputs": len(records), "ok": len(records) - len(failed), "failed": len(failed), "reasons": reasons}


def run(args) -> int:
    import json
    import sys
    from pathlib import Path

    import facetrust
    from facetrust.errors import DataError

    if args.threshold is not None and not 0.0 <= args.threshold <= 1.0:
        print(f"facetrust predict: --threshold {args.threshold} is not a probability; give a value in 0..1",
              file=sys.stderr)
        return 2
    if not args.inputs and args.camera is None:
        print("facetrust predict: give images, videos or folders, or --camera N", file=sys.stderr)
        return 2
    for name in ("detect_every", "window"):
        if getattr(args, name) < 1:
            print(f"facetrust predict: --{name.replace('_', '-')} must be >= 1", file=sys.stderr)
            return 2
    inputs = expand_inputs(args.inputs)
    videos = [i for i in inputs if Path(i).suffix.lower() in VIDEO_EXTENSIONS] + ([None] if args.camera is not None else [])
    if args.annotate and len(videos) != 1:
        print(f"facetrust predict: --annotate needs exactly one video or --camera (got {len(videos)})", file=sys.stderr)
        return 2
    predictor = facetrust.load(args.checkpoint, device=args.device)

    def emit(line: dict) -> None:
        if args.json:
            print(json.dumps(line), flush=True)

    try:
        session = Session(predictor, args, emit)
    except DataError as err:
        print(f"facetrust predict: {err}", file=sys.stderr)
        return 2
    if session.threshold is None:
        print("warning: the checkpoint has no calibrated threshold; scores only (pass --threshold)", file=sys.stderr)
    records = []
    sources = [(item, item) for item in inputs] + ([(args.camera, f"camera {args.camera}")] if args.camera is not None else [])
    for source, name in sources:
        try:
            if isinstance(source, int) or Path(source).suffix.lower() in VIDEO_EXTENSIONS:
                record = session.stream(source, name)
            elif Path(source).is_dir():
                raise DataError(f"{source}: folder holds no image or video ({', '.join(IMAGE_EXTENSIONS)}, ...)")
            else:
                record = session.image(source)
        except (DataError, ValueError) as err:
            message = str(err)
            message = message[len(name) + 2:] if message.startswith(f"{name}: ") else message
            record = {"path": name, "kind": "error", "status": "error", "message": message}
        records.append(record)
    summary = summary_of(records)
    strategy = getattr(predictor, "config", {}).get("threshold_strategy")
    if args.json:
        emit({"type": "report", "checkpoint": str(args.checkpoint), "threshold": session.threshold,
              "threshold_strategy": strategy, "detector": None if args.crops or session.box else session.detector_name,
              "results": records, "summary": summary})
    else:
        _print_table(records, session.threshold, strategy, None if args.crops or session.box else session.detector_name)
    for r in records:
        if r["status"] != "ok":
            print(f"facetrust predict: {r['path']}: {r['status']}: {r.get('message', '')}", file=sys.stderr)
        for warning in r.get("warnings", []):
            print(f"warning: {r['path']}: {warning}", file=sys.stderr)
    print(f"{summary['inputs']} inputs: {summary['ok']} ok, {summary['failed']} failed"
          + (f" ({', '.join(f'{k} {v}' for k, v in summary['reasons'].items())})" if summary["failed"] else ""),
          file=sys.stderr)
    if summary["failed"] and (args.strict or summary["failed"] == summary["inputs"]):
        return 1
    return 0

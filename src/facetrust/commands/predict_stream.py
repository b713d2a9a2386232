"""Videos and cameras for ``facetrust predict``: frames -> ``FaceTracker`` -> JSON lines, annotated video, summary."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from facetrust.errors import DataError

COLOURS_BGR = {True: (60, 200, 60), False: (40, 40, 230), None: (0, 200, 230)}


class FixedBoxes:
    """A "detector" that returns the user's ``--box`` on every frame."""

    def __init__(self, box) -> None:
        self.box = box

    def detect(self, image) -> list:
        return [self.box]


def open_capture(source: int | str, name: str):
    """An opened ``cv2.VideoCapture`` for a camera index or a video file; DataError naming it otherwise."""
    import cv2

    if isinstance(source, int):
        quiet = getattr(getattr(cv2, "utils", None), "logging", None)
        level = quiet.getLogLevel() if quiet else None
        if quiet:
            quiet.setLogLevel(quiet.LOG_LEVEL_ERROR)  # our message below says it better than OpenCV's warnings
        try:
            capture = cv2.VideoCapture(source)
        finally:
            if quiet:
                quiet.setLogLevel(level)
        if not capture.isOpened():
            raise DataError(f"{name}: cannot be opened (no camera with index {source}, no permission, or it "
                            "is in use); list cameras with `v4l2-ctl --list-devices` or try --camera 0")
        return capture
    if not Path(source).is_file():
        raise DataError(f"{name}: file not found")
    capture = cv2.VideoCapture(str(source))
    if not capture.isOpened():
        raise DataError(f"{name}: OpenCV cannot open this video (corrupt, truncated, or a codec this OpenCV "
                        "build lacks; re-encode it, e.g. ffmpeg -i IN -c:v libx264 OUT.mp4)")
    return capture


def draw_tracks(frame_bgr, results) -> None:
    """Boxes, track ids, smoothed scores and decisions drawn on a BGR frame in place."""
    import cv2

    for r in results:
        box = r.face.box
        colour = COLOURS_BGR[r.decision] if not r.face.too_small else COLOURS_BGR[None]
        p0 = (int(round(box.x)), int(round(box.y)))
        p1 = (int(round(box.x + box.w)), int(round(box.y + box.h)))
        cv2.rectangle(frame_bgr, p0, p1, colour, 2)
        score = "" if r.smoothed_score is None else f" {r.smoothed_score:.2f}"
        text = f"#{r.track_id} {r.face.label if r.face.too_small else r.label}{score}"
        cv2.putText(frame_bgr, text, (p0[0], max(12, p0[1] - 6)), cv2.FONT_HERSHEY_SIMPLEX, 0.5, colour, 1,
                    cv2.LINE_AA)


def _writer(path: str, fps: float, size: tuple[int, int]):
    import cv2

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
    if not writer.isOpened():
        raise DataError(f"--annotate {path}: OpenCV cannot write an mp4v video there")
    return writer


def run_stream(session, source: int | str, name: str) -> dict[str, Any]:
    """Every frame of a video (or camera) through a ``FaceTracker``; the input's record."""
    import math
    import time

    import cv2

    from facetrust.faces.track import FaceTracker
    from facetrust.pipeline import check_box_inside

    args = session.args
    if args.crops:
        raise DataError(f"{name}: --crops applies to images of face crops, not to videos")
    detector = FixedBoxes(session.box) if session.box is not None else session.detector
    tracker = FaceTracker(session.predictor, detector, detect_every=args.detect_every, smoothing=args.smoothing,
                          alpha=args.alpha, window=args.window, band=args.band, threshold=session.threshold,
                          min_face=session.min_face)
    capture = open_capture(source, name)
    expected = 0 if isinstance(source, int) else int(capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
    fps = capture.get(cv2.CAP_PROP_FPS)
    fps = fps if fps and math.isfinite(fps) and 0 < fps < 1000 else 25.0
    writer, decoded, with_face = None, 0, 0
    try:
        while args.max_frames is None or decoded < args.max_frames:
            started = time.perf_counter()
            ok, frame = capture.read()
            if not ok or frame is None:
                break
            rgb = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
            tracker.timings.add("decode", started)
            if decoded == 0 and session.box is not None:
                check_box_inside(session.box, rgb.shape, name)
            results = tracker.update(rgb)
            with_face += bool(results)
            session.emit({"type": "frame", "path": name, "frame": decoded, "faces": [r.to_dict() for r in results]})
            if args.annotate:
                writer = writer or _writer(args.annotate, fps, (rgb.shape[1], rgb.shape[0]))
                draw_tracks(frame, results)
                writer.write(frame)
            decoded += 1
    except KeyboardInterrupt:  # a camera runs until Ctrl-C
        pass
    finally:
        capture.release()
        if writer is not None:
            writer.release()
    if decoded == 0:
        raise DataError(f"{name}: no frame could be decoded (empty or corrupt video, or the camera sent nothing)")
    tracks = tracker.summary()
    record: dict[str, Any] = {"path": name, "kind": "camera" if isinstance(source, int) else "video",
                              "frames_decoded": decoded, "frames_expected": expected or None,
                              "frames_with_face": with_face, "fps": round(fps, 3), "tracks": tracks,
                              "timings_ms": {k: round(v, 3) for k, v in tracker.timings.per_frame().items()},
                              "warnings": []}
    if args.annotate:
        record["annotated"] = str(args.annotate)
    wanted = min(expected, args.max_frames) if args.max_frames else expected
    if expected and decoded < wanted:
        record["warnings"].append(f"the video stopped after {decoded} of {expected} frames (truncated or corrupt)")
    main = tracks[0] if tracks else None
    record.update(score=None, decision=None)
    if decoded < args.min_frames:
        record.update(status="too few frames",
                      message=f"only {decoded} frame(s) decoded, under the minimum of {args.min_frames} for a "
                      "decision (--min-frames)")
        if main is not None:
            record["score"] = main["smoothed_score"]
    elif main is None:
        record.update(status="no face", message=f"no face in any of {decoded} frames")
    elif main["scored_frames"] == 0:
        record.update(status="face too small", message=f"faces found, all under {session.min_face:g} px")
    else:
        record.update(status="ok", score=main["smoothed_score"], decision=main["decision"], track_id=main["track_id"])
    return record

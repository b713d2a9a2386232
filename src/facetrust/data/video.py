"""Video preparation: sample frames, detect the face, crop with a margin, resize, save, write a manifest.

Sampling rules:

* ``flip``: frames 6 and 6 + floor(n / 2), FLIP's (and SSDG's) rule for MSU/CASIA/Replay/OULU;
* ``uniform:N``: N frames equally spaced from the first to the last;
* ``all``: every frame.

When no face is found in a frame the policy is explicit (``skip`` the frame, ``centre`` crop, or
reuse the ``previous`` frame's box, falling back to skip when there is none); each use is counted.
The largest face of a frame is kept, as ``facetrust.pipeline`` scores the largest face first.
A video that cannot be opened or decoded is recorded in the summary and the others go on.

How the crops were made is written beside the manifest, ``manifest.csv.crop.json`` (the crop config
of ``facetrust.faces.crop``: detector, method, margin, size); training reads it with
``read_crop_record`` and stores it in the checkpoint's ``config.json`` under ``"crop"``, so that
``predict`` crops new faces exactly as the training crops were made.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from facetrust.errors import DataError

VIDEO_EXTENSIONS = (".avi", ".mp4", ".mov", ".mkv", ".m4v", ".webm", ".wmv", ".mpg", ".mpeg", ".3gp")
NO_FACE_POLICIES = ("skip", "centre", "previous")
CROP_SUFFIX = ".crop.json"
# What to do about a video that cannot be read, printed after the list of such videos.
UNREADABLE_VIDEO_HINT = ("check that each plays (ffprobe FILE), then re-encode it (ffmpeg -i FILE -c:v libx264 "
                         "FIXED.mp4) or remove it from the input")


def crop_record_path(manifest: str | os.PathLike) -> Path:
    """The sidecar that records how a manifest's crops were made: ``<manifest>.crop.json``."""
    return Path(f"{manifest}{CROP_SUFFIX}")


def read_crop_record(manifest: str | os.PathLike | None) -> dict | None:
    """The crop config recorded beside ``manifest`` by ``prepare-videos``, or None when there is none."""
    if manifest is None or not crop_record_path(manifest).is_file():
        return None
    path = crop_record_path(manifest)
    try:
        crop = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise DataError(f"{path}: cannot read the crop record ({err}); delete it or re-run prepare-videos") from err
    from facetrust.faces.crop import validate_crop

    return validate_crop(crop, str(path))


def _crop(image: np.ndarray, box, crop: dict) -> np.ndarray:
    """The face crop of the model's crop config (one 3-channel crop here)."""
    from facetrust.faces.crop import crop_for_model

    return crop_for_model(image, box, crop)


def _relative_path(domain: str, video_id: str, index: int) -> str:
    """``<domain>/<video_id>_f<index>.png``, the domain not repeated when the video id starts with it."""
    parts = [p for p in str(video_id).replace("\\", "/").split("/") if p not in ("", ".", "..")]
    if not parts or parts[0] != str(domain):
        parts = [str(domain), *parts]
    return "/".join(parts) + f"_f{index}.png"


def frame_indices(n_frames: int, rule: str) -> list[int]:
    """Indices of the frames to keep from a video of ``n_frames`` frames under a sampling rule."""
    if n_frames <= 0:
        return []
    if rule == "flip":
        first = min(6, n_frames - 1)
        second = min(6 + n_frames // 2, n_frames - 1)
        return sorted({first, second})
    if rule == "all":
        return list(range(n_frames))
    if rule.startswith("uniform:"):
        try:
            count = int(rule.split(":", 1)[1])
        except ValueError as err:
            raise DataError(f"sampling rule {rule!r}: N must be an integer, e.g. uniform:10") from err
        if count < 1:
            raise DataError(f"sampling rule {rule!r}: N must be >= 1")
        return sorted({int(round(i)) for i in np.linspace(0, n_frames - 1, min(count, n_frames))})
    raise DataError(f"unknown sampling rule {rule!r}; use flip, all or uniform:N")


def open_video(path: str | os.PathLike):
    """An open ``cv2.VideoCapture``, or a DataError naming the file and why it cannot be read.

    FFmpeg's own log lines about a file it cannot parse ("moov atom not found") are silenced for this
    process (``OPENCV_FFMPEG_LOGLEVEL=-8``, unless the user set it): the failure is reported here, with
    the file's name and what to do. Set ``OPENCV_FFMPEG_LOGLEVEL=16`` to see FFmpeg's errors again.
    """
    import cv2

    if not Path(path).is_file():
        raise DataError(f"{path}: video file not found")
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # read once, when OpenCV first starts FFmpeg
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        raise DataError(f"{path}: cannot open the video (corrupt, truncated or an unsupported codec)")
    return capture


def count_frames(path: Path) -> int:
    """Number of decodable frames, counted by grabbing them (container headers are often wrong)."""
    capture = open_video(path)
    n = 0
    while capture.grab():
        n += 1
    capture.release()
    return n


def read_frames(path: str | os.PathLike, indices: list[int]) -> dict[int, np.ndarray]:
    """Decode the frames at ``indices`` as uint8 RGB; missing ones are simply absent from the result."""
    import cv2

    wanted, out = set(indices), {}
    capture = open_video(path)
    index = 0
    last = max(wanted) if wanted else -1
    while index <= last and capture.grab():
        if index in wanted:
            ok, frame = capture.retrieve()
            if ok and frame is not None:
                out[index] = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
        index += 1
    capture.release()
    return out


@dataclass
class PrepareSummary:
    """What ``prepare_videos`` did: counts, per-policy no-face events, and failed videos with reasons."""

    videos_ok: int = 0
    frames_written: int = 0
    faces_found: int = 0
    no_face: dict[str, int] = field(default_factory=lambda: {p: 0 for p in NO_FACE_POLICIES})
    failed: list[dict[str, str]] = field(default_factory=list)
    splits: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"videos_ok": self.videos_ok, "videos_failed": len(self.failed), "frames_written": self.frames_written,
                "faces_found": self.faces_found, "no_face": self.no_face, "splits": self.splits,
                "failed": self.failed}

    def failure_lines(self, limit: int | None = None) -> list[str]:
        """One readable line per failed video, ``<video>: <reason>`` (the first ``limit``, then a count)."""
        shown = self.failed if limit is None else self.failed[:limit]
        lines = [f"{f['video']}: {f['reason']}" for f in shown]
        if len(shown) < len(self.failed):
            lines.append(f"... and {len(self.failed) - len(shown)} more")
        return lines


def _failure(video_path: Path, err: DataError) -> dict[str, str]:
    """The summary's record of a video that could not be read: the file, and why (without the path again)."""
    reason = str(err)
    prefix = f"{video_path}: "
    return {"video": str(video_path), "reason": reason[len(prefix):] if reason.startswith(prefix) else reason}


def prepare_videos(
    videos: pd.DataFrame,
    out_dir: str | os.PathLike,
    sampling: str = "flip",
    detector: str | None = "cascade",
    size: int = 224,
    margin: float = 0.2,
    no_face: str = "centre",
    detector_kwargs: dict | None = None,
    split: str | None = None,
) -> tuple[Path, PrepareSummary]:
    """Frames -> face crops for every video row; returns (manifest path, summary).

    ``videos`` has the manifest columns with ``abs_path`` (or ``path``) pointing at video files;
    ``detector=None`` keeps whole frames (centre square). Crops go to
    ``out_dir/<video_id>_f<frame>.png`` (video ids start with the domain; one is prepended when not);
    ``manifest.csv``, its crop record ``manifest.csv.crop.json`` and ``summary.json`` beside them.
    Each row keeps its video's split, or gets ``split`` when given (e.g. ``test`` for an evaluation set).
    """
    from facetrust.data.io import write_image
    from facetrust.data.manifest import REQUIRED_COLUMNS, SPLITS, write_manifest
    from facetrust.pipeline import create_detector

    if no_face not in NO_FACE_POLICIES:
        raise DataError(f"unknown no-face policy {no_face!r}; use one of {NO_FACE_POLICIES}")
    if split is not None and split not in SPLITS:
        raise DataError(f"unknown split {split!r}; use one of {SPLITS}")
    frame_indices(100, sampling)  # validate the rule before any work
    crop = {"detector": detector, "crops": [{"method": "margin", "margin": float(margin), "size": [size, size]}],
            "source": "prepare-videos", "no_face": no_face}
    finder = create_detector(detector, **(detector_kwargs or {})) if detector else None
    out_dir = Path(out_dir)
    summary, rows = PrepareSummary(), []
    paths = videos["abs_path"] if "abs_path" in videos.columns else videos["path"]
    for (_, row), video_path in zip(videos.iterrows(), paths, strict=True):
        video_path = Path(video_path)
        try:
            frames = read_frames(video_path, frame_indices(count_frames(video_path), sampling))
            if not frames:
                raise DataError(f"{video_path}: the video opens but no frame decodes (empty or truncated)")
        except DataError as err:
            summary.failed.append(_failure(video_path, err))
            continue
        previous, written = None, 0
        for index, frame in sorted(frames.items()):
            box = None
            if finder is not None:
                boxes = finder.detect(frame)
                if boxes:
                    box = previous = max(boxes, key=lambda b: b.w * b.h)
                    summary.faces_found += 1
                else:
                    summary.no_face[no_face] += 1
                    if no_face == "skip" or (no_face == "previous" and previous is None):
                        continue
                    box = previous if no_face == "previous" else None
            rel = _relative_path(row["domain"], row["video_id"], index)
            write_image(out_dir / rel, _crop(frame, box, crop))
            record = {**{c: row[c] for c in REQUIRED_COLUMNS if c != "path"}, "path": rel, "frame": index}
            rows.append({**record, "split": split} if split else record)
            written += 1
        summary.frames_written += written
        summary.videos_ok += 1
    if not rows:
        if not summary.failed:
            raise DataError(f"prepare-videos: no frame written from {len(videos)} video(s) (every frame skipped "
                            f"for lack of a face: try --no-face centre or another --detector)")
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "summary.json").write_text(json.dumps(summary.to_dict(), indent=2))
        listed = "\n  ".join(summary.failure_lines(limit=10))
        raise DataError(f"prepare-videos: no frame written; {len(summary.failed)} of {len(videos)} video(s) could "
                        f"not be read (listed in {out_dir / 'summary.json'}):\n  {listed}\n{UNREADABLE_VIDEO_HINT}")
    table = pd.DataFrame(rows)
    summary.splits = {str(k): int(v) for k, v in table["split"].value_counts().sort_index().items()}
    manifest = write_manifest(table, out_dir / "manifest.csv")
    crop_record_path(manifest).write_text(json.dumps(crop, indent=2) + "\n")
    (out_dir / "summary.json").write_text(json.dumps(summary.to_dict(), indent=2))
    return manifest, summary

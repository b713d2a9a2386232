"""Video preparation: sample frames, detect the face, crop with a margin, resize, save, write a manifest.

Sampling rules:

* ``flip``: frames 6 and 6 + floor(n / 2), FLIP's (and SSDG's) rule for MSU/CASIA/Replay/OULU;
* ``uniform:N``: N frames equally spaced from the first to the last;
* ``all``: every frame.

When no face is found in a frame the policy is explicit (``skip`` the frame, ``centre`` crop, or
reuse the ``previous`` frame's box, falling back to skip when there is none); each use is counted.
A video that cannot be opened or decoded is recorded in the summary and the others go on.
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


def count_frames(path: Path) -> int:
    """Number of decodable frames, counted by grabbing them (container headers are often wrong)."""
    import cv2

    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        raise DataError(f"{path}: cannot open the video (missing, corrupt or unsupported codec)")
    n = 0
    while capture.grab():
        n += 1
    capture.release()
    return n


def read_frames(path: str | os.PathLike, indices: list[int]) -> dict[int, np.ndarray]:
    """Decode the frames at ``indices`` as uint8 RGB; missing ones are simply absent from the result."""
    import cv2

    wanted, out = set(indices), {}
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        raise DataError(f"{path}: cannot open the video (missing, corrupt or unsupported codec)")
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

    def to_dict(self) -> dict:
        return {"videos_ok": self.videos_ok, "videos_failed": len(self.failed), "frames_written": self.frames_written,
                "faces_found": self.faces_found, "no_face": self.no_face, "failed": self.failed}


def prepare_videos(
    videos: pd.DataFrame,
    out_dir: str | os.PathLike,
    sampling: str = "flip",
    detector: str | None = "cascade",
    size: int = 224,
    margin: float = 0.2,
    no_face: str = "centre",
    detector_kwargs: dict | None = None,
) -> tuple[Path, PrepareSummary]:
    """Frames -> face crops for every video row; returns (manifest path, summary).

    ``videos`` has the manifest columns with ``abs_path`` (or ``path``) pointing at video files;
    ``detector=None`` keeps whole frames (centre square). Crops go to
    ``out_dir/<domain>/<video_id>_f<frame>.png``; ``manifest.csv`` and ``summary.json`` beside them.
    """
    from facetrust.data.faces import create_detector, crop_face
    from facetrust.data.io import write_image
    from facetrust.data.manifest import REQUIRED_COLUMNS, write_manifest

    if no_face not in NO_FACE_POLICIES:
        raise DataError(f"unknown no-face policy {no_face!r}; use one of {NO_FACE_POLICIES}")
    frame_indices(100, sampling)  # validate the rule before any work
    finder = create_detector(detector, **(detector_kwargs or {})) if detector else None
    out_dir = Path(out_dir)
    summary, rows = PrepareSummary(), []
    paths = videos["abs_path"] if "abs_path" in videos.columns else videos["path"]
    for (_, row), video_path in zip(videos.iterrows(), paths, strict=True):
        video_path = Path(video_path)
        try:
            frames = read_frames(video_path, frame_indices(count_frames(video_path), sampling))
            if not frames:
                raise DataError(f"{video_path}: no decodable frame")
        except DataError as err:
            summary.failed.append({"video": str(video_path), "reason": str(err)})
            continue
        previous, written = None, 0
        for index, frame in sorted(frames.items()):
            box = None
            if finder is not None:
                boxes = finder.detect(frame)
                if boxes:
                    box, previous = boxes[0], boxes[0]
                    summary.faces_found += 1
                else:
                    summary.no_face[no_face] += 1
                    if no_face == "skip" or (no_face == "previous" and previous is None):
                        continue
                    box = previous if no_face == "previous" else None
            rel = f"{row['domain']}/{row['video_id']}_f{index}.png"
            write_image(out_dir / rel, crop_face(frame, box, size, margin))
            rows.append({**{c: row[c] for c in REQUIRED_COLUMNS if c != "path"}, "path": rel, "frame": index})
            written += 1
        summary.frames_written += written
        summary.videos_ok += 1
    if not rows:
        raise DataError(f"prepare-videos: no frame written; failures: {summary.failed[:3]}")
    manifest = write_manifest(pd.DataFrame(rows), out_dir / "manifest.csv")
    (out_dir / "summary.json").write_text(json.dumps(summary.to_dict(), indent=2))
    return manifest, summary

"""``facetrust data prepare-videos`` with unreadable videos: a readable line per file and what to do on the
terminal, the structured record in summary.json, the other videos prepared."""

import json
import subprocess
import sys

import cv2
import numpy as np
import pandas as pd

from facetrust.cli import main
from facetrust.data.video import UNREADABLE_VIDEO_HINT, prepare_videos

CANNOT_OPEN = "cannot open the video (corrupt, truncated or an unsupported codec)"


def _good_video(path, fourcc="MJPG"):
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), 10, (40, 30))
    for i in range(12):
        writer.write(np.full((30, 40, 3), 20 * i, np.uint8))
    writer.release()
    return path


def _garbage(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 4)  # an mp4 header, then noise
    return path


def _truncated(path):
    data = _good_video(path, "mp4v").read_bytes()
    path.write_bytes(data[: len(data) // 3])  # the index (moov atom) is at the end: cut off
    return path


def test_corrupt_videos_are_listed_readably_and_recorded(tmp_path, capsys):
    _good_video(tmp_path / "videos" / "cam" / "live" / "good.avi")
    bad = _garbage(tmp_path / "videos" / "cam" / "spoof" / "print" / "bad.mp4")
    cut = _truncated(tmp_path / "videos" / "cam" / "spoof" / "print" / "cut.mp4")
    out = tmp_path / "out"
    assert main(["data", "prepare-videos", str(tmp_path / "videos"), str(out), "--detector", "none",
                 "--size", "16"]) == 0
    err = capsys.readouterr().err
    lines = err.splitlines()
    assert f"warning: skipped 2 of 3 video(s) that could not be read (listed in {out / 'summary.json'}); " \
           "the others were prepared:" in lines
    assert f"  {bad}: {CANNOT_OPEN}" in lines and f"  {cut}: {CANNOT_OPEN}" in lines
    assert f"  {UNREADABLE_VIDEO_HINT}" in lines and "re-encode" in UNREADABLE_VIDEO_HINT
    assert "{'" not in err and "'reason'" not in err  # no Python dict on the terminal
    summary = json.loads((out / "summary.json").read_text())
    assert summary["videos_ok"] == 1 and summary["frames_written"] == 2
    assert sorted(summary["failed"], key=lambda f: f["video"]) == [
        {"video": str(bad), "reason": CANNOT_OPEN}, {"video": str(cut), "reason": CANNOT_OPEN}]


def test_every_video_unreadable_is_an_error_listing_them(tmp_path, capsys):
    bad = _garbage(tmp_path / "videos" / "cam" / "live" / "bad.mp4")
    out = tmp_path / "out"
    assert main(["data", "prepare-videos", str(tmp_path / "videos"), str(out), "--detector", "none"]) == 2
    err = capsys.readouterr().err
    assert f"prepare-videos: no frame written; 1 of 1 video(s) could not be read (listed in {out / 'summary.json'})" in err
    assert f"  {bad}: {CANNOT_OPEN}\n" in err and UNREADABLE_VIDEO_HINT in err
    assert "{'" not in err and "Traceback" not in err
    assert json.loads((out / "summary.json").read_text())["failed"] == [{"video": str(bad), "reason": CANNOT_OPEN}]


def test_missing_and_frameless_videos_say_so(tmp_path):
    good = _good_video(tmp_path / "good.avi")
    empty = tmp_path / "empty.avi"
    writer = cv2.VideoWriter(str(empty), cv2.VideoWriter_fourcc(*"MJPG"), 10, (40, 30))
    writer.release()  # a container with no frame
    base = {"label": 1, "domain": "d", "split": "train", "subject_id": "s", "attack_type": "none"}
    videos = pd.DataFrame([{**base, "path": str(p), "video_id": p.stem}
                           for p in (tmp_path / "gone.mp4", empty, good)])
    _, summary = prepare_videos(videos, tmp_path / "out", detector=None, size=16)
    reasons = {f["video"]: f["reason"] for f in summary.failed}
    assert reasons[str(tmp_path / "gone.mp4")] == "video file not found"
    assert reasons[str(empty)] in (CANNOT_OPEN, "the video opens but no frame decodes (empty or truncated)")
    assert summary.videos_ok == 1
    assert summary.failure_lines(limit=1) == [f"{tmp_path / 'gone.mp4'}: video file not found", "... and 1 more"]


def test_ffmpeg_noise_is_not_printed(tmp_path):
    """FFmpeg's own 'moov atom not found' is silenced (its own process: FFmpeg reads the level once)."""
    _good_video(tmp_path / "videos" / "cam" / "live" / "good.avi")
    bad = _garbage(tmp_path / "videos" / "cam" / "live" / "bad.mp4")
    run = subprocess.run([sys.executable, "-m", "facetrust.cli", "data", "prepare-videos", str(tmp_path / "videos"),
                          str(tmp_path / "out"), "--detector", "none", "--size", "16"],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert f"  {bad}: {CANNOT_OPEN}" in run.stderr.splitlines()
    assert "moov atom" not in run.stderr and "[mov," not in run.stderr

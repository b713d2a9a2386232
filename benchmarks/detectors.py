"""Which face detector should predict and serve use by default? Detection and time per frame.

For each detector (mtcnn, blazeface, cascade; dlib when installed; yunet with --yunet-model):

* real photos: the three shared phone photos (``../shared/real/silent-face``, upright; found = the best
  box has IoU >= 0.5 with the MTCNN box recorded in reference.json) and scikit-image's astronaut
  (found = the best box's centre inside columns 180-270, rows 65-160, width 60-160 px, as the tests);
* fas-sim frames (``make_fas_sim``, face-filling crops of ``--size`` px, every domain, live and attack):
  found = the best box's centre in the central half of the frame and its width >= 1/4 of the frame;
  a printed or replayed face is still a face, so attacks count too (reported apart);
* face size: the astronaut scaled so that her face is 200, 160, ..., 24 px wide in a grey 640x480
  frame; the smallest width found with every larger one found too;
* time: median and 90th-percentile milliseconds per 640x480 frame (the astronaut letterboxed onto a
  grey 640x480 canvas) after warm-up, with 1 and 2 threads (OpenCV and PyTorch), and on a 640x480 frame
  with no face.

    .venv/bin/python benchmarks/detectors.py [--subjects 12 --frames 2 --size 128] [--repeats 50]
        [--threads 1,2] [--detectors mtcnn,blazeface,cascade,dlib] [--yunet-model FILE] [--json OUT]

Prints a markdown table; run it on a quiet machine (the load average is printed with it).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np

SILENT_FACE = Path(__file__).resolve().parents[1] / ".." / "shared" / "real" / "silent-face"


def real_photos() -> list[tuple[str, np.ndarray, object]]:
    """[(name, upright image, check(box) -> bool)]: the shared photos when present, and the astronaut."""
    import skimage.data

    from facetrust.data.io import read_image
    from facetrust.faces import Box, box_iou

    def astronaut_check(box) -> bool:
        cx, cy = box.x + box.w / 2, box.y + box.h / 2
        return 180 < cx < 270 and 65 < cy < 160 and 60 < box.w < 160

    photos = [("astronaut", skimage.data.astronaut(), astronaut_check)]
    reference = SILENT_FACE / "reference.json"
    if reference.is_file():
        for name, info in json.loads(reference.read_text())["images"].items():
            expected = Box(*info["face_box_xywh"])
            photos.append((name, read_image(SILENT_FACE / name), lambda box, e=expected: box_iou(box, e) >= 0.5))
    return photos


def fas_sim_frames(subjects: int, frames: int, size: int, seed: int) -> list[tuple[np.ndarray, int]]:
    """[(image, label)] of a freshly generated fas-sim (1 live and 1 attack video per species and subject)."""
    from facetrust.data import make_fas_sim, read_image, read_manifest

    with tempfile.TemporaryDirectory(prefix="fas-sim-detectors-") as tmp:
        df = read_manifest(make_fas_sim(tmp, seed=seed, image_size=size, subjects_per_domain=subjects,
                                        live_videos=1, attack_videos=1, frames_per_video=frames))
        return [(read_image(p), int(label)) for p, label in zip(df["abs_path"], df["label"], strict=True)]


def centred_face(box, size: int) -> bool:
    cx, cy = box.x + box.w / 2, box.y + box.h / 2
    return abs(cx - size / 2) < size / 4 and abs(cy - size / 2) < size / 4 and box.w >= size / 4


def frame_640x480(with_face: bool) -> np.ndarray:
    import cv2
    import skimage.data

    frame = np.full((480, 640, 3), 118, np.uint8)
    if with_face:
        frame[:, 80:560] = cv2.resize(skimage.data.astronaut(), (480, 480), interpolation=cv2.INTER_AREA)
    else:
        frame[:] = np.random.default_rng(0).integers(60, 200, frame.shape, dtype=np.uint8)  # texture, no face
    return frame


FACE_WIDTHS = (200, 160, 128, 112, 96, 80, 64, 48, 32, 24)  # astronaut face widths in a 640x480 frame
ASTRONAUT_FACE_WIDTH = 90  # pixels, in the 512 x 512 photo (MTCNN's box is 87 wide)
ASTRONAUT_FACE_CENTRE = (224, 117)  # (x, y) in the 512 x 512 photo


def face_in_frame(face_width: int) -> tuple[np.ndarray, tuple[float, float]]:
    """The astronaut scaled so that her face is ``face_width`` px wide, the face centred in a grey
    640x480 frame; returns the frame and the face centre (320, 240)."""
    import cv2
    import skimage.data

    side = round(512 * face_width / ASTRONAUT_FACE_WIDTH)
    scale = side / 512
    photo = cv2.resize(skimage.data.astronaut(), (side, side), interpolation=cv2.INTER_AREA)
    x0, y0 = round(320 - ASTRONAUT_FACE_CENTRE[0] * scale), round(240 - ASTRONAUT_FACE_CENTRE[1] * scale)
    # an affine paste: the frame pixel (x, y) shows photo pixel (x - x0, y - y0), grey outside the photo
    shift = np.array([[1.0, 0.0, x0], [0.0, 1.0, y0]])
    frame = cv2.warpAffine(photo, shift, (640, 480), borderMode=cv2.BORDER_CONSTANT, borderValue=(118, 118, 118))
    return frame, (320.0, 240.0)


def smallest_face_found(detector) -> int | None:
    """The smallest face width (of FACE_WIDTHS) found, with every larger one found too; None if none."""
    smallest = None
    for width in FACE_WIDTHS:
        frame, (cx, cy) = face_in_frame(width)
        boxes = detector.detect(frame)
        hit = any(abs(b.x + b.w / 2 - cx) < width / 2 and abs(b.y + b.h / 2 - cy) < width / 2 for b in boxes)
        if not hit:
            break
        smallest = width
    return smallest


def time_ms(detector, frame: np.ndarray, repeats: int) -> tuple[float, float]:
    for _ in range(3):
        detector.detect(frame)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        detector.detect(frame)
        times.append((time.perf_counter() - start) * 1000)
    return float(np.median(times)), float(np.percentile(times, 90))


def set_threads(n: int) -> None:
    import cv2
    import torch

    cv2.setNumThreads(n)
    torch.set_num_threads(n)


def measure(name: str, kwargs: dict, photos, sim, threads: list[int], repeats: int) -> dict:
    from facetrust.faces import create_detector

    set_threads(threads[0])
    detector = create_detector(name, **kwargs)
    row = {"detector": name, "photos": {}}
    for photo, image, check in photos:
        boxes = detector.detect(image)
        row["photos"][photo] = bool(boxes) and bool(check(boxes[0]))
    for label, key in ((1, "sim_live"), (0, "sim_attack")):
        images = [image for image, y in sim if y == label]
        hits = []
        for image in images:
            boxes = detector.detect(image)
            hits.append(bool(boxes) and centred_face(boxes[0], image.shape[1]))
        row[key] = (sum(hits), len(hits))
    row["smallest_face"] = smallest_face_found(detector)
    row["landmarks"] = bool(detector.detect(photos[0][1])) and detector.detect(photos[0][1])[0].landmarks is not None
    face, empty = frame_640x480(True), frame_640x480(False)
    for n in threads:
        set_threads(n)
        row[f"ms_{n}t"] = time_ms(detector, face, repeats)
    set_threads(threads[0])
    row["ms_noface_1t"] = time_ms(detector, empty, repeats)
    return row


def table(rows: list[dict], threads: list[int]) -> str:
    photos = list(rows[0]["photos"])
    head = (["detector"] + photos + ["fas-sim live", "fas-sim attack", "smallest face in 640x480", "landmarks"]
            + [f"ms/frame {n} thread{'s' if n > 1 else ''} (median / p90)" for n in threads]
            + ["ms no-face frame, 1 thread"])
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [r["detector"]] + ["found" if r["photos"][p] else "missed" for p in photos]
        cells += [f"{r[k][0]}/{r[k][1]} ({100 * r[k][0] / max(1, r[k][1]):.0f}%)" for k in ("sim_live", "sim_attack")]
        cells += [f"{r['smallest_face']} px" if r["smallest_face"] else f"none >= {FACE_WIDTHS[-1]} px"]
        cells += ["5 points" if r["landmarks"] else "none"]
        cells += ["{:.1f} / {:.1f}".format(*r[f"ms_{n}t"]) for n in threads]
        cells += ["{:.1f}".format(r["ms_noface_1t"][0])]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--detectors", default="mtcnn,blazeface,cascade,dlib")
    parser.add_argument("--yunet-model", default=None, help="also time yunet with this ONNX file")
    parser.add_argument("--subjects", type=int, default=12, help="fas-sim subjects per domain (default 12)")
    parser.add_argument("--frames", type=int, default=2, help="fas-sim frames per video (default 2)")
    parser.add_argument("--size", type=int, default=128, help="fas-sim image side (default 128)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=50, help="timed calls per frame (default 50)")
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--json", default=None, help="also write the rows here")
    args = parser.parse_args()

    threads = [int(t) for t in args.threads.split(",")]
    names = [n for n in args.detectors.split(",") if n]
    if args.yunet_model:
        names.append("yunet")
    photos = real_photos()
    sim = fas_sim_frames(args.subjects, args.frames, args.size, args.seed)
    rows = []
    for name in names:
        if name == "dlib":
            try:
                import dlib  # noqa: F401
            except ImportError:
                print("dlib: not installed (pip install 'facetrust[dlib]'), skipped")
                continue
        kwargs = {"model": args.yunet_model} if name == "yunet" else {}
        rows.append(measure(name, kwargs, photos, sim, threads, args.repeats))
    load = ", ".join(f"{v:.2f}" for v in os.getloadavg())
    print(f"fas-sim: {len(sim)} frames of {args.size} px ({args.subjects} subjects per domain, seed {args.seed}); "
          f"{args.repeats} timed calls; load average {load}; {os.cpu_count()} CPUs")
    print(table(rows, threads))
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()

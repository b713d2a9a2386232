"""Regenerate tests/faces/data/mediapipe_blazeface_reference.json with MediaPipe itself (not a test).

MediaPipe is not a facetrust dependency; run this in a separate environment that has it::

    python3.11 -m venv /tmp/mpenv && /tmp/mpenv/bin/pip install mediapipe==0.10.21
    .venv/bin/python tests/faces/make_mediapipe_reference.py dump /tmp/mpin     # upright inputs (.npy)
    /tmp/mpenv/bin/python tests/faces/make_mediapipe_reference.py run /tmp/mpin > tests/faces/data/mediapipe_blazeface_reference.json

Inputs: scikit-image's astronaut and the three shared photos upright (``read_image``). MediaPipe's
legacy face detection solution, short-range model (``model_selection=0``), minimum confidence 0.5;
boxes and keypoints converted to pixels.
"""

import glob
import json
import os
import sys

import numpy as np


def dump(folder: str) -> None:
    import skimage.data

    from facetrust.data.io import read_image

    os.makedirs(folder, exist_ok=True)
    np.save(os.path.join(folder, "astronaut.npy"), skimage.data.astronaut())
    real = os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared", "real", "silent-face")
    for name in ("image_T1", "image_F1", "image_F2"):
        np.save(os.path.join(folder, name + ".npy"), read_image(os.path.join(real, name + ".jpg")))


def run(folder: str) -> None:
    import mediapipe as mp

    out = {"source": f"mediapipe {mp.__version__} solutions.face_detection, model_selection=0, "
                     "min_detection_confidence=0.5, upright RGB input", "images": {}}
    with mp.solutions.face_detection.FaceDetection(model_selection=0, min_detection_confidence=0.5) as detector:
        for path in sorted(glob.glob(os.path.join(folder, "*.npy"))):
            image = np.load(path)
            h, w = image.shape[:2]
            faces = []
            for found in detector.process(image).detections or []:
                box = found.location_data.relative_bounding_box
                faces.append({"score": found.score[0],
                              "box_xywh": [box.xmin * w, box.ymin * h, box.width * w, box.height * h],
                              "keypoints": [[k.x * w, k.y * h] for k in found.location_data.relative_keypoints]})
            out["images"][os.path.basename(path)[:-4]] = faces
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    {"dump": dump, "run": run}[sys.argv[1]](sys.argv[2])

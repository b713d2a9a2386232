"""``dlib-resnet``: dlib's ResNet face recogniser (128-d; dlib reports 99.38 % on LFW), offline.

Run by ``dlib-bin``; the model files come from the PyPI package ``face-recognition-models==0.3.0``,
located with ``importlib.util.find_spec`` without importing it (its ``__init__`` needs
pkg_resources). Files used, both released into the public domain by their author Davis King
(dlib-models; the package's LICENSE is CC0 1.0):

* ``dlib_face_recognition_resnet_model_v1.dat`` - the ResNet (27 conv layers, ResNet-34-like);
* ``shape_predictor_5_face_landmarks.dat`` - the 5-point landmark model used for dlib's alignment
  (trained on dlib's own CC0 5-point data set).

The 68-point predictor in the same package (trained on iBUG 300-W, whose licence excludes commercial
use) is not used. Faces are found by dlib's HOG detector, aligned to a 150x150 chip with dlib's 5
points (``get_face_chip``, padding 0.25) and embedded with the flip rule shared by every embedder.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

from facetrust.checkpoint import file_sha256
from facetrust.errors import CheckpointError
from facetrust.face.embedder import DLIB_RESNET, Embedder, normalise

RECOGNITION_FILE = "dlib_face_recognition_resnet_model_v1.dat"
SHAPE_FILE = "shape_predictor_5_face_landmarks.dat"
# dlib's documented rule: same person when the Euclidean distance of two raw descriptors is < 0.6.
# The raw descriptors have norm about 1.4 (measured 1.33-1.46 on astronaut() and the three
# ../shared/real/silent-face photos), so on normalised embeddings the rule is about
# cosine >= 1 - (0.6 / 1.4)**2 / 2 = 0.908.
DESCRIPTOR_NORM = 1.4
DLIB_THRESHOLD = 1.0 - (0.6 / DESCRIPTOR_NORM) ** 2 / 2.0
CHIP_SIZE = 150


def model_dir() -> Path:
    """The ``models`` folder of the installed face_recognition_models package (not imported)."""
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise CheckpointError("dlib-resnet needs the model files of face-recognition-models: "
                              "pip install 'face-recognition-models==0.3.0' (or make install)")
    folder = Path(list(spec.submodule_search_locations)[0]) / "models"
    for name in (RECOGNITION_FILE, SHAPE_FILE):
        if not (folder / name).is_file():
            raise CheckpointError(f"{folder / name} is missing; reinstall face-recognition-models==0.3.0")
    return folder


class DlibResnetEmbedder(Embedder):
    name = DLIB_RESNET
    threshold = DLIB_THRESHOLD
    threshold_strategy = "dlib's documented Euclidean distance 0.6 on its descriptors"
    size = CHIP_SIZE
    detector_name = "dlib"

    def __init__(self, upsample: int = 1) -> None:
        try:
            import dlib
        except ImportError as err:
            raise CheckpointError("dlib-resnet needs dlib: pip install 'dlib-bin==20.0.1.post1' (or make install)") from err
        folder = model_dir()
        self.dlib, self.upsample = dlib, upsample
        self.recogniser = dlib.face_recognition_model_v1(str(folder / RECOGNITION_FILE))
        self.shape_predictor = dlib.shape_predictor(str(folder / SHAPE_FILE))
        self.hog = dlib.get_frontal_face_detector()
        self.model_hash = file_sha256(folder / RECOGNITION_FILE)
        self._rects: dict[int, object] = {}

    def detect(self, image: np.ndarray) -> list:
        from facetrust.data.faces import Box

        rects, scores, _ = self.hog.run(np.ascontiguousarray(image), self.upsample, 0.0)
        boxes = []
        for rect, score in zip(rects, scores, strict=True):
            box = Box(float(rect.left()), float(rect.top()), float(rect.width()), float(rect.height()), float(score))
            self._rects[id(box)] = rect
            boxes.append(box)
        return sorted(boxes, key=lambda b: -b.score)

    def align(self, image: np.ndarray, box) -> np.ndarray:
        """dlib's own alignment: its 5 landmarks inside the box -> a 150x150 chip."""
        dlib = self.dlib
        rect = self._rects.pop(id(box), None) or dlib.rectangle(
            int(box.x), int(box.y), int(box.x + box.w), int(box.y + box.h))
        image = np.ascontiguousarray(image)
        shape = self.shape_predictor(image, rect)
        return np.asarray(dlib.get_face_chip(image, shape, size=CHIP_SIZE, padding=0.25))

    def embed_aligned(self, faces: list[np.ndarray], batch_size: int = 64) -> np.ndarray:
        """Faces given as crops: chips (150x150 from ``align``) are embedded as they are; other crops
        are first aligned with dlib's 5 points found inside the whole crop."""
        import cv2

        chips = []
        for face in faces:
            face = np.ascontiguousarray(face)
            if face.shape[:2] != (CHIP_SIZE, CHIP_SIZE):
                if min(face.shape[:2]) < 80:  # tiny crops: the landmark model needs some pixels
                    face = cv2.resize(face, (CHIP_SIZE, CHIP_SIZE), interpolation=cv2.INTER_CUBIC)
                h, w = face.shape[:2]
                shape = self.shape_predictor(face, self.dlib.rectangle(0, 0, w - 1, h - 1))
                face = np.asarray(self.dlib.get_face_chip(face, shape, size=CHIP_SIZE, padding=0.25))
            chips.append(face)
        if not chips:
            return np.empty((0, 128), np.float32)
        out = []
        for start in range(0, len(chips), batch_size):
            batch = chips[start : start + batch_size]
            flipped = [np.ascontiguousarray(c[:, ::-1]) for c in batch]
            plain = np.asarray(self.recogniser.compute_face_descriptor(batch))  # dlib batches the network
            mirror = np.asarray(self.recogniser.compute_face_descriptor(flipped))
            out.append(plain + mirror)
        return normalise(np.concatenate(out))

"""MediaPipe's BlazeFace short-range face detector (Bazarevsky et al. 2019, "BlazeFace: Sub-millisecond
Neural Face Detection on Mobile GPUs"), run by OpenCV's own TFLite importer: no mediapipe runtime.

The model (``face_detection_short_range.tflite``, 230 KB, Apache-2.0) is taken once from the
``mediapipe==0.10.21`` wheel by ``facetrust models fetch blazeface`` (see ``facetrust.faces.fetch``);
at run time only that cached file, or a path the user gives, is read.

What the graph does, from MediaPipe's ``face_detection_short_range`` options:

* input: the image letterboxed (aspect kept, centred, black outside, bilinear) to 128 x 128 RGB in [-1, 1];
* outputs ``regressors`` (1, 896, 16) and ``classificators`` (1, 896, 1), one row per SSD anchor;
* anchors (``ssd_anchors_calculator``): 4 layers, strides 8, 16, 16, 16, aspect ratio 1 plus one
  interpolated anchor per layer, fixed anchor size, offset 0.5: a 16 x 16 grid with 2 anchors per
  cell and an 8 x 8 grid with 6 (layers of equal stride share one grid), 896 in all, centres
  ``((col + 0.5) / grid, (row + 0.5) / grid)``;
* decoding (``tensors_to_detections``): row = x, y, w, h, then 6 keypoints (x, y), all in 128-pixel
  units relative to the anchor centre; score = sigmoid(clip(logit, -100, 100)), kept at >= 0.5;
* weighted non-maximum suppression at IoU 0.3: each kept face is the score-weighted mean of the boxes
  and keypoints it suppresses, with the best score.

Checked against MediaPipe 0.10.21's own face detection (tests/faces): same boxes, keypoints and scores
to 0.01 px. Short range means a face close to the camera: in a 640x480 frame it found the astronaut's
face from about 80 px wide up, MTCNN from 24 px (benchmarks/detectors.py). The full-range model in the
same wheel is a sparse TFLite graph (DENSIFY op) that OpenCV 5.0 cannot import.

The 6 keypoints are the right eye, left eye (the person's), nose tip, mouth centre, right and left
ear tragion. They map to the 5-point contract as: the two eyes (sorted by x), the nose tip, and two
mouth corners estimated from the mouth centre as centre -/+ 0.414 x the eye-to-eye vector (0.414 is
half the mouth width over the eye distance in the ArcFace 5-point template), kept inside the box. The
ears are dropped.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from facetrust.errors import DataError
from facetrust.faces.detectors import Box, five_landmarks

INPUT_SIZE = 128
STRIDES = (8, 16, 16, 16)
MOUTH_HALF_WIDTH = 0.414  # ArcFace template: (70.73 - 41.55) / 2 / (73.53 - 38.29)


def ssd_anchors(input_size: int = INPUT_SIZE, strides: tuple[int, ...] = STRIDES) -> np.ndarray:
    """Anchor centres (N, 2) as (x, y) in [0, 1], in the model's output order (fixed anchor size: w = h = 1).

    Consecutive layers with the same stride share one grid; each layer adds 2 anchors per cell (aspect
    ratio 1 and the interpolated one), so stride 8 gives 2 per cell and the three stride-16 layers 6.
    """
    centres = []
    layer = 0
    while layer < len(strides):
        last = layer
        while last < len(strides) and strides[last] == strides[layer]:
            last += 1
        per_cell = 2 * (last - layer)
        grid = int(np.ceil(input_size / strides[layer]))
        rows, cols = np.meshgrid(np.arange(grid), np.arange(grid), indexing="ij")
        cell = np.stack([(cols + 0.5) / grid, (rows + 0.5) / grid], axis=-1).reshape(-1, 1, 2)
        centres.append(np.repeat(cell, per_cell, axis=1).reshape(-1, 2))
        layer = last
    return np.concatenate(centres).astype(np.float64)


def decode(regressors: np.ndarray, logits: np.ndarray, anchors: np.ndarray,
           min_score: float = 0.5) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Raw outputs -> (boxes (K, 4) as x1, y1, x2, y2, keypoints (K, 6, 2), scores (K,)), normalised to [0, 1].

    ``regressors`` (896, 16), ``logits`` (896,) or (896, 1), ``anchors`` (896, 2); only rows scoring
    at least ``min_score`` are returned.
    """
    regressors = np.asarray(regressors, dtype=np.float64).reshape(len(anchors), -1)
    scores = 1.0 / (1.0 + np.exp(-np.clip(np.asarray(logits, dtype=np.float64).reshape(-1), -100.0, 100.0)))
    keep = scores >= min_score
    raw, centre, scores = regressors[keep] / INPUT_SIZE, anchors[keep], scores[keep]
    xy = raw[:, 0:2] + centre
    half = raw[:, 2:4] / 2
    boxes = np.concatenate([xy - half, xy + half], axis=1)
    keypoints = raw[:, 4:16].reshape(-1, 6, 2) + centre[:, None, :]
    return boxes, keypoints, scores


def _iou_matrix(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    ix = np.clip(np.minimum(box[2], boxes[:, 2]) - np.maximum(box[0], boxes[:, 0]), 0, None)
    iy = np.clip(np.minimum(box[3], boxes[:, 3]) - np.maximum(box[1], boxes[:, 1]), 0, None)
    inter = ix * iy
    area = lambda b: (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])  # noqa: E731
    return inter / (area(box) + area(boxes) - inter + 1e-12)


def weighted_nms(boxes: np.ndarray, keypoints: np.ndarray, scores: np.ndarray,
                 iou_threshold: float = 0.3) -> list[tuple[np.ndarray, np.ndarray, float]]:
    """MediaPipe's weighted NMS: the best remaining box absorbs every box overlapping it above
    ``iou_threshold`` (itself included); the result is their score-weighted mean, with the best score."""
    order = np.argsort(-scores, kind="stable")
    boxes, keypoints, scores = boxes[order], keypoints[order], scores[order]
    kept = []
    remaining = np.arange(len(scores))
    while len(remaining):
        overlap = _iou_matrix(boxes[remaining[0]], boxes[remaining]) > iou_threshold
        group = remaining[overlap]
        weights = scores[group][:, None]
        box = (boxes[group] * weights).sum(0) / weights.sum()
        points = (keypoints[group] * weights[:, :, None]).sum(0) / weights.sum()
        kept.append((box, points, float(scores[remaining[0]])))
        remaining = remaining[~overlap]
    return kept


def contract_landmarks(keypoints: np.ndarray) -> np.ndarray:
    """BlazeFace's 6 keypoints (6, 2) -> the 5-point contract (5, 2): eyes, nose, 2 estimated mouth corners."""
    eyes = keypoints[np.argsort(keypoints[:2, 0])]
    mouth, half = keypoints[3], MOUTH_HALF_WIDTH * (eyes[1] - eyes[0])
    return np.stack([eyes[0], eyes[1], keypoints[2], mouth - half, mouth + half])


class BlazeFaceDetector:
    """BlazeFace short range through ``cv2.dnn.readNetFromTFLite``; the model file from the cache or ``model``."""

    def __init__(self, model: str | os.PathLike | None = None, min_score: float = 0.5,
                 iou_threshold: float = 0.3) -> None:
        import cv2

        from facetrust.faces.fetch import model_path

        path = Path(model) if model is not None else model_path("blazeface")
        if not path.is_file():
            raise DataError(f"face detector 'blazeface': model file {path} not found; "
                            "run `facetrust models fetch blazeface` or pass model=PATH")
        try:
            # The classic engine: OpenCV 5's new engine drops the 'classificators' output of this graph.
            self.net = cv2.dnn.readNetFromTFLite(str(path), cv2.dnn.ENGINE_CLASSIC)
        except cv2.error as err:
            raise DataError(f"face detector 'blazeface': OpenCV cannot read {path} as TFLite ({err})") from err
        self.min_score, self.iou_threshold = min_score, iou_threshold
        self.anchors = ssd_anchors()

    def raw_outputs(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray, float, tuple[float, float]]:
        """Letterbox ``image`` to 128 x 128 and run the net: (regressors (896, 16), logits (896,), scale, offset).

        As MediaPipe's ImageToTensor does: the centred square of the longer side is warped (bilinear)
        onto 128 x 128, black outside the image, then scaled to [-1, 1]; a model pixel p is image
        pixel (p - offset) / scale.
        """
        import cv2

        h, w = image.shape[:2]
        scale = INPUT_SIZE / max(h, w)
        offset = (INPUT_SIZE / 2 - w / 2 * scale, INPUT_SIZE / 2 - h / 2 * scale)
        warp = np.array([[scale, 0.0, offset[0]], [0.0, scale, offset[1]]])
        tensor = cv2.warpAffine(image, warp, (INPUT_SIZE, INPUT_SIZE), flags=cv2.INTER_LINEAR,
                                borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0))
        tensor = tensor.astype(np.float32) / 127.5 - 1.0
        self.net.setInput(np.ascontiguousarray(tensor.transpose(2, 0, 1)[None]))  # NCHW, RGB
        outputs = self.net.forward(["regressors", "classificators"])
        regressors = next(o for o in outputs if o.shape[-1] == 16).reshape(-1, 16)
        logits = next(o for o in outputs if o.shape[-1] == 1).reshape(-1)
        return regressors, logits, scale, offset

    def detect(self, image: np.ndarray) -> list[Box]:
        """Faces in an RGB uint8 image (H, W, 3), best score first, with 5 landmarks each."""
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise DataError(f"blazeface expects an RGB uint8 image (H, W, 3); got {image.dtype} {image.shape}")
        regressors, logits, scale, (off_x, off_y) = self.raw_outputs(image)
        boxes, keypoints, scores = decode(regressors, logits, self.anchors, self.min_score)
        found = []
        for box, points, score in weighted_nms(boxes, keypoints, scores, self.iou_threshold):
            x1, y1, x2, y2 = (box * INPUT_SIZE - (off_x, off_y, off_x, off_y)) / scale
            landmarks = contract_landmarks((points * INPUT_SIZE - (off_x, off_y)) / scale)
            landmarks[3:] = np.clip(landmarks[3:], (x1, y1), (x2, y2))  # estimated corners stay in the box
            found.append(Box(float(x1), float(y1), float(x2 - x1), float(y2 - y1), score, five_landmarks(landmarks)))
        return found

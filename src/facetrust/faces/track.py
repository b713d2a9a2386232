"""Faces followed over the frames of a video or a camera: a track per face, smoothed score, hysteresis.

``FaceTracker.update(frame_rgb)`` runs the per-image pipeline (``facetrust.pipeline.analyze_image``)
on each frame and returns one ``TrackResult`` per face seen in that frame:

* detection every ``detect_every`` frames; in between, each track's box is followed by normalised
  cross-correlation of its last face patch in a search window around it (OpenCV ``matchTemplate``),
  and a track whose best match falls under ``match_min`` is lost for that frame;
* detections are associated with tracks greedily by IoU (highest first, at least ``iou``); an
  unmatched detection starts a new track (ids 0, 1, 2, ... in order of appearance); a track unseen
  for more than ``max_missed`` frames is dropped;
* the score of each track is smoothed: ``ema`` (s_t = alpha * x_t + (1 - alpha) * s_{t-1}, s_0 = x_0)
  or ``window`` (mean of the last ``window`` scores); a face too small to score leaves it unchanged;
* the decision has hysteresis: accepted once the smoothed score is >= ``hi``, rejected once it is
  < ``lo``, unchanged in between (``None``, "undecided", until the first crossing). By default
  ``hi``/``lo`` are the checkpoint's threshold +/- ``band`` (0.05); ``band=0`` is the plain threshold.
"""

from __future__ import annotations

import dataclasses
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from facetrust.errors import ConfigError
from facetrust.pipeline import MIN_FACE, FaceResult, StageTimes, analyze_image, decision_label

SMOOTHING = ("ema", "window")


def iou(a, b) -> float:
    """Intersection over union of two (x, y, w, h) boxes."""
    ix = max(0.0, min(a.x + a.w, b.x + b.w) - max(a.x, b.x))
    iy = max(0.0, min(a.y + a.h, b.y + b.h) - max(a.y, b.y))
    inter = ix * iy
    union = a.w * a.h + b.w * b.h - inter
    return float(inter / union) if union > 0 else 0.0


class ScoreSmoother:
    """EMA or moving-window mean of a stream of scores."""

    def __init__(self, method: str = "ema", alpha: float = 0.5, window: int = 5) -> None:
        if method not in SMOOTHING:
            raise ConfigError(f"unknown smoothing {method!r}; use one of {SMOOTHING}")
        if not 0.0 < alpha <= 1.0:
            raise ConfigError(f"smoothing alpha must be in (0, 1], got {alpha}")
        if window < 1:
            raise ConfigError(f"smoothing window must be >= 1, got {window}")
        self.method, self.alpha = method, alpha
        self.values: deque[float] = deque(maxlen=window)
        self.value: float | None = None

    def update(self, score: float) -> float:
        if self.method == "ema":
            self.value = score if self.value is None else self.alpha * score + (1.0 - self.alpha) * self.value
        else:
            self.values.append(score)
            self.value = float(np.mean(self.values))
        return self.value


class Hysteresis:
    """A decision that flips to accepted at >= ``hi`` and to rejected at < ``lo`` (``lo <= hi``)."""

    def __init__(self, lo: float, hi: float) -> None:
        if lo > hi:
            raise ConfigError(f"hysteresis needs lo <= hi, got lo={lo} hi={hi}")
        self.lo, self.hi = lo, hi
        self.state: bool | None = None

    def update(self, score: float) -> bool | None:
        if score >= self.hi:
            self.state = True
        elif score < self.lo:
            self.state = False
        return self.state


@dataclass
class TrackResult:
    """One face in one frame: its track, this frame's ``FaceResult``, the smoothed score and decision."""

    track_id: int
    face: FaceResult
    smoothed_score: float | None
    decision: bool | None
    label: str
    detected: bool

    def to_dict(self) -> dict[str, Any]:
        return {"track_id": self.track_id, **self.face.to_dict(), "smoothed_score": self.smoothed_score,
                "track_decision": self.label, "detected": self.detected}


@dataclass
class _Track:
    track_id: int
    box: Any
    smoother: ScoreSmoother
    decision: Hysteresis | None
    template: np.ndarray | None = None
    missed: int = 0
    frames: int = 0
    scores: list[float] = field(default_factory=list)


def _moved(box, x: float, y: float):
    """``box`` moved to (x, y), landmarks shifted with it."""
    dx, dy = x - box.x, y - box.y
    changes: dict[str, Any] = {"x": x, "y": y}
    landmarks = getattr(box, "landmarks", None)
    if landmarks is not None:
        changes["landmarks"] = tuple((px + dx, py + dy) for px, py in landmarks)
    return dataclasses.replace(box, **changes)


class FaceTracker:
    """Detect, follow, score and decide faces frame after frame (see the module docstring)."""

    def __init__(self, predictor, detector=None, *, detect_every: int = 1, iou_min: float = 0.3,
                 smoothing: str = "ema", alpha: float = 0.5, window: int = 5, band: float = 0.05,
                 hi: float | None = None, lo: float | None = None, threshold: float | None = None,
                 max_missed: int = 5, match_min: float = 0.5, min_face: float = MIN_FACE,
                 timings: StageTimes | None = None) -> None:
        if detect_every < 1:
            raise ConfigError(f"detect_every must be >= 1, got {detect_every}")
        ScoreSmoother(smoothing, alpha, window)  # validate now, not at the first face
        self.predictor, self.detector = predictor, detector
        self.detect_every, self.iou_min, self.max_missed, self.match_min = detect_every, iou_min, max_missed, match_min
        self.smoothing, self.alpha, self.window, self.min_face = smoothing, alpha, window, min_face
        self.threshold = predictor.threshold if threshold is None else threshold
        t = self.threshold
        self.hi = hi if hi is not None else (None if t is None else min(1.0, t + band))
        self.lo = lo if lo is not None else (None if t is None else max(0.0, t - band))
        if (self.hi is None) != (self.lo is None):
            raise ConfigError("give both hi and lo (or a threshold) for the hysteresis decision")
        self.timings = timings if timings is not None else StageTimes()
        self.tracks: list[_Track] = []
        self.all_tracks: list[_Track] = []
        self.frame_index = -1
        self._next_id = 0
        self.task = getattr(predictor, "config", {}).get("task")

    def _new_track(self, box) -> _Track:
        decision = None if self.hi is None else Hysteresis(self.lo, self.hi)
        track = _Track(self._next_id, box, ScoreSmoother(self.smoothing, self.alpha, self.window), decision)
        self._next_id += 1
        self.tracks.append(track)
        self.all_tracks.append(track)
        return track

    def _associate(self, frame: np.ndarray) -> list[_Track]:
        """Detect, match detections to tracks by IoU; returns the tracks seen in this frame."""
        import time

        started = time.perf_counter()
        if self.detector is None:
            from facetrust.pipeline import create_detector, detector_name_for

            self.detector = create_detector(detector_name_for(self.predictor))
        boxes = list(self.detector.detect(frame))
        self.timings.add("detect", started)
        pairs = sorted(((iou(t.box, b), ti, bi) for ti, t in enumerate(self.tracks) for bi, b in enumerate(boxes)),
                       reverse=True)
        used_tracks, used_boxes, seen = set(), set(), []
        for overlap, ti, bi in pairs:
            if overlap < self.iou_min or ti in used_tracks or bi in used_boxes:
                continue
            used_tracks.add(ti)
            used_boxes.add(bi)
            self.tracks[ti].box = boxes[bi]
            seen.append(self.tracks[ti])
        for bi, box in enumerate(boxes):
            if bi not in used_boxes:
                seen.append(self._new_track(box))
        return seen

    def _follow(self, frame: np.ndarray) -> list[_Track]:
        """Move each track seen in the previous frame to the best template match around it."""
        import time

        import cv2

        started = time.perf_counter()
        gray = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
        h, w = gray.shape
        seen = []
        for track in self.tracks:
            if track.missed or track.template is None:
                continue
            th, tw = track.template.shape
            pad_x, pad_y = max(4, tw // 2), max(4, th // 2)
            x0, y0 = max(0, int(round(track.box.x)) - pad_x), max(0, int(round(track.box.y)) - pad_y)
            x1, y1 = min(w, int(round(track.box.x)) + tw + pad_x), min(h, int(round(track.box.y)) + th + pad_y)
            if x1 - x0 < tw or y1 - y0 < th:
                continue
            match = cv2.matchTemplate(gray[y0:y1, x0:x1], track.template, cv2.TM_CCOEFF_NORMED)
            _, best, _, (bx, by) = cv2.minMaxLoc(match)
            if best < self.match_min:
                continue
            shift_x, shift_y = x0 + bx - int(round(track.box.x)), y0 + by - int(round(track.box.y))
            track.box = _moved(track.box, track.box.x + shift_x, track.box.y + shift_y)
            seen.append(track)
        self.timings.add("detect", started)
        return seen

    @staticmethod
    def _template(gray: np.ndarray, box) -> np.ndarray | None:
        h, w = gray.shape
        x0, y0 = max(0, int(round(box.x))), max(0, int(round(box.y)))
        x1, y1 = min(w, int(round(box.x + box.w))), min(h, int(round(box.y + box.h)))
        if x1 - x0 < 4 or y1 - y0 < 4:
            return None
        return gray[y0:y1, x0:x1].copy()

    def update(self, frame_rgb: np.ndarray) -> list[TrackResult]:
        """Process the next frame; one ``TrackResult`` per face in it, largest first."""
        import cv2

        self.frame_index += 1
        detect = self.frame_index % self.detect_every == 0
        seen = self._associate(frame_rgb) if detect else self._follow(frame_rgb)
        seen_ids = {t.track_id for t in seen}
        for track in self.tracks:
            track.missed = 0 if track.track_id in seen_ids else track.missed + 1
        self.tracks = [t for t in self.tracks if t.missed <= self.max_missed]
        by_box = {id(t.box): t for t in seen}
        faces = analyze_image(self.predictor, frame_rgb, boxes=[t.box for t in seen], min_face=self.min_face,
                              threshold=self.threshold, timings=self.timings)
        gray = cv2.cvtColor(frame_rgb, cv2.COLOR_RGB2GRAY)
        out = []
        for face in faces:
            track = by_box[id(face.box)]
            track.frames += 1
            track.template = self._template(gray, track.box)
            if face.score is not None:
                track.scores.append(face.score)
                track.smoother.update(face.score)
                if track.decision is not None:
                    track.decision.update(track.smoother.value)
            state = None if track.decision is None else track.decision.state
            label = "undecided" if state is None else decision_label(self.task, state)
            out.append(TrackResult(track.track_id, face, track.smoother.value, state, label, detect))
        return out

    def summary(self) -> list[dict[str, Any]]:
        """Every track so far, longest first: frames seen, mean and last smoothed score, last decision."""
        rows = []
        for t in sorted(self.all_tracks, key=lambda t: (-t.frames, t.track_id)):
            state = None if t.decision is None else t.decision.state
            rows.append({"track_id": t.track_id, "frames": t.frames, "scored_frames": len(t.scores),
                         "mean_score": float(np.mean(t.scores)) if t.scores else None,
                         "smoothed_score": t.smoother.value, "decision_value": state,
                         "decision": "undecided" if state is None else decision_label(self.task, state)})
        return rows

"""The service's one path through the library: bytes -> upright image -> faces -> scores -> response.

A thin adapter over ``facetrust.data.io.decode_image`` (EXIF-upright decoding),
``facetrust.pipeline.analyze_image`` (faces, the checkpoint's crop, scores, decisions) and
``facetrust.faces.track.FaceTracker`` (the camera stream). Every method here is blocking and runs in
the service's thread pool; detectors are created once per worker thread (OpenCV DNN nets are not
safe to share between threads).
"""

from __future__ import annotations

import threading
import time
from typing import Any

import numpy as np

from facetrust.serve.heatmap import ExplainError, explain_face
from facetrust.serve.models import ClaimsModel, FaceModel, Gallery, TrustModel


def decode(data: bytes, source: str, max_pixels: int | None = None) -> np.ndarray:
    """Upright RGB uint8 image from encoded bytes; ``DataError`` naming the problem otherwise."""
    from facetrust.data.io import DEFAULT_MAX_PIXELS, decode_image

    return decode_image(data, source, max_pixels=max_pixels or DEFAULT_MAX_PIXELS)


class Engine:
    """The loaded models and what the endpoints ask of them."""

    def __init__(self, fas: TrustModel, deepfake: TrustModel | None = None, face: FaceModel | None = None,
                 gallery: Gallery | None = None, claims: ClaimsModel | None = None,
                 detector: str | None = None, max_pixels: int | None = None) -> None:
        from facetrust.pipeline import default_detector_name

        self.fas, self.deepfake, self.face, self.gallery, self.claims = fas, deepfake, face, gallery, claims
        self.max_pixels = max_pixels  # the decoder's own limit, behind the service's header check
        recorded = (fas.config.get("crop") or {}).get("detector")
        self.detector_name = detector or recorded or default_detector_name()
        self._local = threading.local()
        self.detector()  # fail at start, not at the first request, when the detector cannot be built

    def detector(self):
        """This thread's face detector."""
        if getattr(self._local, "detector", None) is None:
            from facetrust.pipeline import create_detector

            self._local.detector = create_detector(self.detector_name)
        return self._local.detector

    # -- /v1/analyze ---------------------------------------------------------------------------
    def analyze(self, data: bytes, source: str, explain: str | None = None) -> dict[str, Any]:
        """Faces with live score and decision, deepfake score, identity and heatmap when available."""
        from facetrust.pipeline import analyze_image

        timings: dict[str, float] = {}
        started = time.perf_counter()
        image = decode(data, source, self.max_pixels)
        timings["decode_ms"] = _ms(started)
        t = time.perf_counter()
        boxes = list(self.detector().detect(image))
        timings["detect_ms"] = _ms(t)
        t = time.perf_counter()
        faces = analyze_image(self.fas.predictor, image, boxes=boxes)
        timings["fas_ms"] = _ms(t)
        records = [self._record(self.fas, face) for face in faces]
        if self.deepfake is not None:
            t = time.perf_counter()
            for record, face in zip(records, analyze_image(self.deepfake.predictor, image, boxes=[f.box for f in faces]),
                                    strict=True):
                record["deepfake"] = _trust_part(self.deepfake, face)
            timings["deepfake_ms"] = _ms(t)
        if self.face is not None and self.gallery is not None:
            t = time.perf_counter()
            for record, face in zip(records, faces, strict=True):
                name, similarity = self.gallery.identify(self.face.embed(image, face.box))
                record["identity"] = {"name": name or "unknown", "known": name is not None,
                                      "similarity": float(similarity), "threshold": float(self.face.threshold)}
            timings["identity_ms"] = _ms(t)
        if explain:
            t = time.perf_counter()
            for record, face in zip(records, faces, strict=True):
                if face.score is not None:
                    record["heatmap"] = explain_face(self.fas.explainable, image, face.box, face.decision, explain)
            timings["explain_ms"] = _ms(t)
        timings["total_ms"] = _ms(started)
        return {"image": {"width": int(image.shape[1]), "height": int(image.shape[0])},
                "detector": self.detector_name, "faces": records, "timings_ms": timings}

    @staticmethod
    def _record(model: TrustModel, face) -> dict[str, Any]:
        record = face.to_dict()
        record["threshold_strategy"] = model.config.get("threshold_strategy")
        return record

    # -- /v1/verify ----------------------------------------------------------------------------
    def verify(self, data_a: bytes, data_b: bytes) -> dict[str, Any]:
        """Same person? The largest face of each picture, cosine similarity against the model's threshold."""
        from facetrust.errors import DataError
        from facetrust.pipeline import analyze_image

        assert self.face is not None
        started = time.perf_counter()
        embeddings, faces = [], []
        for name, data in (("file_a", data_a), ("file_b", data_b)):
            image = decode(data, name, self.max_pixels)
            found = analyze_image(self.fas.predictor, image, boxes=list(self.detector().detect(image)))
            if not found:
                raise DataError(f"{name}: no face found in the picture; send a picture with a visible face")
            embeddings.append(np.asarray(self.face.embed(image, found[0].box), dtype=np.float64))
            faces.append(self._record(self.fas, found[0]))
        a, b = (e / (np.linalg.norm(e) + 1e-12) for e in embeddings)
        similarity = float(a @ b)
        return {"same": bool(similarity >= self.face.threshold), "similarity": similarity,
                "threshold": float(self.face.threshold), "model": self.face.name, "faces": faces,
                "timings_ms": {"total_ms": _ms(started)}}

    # -- /v1/claims ----------------------------------------------------------------------------
    def verify_claims(self, data: bytes, claims: list[str]) -> dict[str, Any]:
        assert self.claims is not None
        started = time.perf_counter()
        image = decode(data, "file", self.max_pixels)
        results = self.claims.verify(image, claims)
        return {"claims": results, "model": self.claims.name, "timings_ms": {"total_ms": _ms(started)}}

    # -- WS /v1/stream -------------------------------------------------------------------------
    def new_tracker(self):
        """A tracker for one camera stream (its own detector: a stream is processed one frame at a time)."""
        from facetrust.faces.track import FaceTracker
        from facetrust.pipeline import create_detector

        return FaceTracker(self.fas.predictor, create_detector(self.detector_name))

    def stream_frame(self, tracker, data: bytes, index: int) -> dict[str, Any]:
        started = time.perf_counter()
        image = decode(data, f"frame {index}", self.max_pixels)
        tracks = [self._track_record(track) for track in tracker.update(image)]
        return {"frame": index, "image": {"width": int(image.shape[1]), "height": int(image.shape[0])},
                "tracks": tracks, "timings_ms": {"total_ms": _ms(started)}}

    def _track_record(self, track) -> dict[str, Any]:
        record = track.to_dict()
        record["threshold_strategy"] = self.fas.config.get("threshold_strategy")
        return record

    def describe(self) -> dict[str, Any]:
        models: dict[str, Any] = {"fas": self.fas.describe(), "detector": self.detector_name}
        if self.deepfake is not None:
            models["deepfake"] = self.deepfake.describe()
        if self.face is not None:
            models["face"] = {"name": self.face.name, "threshold": float(self.face.threshold),
                              "gallery_size": None if self.gallery is None else len(self.gallery)}
        if self.claims is not None:
            models["claims"] = {"name": self.claims.name}
        return models


def _trust_part(model: TrustModel, face) -> dict[str, Any]:
    record = face.to_dict()
    return {"score": record["score"], "decision": record["decision"], "threshold": record["threshold"],
            "threshold_strategy": model.config.get("threshold_strategy")}


def _ms(started: float) -> float:
    return round(1000.0 * (time.perf_counter() - started), 3)


__all__ = ["Engine", "ExplainError", "decode"]

"""The imported Silent-Face MiniFASNet pair served over HTTP (real weights, real photos, MTCNN)."""

from __future__ import annotations

import json

import pytest

from tests.serve.conftest import REAL

pytest.importorskip("fastapi")
WEIGHTS = sorted((REAL / "weights").glob("*.pth")) if (REAL / "weights").is_dir() else []


@pytest.mark.slow
@pytest.mark.skipif(len(WEIGHTS) != 2, reason=f"the Silent-Face weights are not in {REAL / 'weights'}")
def test_minifasnet_decides_the_shared_photos(tmp_path):
    """live for image_T1, spoof for the printed photo and the replay, as the original code decides."""
    from fastapi.testclient import TestClient

    from facetrust.checkpoint import save
    from facetrust.models.minifasnet import from_released_weights
    from facetrust.serve.app import create_app
    from facetrust.serve.engine import Engine
    from facetrust.serve.models import load_trust_model

    checkpoint = save(from_released_weights([str(w) for w in WEIGHTS]), tmp_path / "minifasnet")
    engine = Engine(load_trust_model(checkpoint, "fas"))  # the detector the checkpoint records (mtcnn)
    reference = json.loads((REAL / "reference.json").read_text())
    assert engine.detector_name == "mtcnn"
    with TestClient(create_app(engine)) as c:
        for name, expected in (("image_T1", "live"), ("image_F1", "spoof"), ("image_F2", "spoof")):
            faces = c.post("/v1/analyze", content=(REAL / f"{name}.jpg").read_bytes()).json()["faces"]
            assert len(faces) == 1 and faces[0]["decision"] == expected, (name, faces)
            assert faces[0]["box"] == pytest.approx(reference_box(reference, name), abs=1.0)


def reference_box(reference: dict, name: str) -> list[float]:
    """The MTCNN box reference.json records (the original code's integer [x, y, w, h])."""
    return reference["images"][f"{name}.jpg"]["face_box_xywh"]

"""/v1/verify, identities in /v1/analyze, /v1/claims and the deepfake part, with models loaded.

The face and claims models here are small local test doubles that implement the service's
interfaces (``FaceModel.embed``, ``Gallery.identify``, ``ClaimsModel.verify``), so the HTTP side is
checked against numbers computed independently in the test.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402

from facetrust.serve.app import create_app  # noqa: E402
from facetrust.serve.engine import Engine  # noqa: E402
from facetrust.serve.models import load_trust_model  # noqa: E402
from tests.serve.conftest import DETECTOR, encode  # noqa: E402


class MeanColourEmbedder:
    """Embedding = mean RGB of the box's pixels plus a constant, L2-normalised (deterministic)."""

    name = "mean-colour-double"
    threshold = 0.99

    def embed(self, image, box):
        x, y, w, h = (int(round(v)) for v in (box.x, box.y, box.w, box.h))
        vector = np.append(image[y : y + h, x : x + w].reshape(-1, 3).mean(axis=0), 64.0)
        return vector / np.linalg.norm(vector)


class ListGallery:
    def __init__(self, names, embeddings, threshold):
        self.names, self.embeddings, self.threshold = names, np.asarray(embeddings), threshold

    def identify(self, embedding):
        similarities = self.embeddings @ embedding
        best = int(np.argmax(similarities))
        return (self.names[best] if similarities[best] >= self.threshold else None), float(similarities[best])

    def __len__(self):
        return len(self.names)


class KeywordClaims:
    """Supports a claim when it names one of the words given at construction."""

    name = "keyword-double"

    def __init__(self, words):
        self.words = words

    def verify(self, image, claims):
        return [{"text": c, "decision": "supported" if any(w in c for w in self.words) else "unsupported",
                 "image_size": list(image.shape[:2])} for c in claims]


def embedding_of(image: np.ndarray) -> np.ndarray:
    from facetrust.pipeline import create_detector

    box = sorted(create_detector(DETECTOR).detect(image), key=lambda b: -b.w * b.h)[0]
    return MeanColourEmbedder().embed(image, box)


@pytest.fixture(scope="module")
def loaded(checkpoint, astronaut):
    fas = load_trust_model(checkpoint, "fas")
    deepfake = load_trust_model(checkpoint, "deepfake")
    gallery = ListGallery(["eileen", "someone else"], [embedding_of(astronaut), np.eye(4)[0]], threshold=0.99)
    engine = Engine(fas, deepfake, MeanColourEmbedder(), gallery, KeywordClaims(["astronaut"]), detector=DETECTOR)
    with TestClient(create_app(engine)) as c:
        yield c


def test_verify_same_and_different(loaded, astronaut):
    other = np.ascontiguousarray(astronaut[:, :, ::-1])  # same face for the detector, other colours
    png = lambda image: encode(image, ".png")  # lossless: the service sees exactly these pixels  # noqa: E731
    same = loaded.post("/v1/verify", files={"file_a": png(astronaut), "file_b": png(astronaut[:, ::-1].copy())})
    assert same.status_code == 200, same.text
    a, b = embedding_of(astronaut), embedding_of(astronaut[:, ::-1].copy())
    assert same.json()["similarity"] == pytest.approx(float(a @ b), abs=1e-6)
    assert same.json()["same"] is True and same.json()["threshold"] == 0.99
    different = loaded.post("/v1/verify", files={"file_a": png(astronaut), "file_b": png(other)}).json()
    assert different["similarity"] == pytest.approx(float(a @ embedding_of(other)), abs=1e-6)
    assert different["similarity"] < 0.99 and different["same"] is False
    faceless = loaded.post("/v1/verify", files={"file_a": encode(astronaut),
                                                "file_b": encode(np.zeros((64, 64, 3), np.uint8))})
    assert faceless.status_code == 422 and "file_b: no face" in faceless.json()["detail"]
    raw = loaded.post("/v1/verify", content=encode(astronaut))
    assert raw.status_code == 422 and "file_a and file_b" in raw.json()["detail"]


def test_analyze_identity_and_deepfake(loaded, astronaut):
    face = loaded.post("/v1/analyze", content=encode(astronaut, ".png")).json()["faces"][0]
    assert face["identity"]["name"] == "eileen" and face["identity"]["known"] is True
    assert face["identity"]["similarity"] == pytest.approx(1.0, abs=1e-6)
    # the same checkpoint serves as the deepfake model here: the same score, the deepfake task's words
    assert face["deepfake"]["score"] == pytest.approx(face["score"], abs=1e-6)
    assert face["deepfake"]["decision"] in ("live", "spoof", "real", "fake")
    models = loaded.get("/v1/models").json()
    assert models["endpoints"] == {"verify": True, "claims": True, "deepfake": True}
    assert models["models"]["face"] == {"name": "mean-colour-double", "threshold": 0.99, "gallery_size": 2}


def test_claims(loaded, astronaut):
    response = loaded.post("/v1/claims", files={"file": encode(astronaut)},
                           data={"claims": ["an astronaut in a suit", "a cat on a sofa"]})
    assert response.status_code == 200, response.text
    claims = response.json()["claims"]
    assert [c["decision"] for c in claims] == ["supported", "unsupported"]
    assert claims[0]["image_size"] == list(astronaut.shape[:2])
    as_json = loaded.post("/v1/claims", files={"file": encode(astronaut)}, data={"claims": '["one astronaut", "two"]'})
    assert [c["text"] for c in as_json.json()["claims"]] == ["one astronaut", "two"]
    none = loaded.post("/v1/claims", files={"file": encode(astronaut)}, data={"claims": "  "})
    assert none.status_code == 422 and "no claims" in none.json()["detail"]


@pytest.mark.slow
def test_real_face_model_dlib_resnet(checkpoint, astronaut, tmp_path):
    """--face dlib-resnet --gallery DIR: the service agrees with facetrust.face's own verify and identify."""
    pytest.importorskip("dlib")
    from facetrust.data.io import write_image
    from facetrust.face.embedder import load_embedder
    from facetrust.face.ops import enroll, verify
    from facetrust.serve.models import load_face_model

    flipped = np.ascontiguousarray(astronaut[:, ::-1])
    paths = [tmp_path / "a.png", tmp_path / "b.png"]
    for path, image in zip(paths, (astronaut, flipped), strict=True):
        write_image(path, image)
    reference = load_embedder("dlib-resnet", DETECTOR)
    enroll(tmp_path / "gallery", "eileen", [str(paths[0])], reference)
    expected = verify(str(paths[0]), str(paths[1]), reference)
    face, gallery = load_face_model("dlib-resnet", tmp_path / "gallery")
    engine = Engine(load_trust_model(checkpoint, "fas"), face=face, gallery=gallery, detector=DETECTOR)
    with TestClient(create_app(engine)) as c:
        got = c.post("/v1/verify", files={"file_a": paths[0].read_bytes(), "file_b": paths[1].read_bytes()}).json()
        identity = c.post("/v1/analyze", content=paths[1].read_bytes()).json()["faces"][0]["identity"]
    # the service embeds the boxes of its own detector; facetrust.face's verify finds them with dlib's HOG
    from facetrust.pipeline import create_detector

    chips = [reference.align(image, sorted(create_detector(DETECTOR).detect(image), key=lambda b: -b.w * b.h)[0])
             for image in (astronaut, flipped)]
    a, b = reference.embed_aligned(chips).astype(np.float64)
    assert got["same"] is expected["same"] is True
    assert got["similarity"] == pytest.approx(float(a @ b), abs=1e-5)
    assert abs(got["similarity"] - expected["similarity"]) < 0.01  # same face, boxes from another detector
    assert got["threshold"] == pytest.approx(expected["threshold"])
    assert identity["name"] == "eileen" and identity["known"] is True  # enrolled from dlib's box of the other view
    assert identity["similarity"] >= identity["threshold"] and abs(identity["similarity"] - float(a @ b)) < 0.01


@pytest.mark.slow
def test_real_claims_model_clip_tiny(checkpoint, astronaut):
    """--clip clip-tiny (random weights): the service returns exactly what facetrust.claims computes."""
    import warnings

    from facetrust.serve.models import load_claims_model

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # random weights: a floor, said by the loader
        claims = load_claims_model("clip-tiny")
    engine = Engine(load_trust_model(checkpoint, "fas"), claims=claims, detector=DETECTOR)
    texts = ["a woman in a space suit", "a cat on a sofa"]
    with TestClient(create_app(engine)) as c:
        response = c.post("/v1/claims", files={"file": encode(astronaut, ".png")}, data={"claims": texts})
    assert response.status_code == 200, response.text
    got = response.json()["claims"]
    expected = claims.verify(astronaut, texts)
    assert [r["text"] for r in got] == texts
    for g, e in zip(got, expected, strict=True):
        assert g["p_supported"] == pytest.approx(e["p_supported"], abs=1e-6)
        assert g["clip_score"] == pytest.approx(e["clip_score"], abs=1e-6)
        assert g["decision"] == e["decision"]

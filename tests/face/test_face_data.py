"""Identity folders, LFW pairs files (incl. a bad line), face-id-sim, alignment, backbones."""

import numpy as np
import pytest
import torch

from facetrust.data.identity import import_identity_folders, read_pairs, write_pairs
from facetrust.errors import DataError


def _folders(tmp_path):
    import cv2

    for name, count in (("Ann_Lee", 3), ("Bo", 2), ("Solo_One", 1)):
        (tmp_path / name).mkdir()
        for i in range(1, count + 1):
            cv2.imwrite(str(tmp_path / name / f"{name}_{i:04d}.jpg"), np.full((8, 8, 3), 40 * i, np.uint8))
    return tmp_path


def test_identity_importer_reports_singletons(tmp_path):
    result = import_identity_folders(_folders(tmp_path))
    assert len(result.manifest) == 6
    assert sorted(result.manifest["subject_id"].unique()) == ["Ann_Lee", "Bo", "Solo_One"]
    assert result.singletons == ["Solo_One"]
    assert "Solo_One" in result.report() and "one image" in result.report()


def test_pairs_round_trip_and_layout(tmp_path):
    folds = [([("Ann_Lee", 1, 3)], [("Ann_Lee", 2, "Bo", 1)]), ([("Bo", 1, 2)], [("Bo", 2, "Solo_One", 1)])]
    path = write_pairs(tmp_path / "pairs.txt", folds)
    assert path.read_text().splitlines()[0].split() == ["2", "1"]
    pairs = read_pairs(path, tmp_path / "lfw")
    assert [(p.same, p.fold) for p in pairs] == [(True, 0), (False, 0), (True, 1), (False, 1)]
    assert pairs[0].path_a.endswith("lfw/Ann_Lee/Ann_Lee_0001.jpg")
    assert pairs[0].path_b.endswith("lfw/Ann_Lee/Ann_Lee_0003.jpg")
    assert pairs[1].path_b.endswith("lfw/Bo/Bo_0001.jpg")


@pytest.mark.parametrize("lines,match", [
    (["1\t1", "Ann_Lee\t1\t2", "Ann_Lee\t1"], r"pairs.txt:3: expected 'name1 n1 name2 n2' \(a mismatched pair\)"),
    (["1\t2", "Ann_Lee\t1\t2", "Ann_Lee\tx\t2", "A\t1\tB\t1", "A\t2\tB\t2"], r"pairs.txt:3: 'x' is not an image number"),
    (["1\t2", "Ann_Lee\t1\t2", "Ann_Lee\t0\t2", "A\t1\tB\t1", "A\t2\tB\t2"], r"pairs.txt:3: image numbers are 1-based"),
    (["1\t1", "A\t1\tB\t2", "A\t1\tB\t2"], r"pairs.txt:2: expected 'name n1 n2' \(a matched pair\)"),
    (["ten\t300"], r"pairs.txt:1: first line"),
])
def test_bad_pairs_line_is_named(tmp_path, lines, match):
    (tmp_path / "pairs.txt").write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=match):
        read_pairs(tmp_path / "pairs.txt")


def test_pairs_count_mismatch(tmp_path):
    (tmp_path / "pairs.txt").write_text("10\t300\nA\t1\t2\n")
    with pytest.raises(DataError, match="announces 6000 pair lines, found 1"):
        read_pairs(tmp_path / "pairs.txt")


def test_face_id_sim_identities_disjoint(tmp_path):
    from facetrust.data import read_manifest
    from facetrust.data.sim.face_id_sim import make_face_id_sim

    manifest = make_face_id_sim(tmp_path, image_size=32, views=4, val_views=2, pairs_per_fold=3)
    df = read_manifest(manifest)
    train_ids = set(df[df.split != "test"].subject_id)
    test_pairs = read_pairs(tmp_path / "pairs.txt", tmp_path / "images")
    train_pairs = read_pairs(tmp_path / "train_pairs.txt", tmp_path / "images")
    test_ids = {p.split("/")[-2] for pair in test_pairs for p in (pair.path_a, pair.path_b)}
    assert test_ids and not test_ids & train_ids
    # fold identities are disjoint across folds, as in LFW View 2
    by_fold = [{p.path_a.split("/")[-2] for p in test_pairs if p.fold == f} for f in range(10)]
    assert all(not by_fold[i] & by_fold[j] for i in range(10) for j in range(i + 1, 10))
    val_views = {int(p[-8:-4]) for pair in train_pairs for p in (pair.path_a, pair.path_b)}
    assert val_views <= {1, 2}  # training-side pairs use held-out views only
    assert len(test_pairs) == 60 and sum(p.same for p in test_pairs) == 30
    again = make_face_id_sim(tmp_path / "again", image_size=32, views=4, val_views=2, pairs_per_fold=3)
    assert (tmp_path / "pairs.txt").read_text() == (again.parent / "pairs.txt").read_text()


def test_alignment_maps_landmarks_to_template():
    from facetrust.faces.align import ARCFACE_TEMPLATE_112, align_face, similarity_matrix

    # a known similarity: rotate 20 degrees, scale 2.5, shift; landmarks = template mapped by its inverse
    angle, scale = np.deg2rad(20), 2.5
    R = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    landmarks = ARCFACE_TEMPLATE_112 @ R.T + np.array([100.0, 60.0])
    matrix = similarity_matrix(landmarks, 112)
    mapped = landmarks @ matrix[:, :2].T + matrix[:, 2]
    np.testing.assert_allclose(mapped, ARCFACE_TEMPLATE_112, atol=1e-6)
    image = np.zeros((400, 400, 3), np.uint8)
    x, y = np.round(landmarks[0]).astype(int)
    image[y - 1 : y + 2, x - 1 : x + 2] = 255  # a bright left eye
    crop = align_face(image, landmarks=landmarks)
    yy, xx = np.unravel_index(crop[..., 0].argmax(), crop.shape[:2])
    assert abs(xx - 38.3) <= 2 and abs(yy - 51.7) <= 2
    with pytest.raises(ValueError, match="5 finite"):
        similarity_matrix(np.zeros((4, 2)))


def test_alignment_box_centre_without_landmarks():
    from facetrust.data.faces import Box
    from facetrust.faces.align import align_face

    image = np.zeros((200, 200, 3), np.uint8)
    image[90:110, 140:160] = 255  # the box's centre region
    crop = align_face(image, Box(130, 80, 40, 40), size=56)
    assert crop.shape == (56, 56, 3)
    assert crop[28, 28].mean() == 255 and crop[2, 2].mean() == 0


@pytest.mark.parametrize("name", ["test_iresnet", "test_mobilefacenet"])
def test_backbones_shape_grad(name):
    from facetrust.models import create_model

    model = create_model(name, embedding_size=16, input_size=32)
    out = model(torch.randn(3, 3, 32, 32))
    assert out.shape == (3, 16) and torch.isfinite(out).all()
    out.pow(2).sum().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters() if p.requires_grad)


def test_paper_sizes():
    from facetrust.models import create_model

    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert 23.5e6 < count(create_model("iresnet18")) < 24.5e6  # arcface_torch r18: 24.0M
    mobile = create_model("mobilefacenet")
    bn = sum(p.numel() for mod in mobile.modules() if isinstance(mod, torch.nn.BatchNorm2d) for p in mod.parameters())
    assert count(mobile) - bn < 1.0e6  # the paper's 0.99M (BN folds into the convs)
    assert create_model("mobilefacenet", input_size=112)(torch.randn(2, 3, 112, 112)).shape == (2, 128)


def test_gallery_means_identify_and_corruption(tmp_path):
    from facetrust.face.gallery import Gallery

    rng = np.random.default_rng(0)
    unit = lambda x: x / np.linalg.norm(x, axis=-1, keepdims=True)  # noqa: E731
    a, b = unit(rng.normal(size=(3, 8))), unit(rng.normal(size=(2, 8)))
    gallery = Gallery("m", "hash", 8)
    gallery.add("a", a[:2])
    gallery.add("b", b)
    gallery.add("a", a[2:])  # a later enrolment updates the mean
    gallery.save(tmp_path)
    loaded = Gallery.load(tmp_path)
    assert loaded.names == ["a", "b"] and loaded.counts == [3, 2]
    np.testing.assert_allclose(loaded.means()[0], unit(a.sum(0)), atol=1e-6)
    match = loaded.identify(a[0], threshold=-1.0)
    expected = max(("a", "b"), key=lambda n: float(unit({"a": a, "b": b}[n].sum(0)) @ a[0]))
    assert match["identity"] == expected
    assert loaded.identify(a[0], threshold=1.01)["identity"] == "unknown"
    (tmp_path / "gallery.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(DataError, match="corrupted"):
        Gallery.load(tmp_path)

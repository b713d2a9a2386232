"""A tiny face training run through `facetrust train` that must learn, then the checkpoint behind
enroll -> identify, verify, ONNX export with parity, gallery refusal, and distillation."""

import json
from pathlib import Path

import numpy as np
import pytest

from facetrust.cli import main

CONFIG = Path(__file__).resolve().parents[2] / "configs" / "face" / "tiny_face_id_sim.yaml"
FAST = ["--set", "train.iterations=60", "--set", "train.batch_size=32", "--set", "train.val_every=60",
        "--set", "trainer.num_threads=0", "--set", "data.face_id_sim.pairs_per_fold=10"]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("face_run")
    assert main(["train", str(CONFIG), "--out", str(out), *FAST]) == 0
    return out


def _images(run):
    return run / "face-id-sim-s0-32" / "images"


def test_training_learns_and_threshold_is_training_side(run):
    import torch

    from facetrust.config import load_config
    from facetrust.tasks.face import FaceData, build_backbone, torch_embed_fn, verification
    from facetrust.tasks.face_config import FaceExperiment

    record = json.loads((run / "seed0" / "result.json").read_text())
    trained = record["test_pairs"]["accuracy"]
    # the same architecture untrained, same seed, on the same test pairs
    config = load_config(CONFIG, FaceExperiment, [a for a in FAST if a != "--set"])
    config.data.face_id_sim.dir = str(run / "face-id-sim-s0-32")
    torch.manual_seed(0)
    model = build_backbone(config).eval()
    data = FaceData(config, run)
    untrained = verification(torch_embed_fn(model, model.preprocess), data.test_pairs, data.images)["accuracy"]
    assert trained > 0.65, record
    assert trained > untrained + 0.05, (trained, untrained)
    saved = json.loads((run / "seed0" / "checkpoint" / "config.json").read_text())
    assert saved["task"] == "face" and saved["threshold_strategy"] == "best-accuracy@train-pairs"
    assert saved["threshold"] == pytest.approx(record["train_pairs"]["threshold_cosine"])
    from safetensors import safe_open

    with safe_open(str(run / "seed0" / "checkpoint" / "model.safetensors"), "np") as f:
        assert not any(k.startswith("head") or "weight_centres" in k for k in f.keys())  # backbone only


def test_enroll_identify_round_trip(run, tmp_path, capsys):
    images, ckpt = _images(run), str(run / "seed0" / "checkpoint")
    from facetrust.data.io import read_image
    from facetrust.face.embedder import load_embedder

    # two pair (test) identities that the tiny model tells apart: the least similar first views
    candidates = sorted(p.name for p in images.iterdir())[-12:]
    e = load_embedder(ckpt).embed_aligned([read_image(images / c / f"{c}_0001.jpg") for c in candidates])
    i, j = np.unravel_index(np.argmin(e @ e.T), (len(candidates),) * 2)
    people = [candidates[i], candidates[j]]
    gallery = tmp_path / "gallery"
    for person in people:
        enroll = [str(images / person / f"{person}_{i:04d}.jpg") for i in (1, 2, 3, 4)]
        assert main(["enroll", str(gallery), person, *enroll, "--model", ckpt, "--aligned"]) == 0
    assert (gallery / "gallery.safetensors").is_file() and not list(gallery.glob("*.pkl"))
    capsys.readouterr()
    probes = [str(images / p / f"{p}_{i:04d}.jpg") for p in people for i in (1, 3)]
    assert main(["identify", str(gallery), *probes, "--model", ckpt, "--aligned", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert [r["faces"][0]["identity"] for r in result["images"]] == [p for p in people for _ in range(2)]
    assert result["people"] == 2
    # below the threshold: "unknown", with the best match still reported
    other = str(images / people[0] / f"{people[0]}_0009.jpg")
    assert main(["identify", str(gallery), other, "--model", ckpt, "--aligned", "--json", "--threshold", "0.99999"]) == 0
    face = json.loads(capsys.readouterr().out)["images"][0]["faces"][0]
    assert face["identity"] == "unknown" and face["best_match"] in people and face["similarity"] < 0.99999
    # enrolling more images updates the person's mean: the count grows
    assert main(["enroll", str(gallery), people[0], other, "--model", ckpt, "--aligned", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["images_of_person"] == 5
    # a face-less picture is a record, not an embedding of the background
    blank = tmp_path / "blank.png"
    import cv2

    cv2.imwrite(str(blank), np.full((64, 64, 3), 128, np.uint8))
    assert main(["identify", str(gallery), str(blank), "--model", ckpt, "--json", "--detector", "cascade"]) == 1
    record = json.loads(capsys.readouterr().out)["images"][0]
    assert record["error"] == "no face found" and record["faces"] == []


def test_verify_json(run, capsys):
    images, ckpt = _images(run), str(run / "seed0" / "checkpoint")
    person = sorted(p.name for p in images.iterdir())[-1]
    a, b = (str(images / person / f"{person}_{i:04d}.jpg") for i in (1, 2))
    assert main(["verify", a, b, "--model", ckpt, "--aligned", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert set(result) == {"same", "similarity", "threshold"}
    assert result["same"] == (result["similarity"] >= result["threshold"])


def test_onnx_export_parity_and_same_gallery(run, tmp_path, capsys):
    from facetrust.face.embedder import load_embedder

    ckpt, onnx_dir = run / "seed0" / "checkpoint", tmp_path / "onnx"
    assert main(["export", str(ckpt), "--out", str(onnx_dir)]) == 0
    config = json.loads((onnx_dir / "config.json").read_text())
    assert config["export"]["output"] == "embedding"
    assert config["export"]["parity"]["max_abs_embedding_diff"] < 1e-3
    torch_e, onnx_e = load_embedder(ckpt), load_embedder(onnx_dir)
    assert torch_e.model_hash == onnx_e.model_hash  # a gallery enrolled with one works with the other
    images = _images(run)
    faces = [__import__("facetrust.data.io", fromlist=["read_image"]).read_image(p)
             for p in sorted(images.glob("*/*_0001.jpg"))[:6]]
    np.testing.assert_allclose(torch_e.embed_aligned(faces), onnx_e.embed_aligned(faces), atol=1e-4)


def test_gallery_of_another_model_is_refused(run, tmp_path, capsys):
    from facetrust.face.gallery import Gallery

    gallery = Gallery("other-model", "0" * 64, 32)
    gallery.add("x", np.eye(32, dtype=np.float32)[:1])
    gallery.save(tmp_path / "g")
    image = str(sorted(_images(run).glob("*/*_0001.jpg"))[0])
    code = main(["identify", str(tmp_path / "g"), image, "--model", str(run / "seed0" / "checkpoint"), "--aligned"])
    assert code == 2
    assert "was enrolled with model other-model" in capsys.readouterr().err


def test_enroll_without_any_face_fails_clearly(run, tmp_path, capsys):
    import cv2

    blank = tmp_path / "blank.png"
    cv2.imwrite(str(blank), np.full((64, 64, 3), 128, np.uint8))
    code = main(["enroll", str(tmp_path / "g"), "nobody", str(blank), "--model", str(run / "seed0" / "checkpoint"),
                 "--detector", "cascade"])
    assert code == 2 and "no face in any" in capsys.readouterr().err
    assert not (tmp_path / "g").exists()


@pytest.mark.slow
def test_distill_student_from_checkpoint_teacher(run, tmp_path):
    out = tmp_path / "distill"
    args = ["distill", str(CONFIG), "--out", str(out), *FAST,
            "--set", "model.name=test_mobilefacenet", "--set", f"distill.teacher={run / 'seed0' / 'checkpoint'}",
            "--set", f"data.face_id_sim.dir={run / 'face-id-sim-s0-32'}"]
    assert main(args) == 0
    record = json.loads((out / "seed0" / "result.json").read_text())
    assert record["model"] == "test_mobilefacenet"
    assert 0.6 < record["decision_agreement"] <= 1.0, record
    assert record["test_pairs"]["accuracy"] > 0.55, record  # a 36k-parameter student after 60 steps
    assert json.loads((out / "seed0" / "checkpoint" / "config.json").read_text())["task"] == "face"

"""task: deepfake end to end: checkpoints record the task and say real/fake, ResNet8 exports with
parity, config errors name the key, and (slow) a CLI run on deepfake-sim that must learn."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

import facetrust
from facetrust.cli import main
from facetrust.errors import ConfigError

CONFIGS = Path(__file__).resolve().parents[1] / "configs" / "deepfake"


def _deepfake_resnet8(tmp_path: Path, threshold: float | None = 0.5) -> Path:
    from facetrust.models import create_model

    torch.manual_seed(0)
    model = create_model("resnet8", embed_dim=16, image_size=32, widths=[8, 16, 32])
    model.task, model.class_names = "deepfake", ("fake", "real")
    return facetrust.save(model, tmp_path / "ckpt", threshold=threshold, threshold_strategy="fixed:0.5")


def _images(tmp_path: Path, n: int = 4) -> list[str]:
    from facetrust.data.io import write_image

    rng = np.random.default_rng(0)
    paths = []
    for i in range(n):
        path = tmp_path / f"face{i}.png"
        write_image(path, rng.integers(0, 256, (40, 40, 3), dtype=np.uint8))
        paths.append(str(path))
    return paths


def test_resnet8_matches_the_seed_description() -> None:
    """CIFAR ResNet8 (16-32-64, one basic block per stage): weights counted by hand from the layers."""
    from facetrust.models import create_model

    model = create_model("resnet8", embed_dim=2, image_size=224)
    conv = lambda i, o, k: i * o * k * k  # noqa: E731
    bn = lambda c: 2 * c  # noqa: E731
    expected = conv(3, 16, 3) + bn(16)
    for i, o in ((16, 16), (16, 32), (32, 64)):
        expected += conv(i, o, 3) + bn(o) + conv(o, o, 3) + bn(o)
        if i != o:
            expected += conv(i, o, 1) + bn(o)
    assert sum(p.numel() for p in model.backbone.parameters()) == expected == 77_392


def test_checkpoint_records_task_and_predict_says_real_or_fake(tmp_path: Path, capsys) -> None:
    ckpt = _deepfake_resnet8(tmp_path)
    config = json.loads((ckpt / "config.json").read_text())
    assert config["task"] == "deepfake" and config["class_names"] == ["fake", "real"]
    images = _images(tmp_path)
    scores = facetrust.load(ckpt).scores([facetrust.data.read_image(p) for p in images])
    threshold = float(np.sort(scores)[1:3].mean())  # two images on each side
    assert main(["predict", str(ckpt), *images, "--crops", "--json", "--threshold", str(threshold)]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.strip().startswith("{")]
    text = json.dumps(lines)
    decisions = [v for v in _values(lines, "decision") if v is not None]
    assert sorted(set(decisions)) == ["fake", "real"], text
    assert "live" not in decisions and "spoof" not in decisions


def _values(obj, key: str) -> list:
    if isinstance(obj, dict):
        return ([obj[key]] if key in obj else []) + [v for x in obj.values() for v in _values(x, key)]
    if isinstance(obj, list):
        return [v for x in obj for v in _values(x, key)]
    return []


def test_decision_labels_per_task() -> None:
    from facetrust.tasks.names import class_names, decision_label, default_prompts

    assert (decision_label("deepfake", True), decision_label("deepfake", False)) == ("real", "fake")
    assert (decision_label(None, True), decision_label("fas", False)) == ("live", "spoof")
    assert class_names("fas") == ("attack", "bona fide")
    prompts = default_prompts("deepfake")
    assert set(prompts) == {"attack", "bona fide"} and all(len(v) == 6 for v in prompts.values())
    assert any("deepfake" in t for t in prompts["attack"])


def test_resnet8_deepfake_export_parity(tmp_path: Path) -> None:
    from facetrust.export.onnx import export_checkpoint

    ckpt = _deepfake_resnet8(tmp_path)
    summary = export_checkpoint(ckpt, tmp_path / "onnx", exporter="torchscript", log=lambda *_: None)
    assert summary["fp32"]["parity"]["max_abs_logit_diff"] < 1e-4
    onnx, torch_predictor = facetrust.load(tmp_path / "onnx"), facetrust.load(ckpt)
    images = [facetrust.data.read_image(p) for p in _images(tmp_path)]
    np.testing.assert_allclose(onnx.scores(images), torch_predictor.scores(images), atol=1e-5)
    assert json.loads((tmp_path / "onnx" / "config.json").read_text())["task"] == "deepfake"


def test_task_key_is_validated(tmp_path: Path) -> None:
    from facetrust.config import load_config
    from facetrust.tasks import read_task, task_module
    from facetrust.tasks.fas_config import FasExperiment

    bad = tmp_path / "bad.yaml"
    bad.write_text("task: deepfak\n")
    with pytest.raises(ConfigError, match="unknown task 'deepfak'"):
        task_module(read_task(bad))
    with pytest.raises(ConfigError, match="task"):
        load_config(bad, FasExperiment)
    config = load_config(CONFIGS / "efficientnet_b7_teacher.yaml", FasExperiment)
    assert config.task == "deepfake" and config.model.name == "efficientnet_b7" and config.model.image_size == 224


def test_distill_refuses_a_teacher_of_another_task(tmp_path: Path) -> None:
    from facetrust.config import load_config
    from facetrust.tasks.distill import build_student, load_teacher
    from facetrust.tasks.distill_config import DistillExperiment

    teacher = load_teacher(_deepfake_resnet8(tmp_path))
    config = load_config(CONFIGS / "resnet8_kd.yaml", DistillExperiment, ["task=fas"])
    with pytest.raises(ConfigError, match="answers task 'deepfake'"):
        build_student(config, teacher)
    config = load_config(CONFIGS / "resnet8_kd.yaml", DistillExperiment)
    student = build_student(config, teacher)
    assert student.task == "deepfake" and torch.equal(student.class_text_embeddings, teacher.class_text_embeddings)


@pytest.mark.slow
def test_cli_deepfake_teacher_then_kd_student_learn(tmp_path: Path, capsys) -> None:
    """deepfake-sim (identity swaps) -> tiny EfficientNet teacher -> ResNet8 with KD (KL) ->
    facetrust eval on held-out subjects: both well above chance (AUC), decisions real/fake."""
    from facetrust.data.sim.deepfake_sim import make_deepfake_sim

    manifest = make_deepfake_sim(tmp_path / "sim", seed=0, image_size=48, subjects=60, frames_per_video=2,
                                 manipulations=("swap",), split_fractions=(0.6, 0.15, 0.25))
    common = [f"data.manifest={manifest}", "protocol.train_manipulations=null", "train.per_group=8",
              "train.val_every=50", "eval.n_bootstrap=0", "train.iterations=150"]
    sets = [x for c in common for x in ("--set", c)]
    assert main(["train", str(CONFIGS / "tiny_teacher.yaml"), "--out", str(tmp_path / "t"),
                 "--set", "model.image_size=48", *sets]) == 0
    teacher = tmp_path / "t" / "split" / "seed0" / "checkpoint"
    assert main(["distill", str(CONFIGS / "resnet8_kd.yaml"), "--out", str(tmp_path / "s"),
                 "--set", f"teacher.checkpoint={teacher}", "--set", "student.image_size=48",
                 "--set", "student.kwargs={widths: [8, 16, 32]}", *sets]) == 0
    student = tmp_path / "s" / "split" / "seed0" / "checkpoint"
    for ckpt in (teacher, student):
        assert json.loads((ckpt / "config.json").read_text())["task"] == "deepfake"
        out = tmp_path / f"eval-{ckpt.parents[2].name}"
        assert main(["eval", str(ckpt), str(manifest), "--val", "val", "--out", str(out), "--bootstrap", "0",
                     "--no-figures", "--quiet"]) == 0
        metrics = json.loads((out / "report.json").read_text())["levels"]["frame"]["metrics"]
        assert metrics["auc"] > 0.8, (ckpt, metrics)
        assert {"accuracy", "f1", "accuracy@0.5", "f1@0.5", "ap", "eer"} <= set(metrics)
    capsys.readouterr()
    images = [str(p) for p in sorted((tmp_path / "sim").rglob("*.jpg"))[:4]]
    assert main(["predict", str(student), *images, "--crops", "--json"]) == 0
    assert set(_values([json.loads(x) for x in capsys.readouterr().out.splitlines() if x.startswith("{")],
                       "decision")) - {None} <= {"real", "fake"}


def test_clip_teacher_gets_the_deepfake_prompts() -> None:
    from facetrust.config import load_config
    from facetrust.tasks.fas import build_model
    from facetrust.tasks.fas_config import FasExperiment
    from facetrust.tasks.names import default_prompts

    config = load_config(CONFIGS / "flip_it_tiny.yaml", FasExperiment)
    model = build_model(config)
    assert model.prompts == default_prompts("deepfake") and model.task == "deepfake"
    assert model.class_names == ("fake", "real")
    fas = build_model(load_config(CONFIGS / "flip_it_tiny.yaml", FasExperiment, ["task=fas"]))
    assert fas.prompts == default_prompts("fas") and fas.class_names == ("attack", "bona fide")


def test_bench_checkpoints_side_by_side(tmp_path: Path, capsys) -> None:
    from facetrust.models import create_model

    small = _deepfake_resnet8(tmp_path / "a")
    model = create_model("resnet8", embed_dim=16, image_size=48, widths=[16, 32, 64])
    model.task = "deepfake"
    big = facetrust.save(model, tmp_path / "b" / "ckpt", threshold=0.5)
    md = tmp_path / "speed.md"
    assert main(["bench", "--checkpoints", str(big), str(small), "--rounds", "2", "--rounds-batch", "1",
                 "--batch", "4", "--threads", "1", "--md", str(md)]) == 0
    text = md.read_text()
    rows = [line for line in text.splitlines() if line.startswith("| resnet8")]
    assert len(rows) == 2 and "48x48" in rows[0] and "32x32" in rows[1]
    assert "PyTorch FPS b4" in text and "(x1)" in rows[0]

"""The distillation task: frozen bit-identical teacher, re-normalisation, cached teacher outputs,
config errors, an end-to-end run producing a calibrated checkpoint, and the CLI."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import facetrust
from facetrust.config import from_dict
from facetrust.errors import ConfigError
from facetrust.tasks.distill_config import DistillExperiment

torch.set_num_threads(1)
ALL_LOSSES = {"ce": 1.0, "kd_kl": 1.0, "kd_mse": 0.1, "feature": 1.0, "crd": 1.0, "icl": 0.5,
              "rkd_distance": 1.0, "rkd_angle": 1.0, "afd": 1.0}


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    from facetrust.data import make_fas_sim

    root = tmp_path_factory.mktemp("distill")
    manifest = make_fas_sim(root / "sim", seed=0, image_size=32, domains=("phone", "webcam", "kiosk"),
                            subjects_per_domain=4, live_videos=1, attack_videos=1, frames_per_video=2)
    torch.manual_seed(0)
    teacher = facetrust.create_model("flip_it", clip="clip-tiny", text_tower=False)  # 64 px, CLIP stats
    facetrust.save(teacher, root / "teacher")
    return root, manifest


def _config(root, manifest, **changes):
    data = {
        "teacher": {"checkpoint": str(root / "teacher")},
        "student": {"name": "resnet8", "image_size": 32},
        "losses": dict(ALL_LOSSES),
        "data": {"manifest": str(manifest)},
        "protocol": {"targets": ["kiosk"]},
        "train": {"iterations": 4, "per_group": 2, "val_every": 2},
        "trainer": {"accelerator": "cpu", "progress_bar": False},
        "eval": {"n_bootstrap": 0},
    }
    for key, value in changes.items():
        data[key] = {**data[key], **value} if isinstance(value, dict) and key != "losses" else value
    return from_dict(DistillExperiment, data)


def _module(root, manifest, **changes):
    from facetrust.data import ImageDataset, read_manifest, split_protocol
    from facetrust.data.protocols import Protocol
    from facetrust.data.transforms import eval_transform, train_transform
    from facetrust.tasks.distill import DistillModule, build_student, load_teacher

    config = _config(root, manifest, **changes)
    teacher = load_teacher(root / "teacher")
    student = build_student(config, teacher)
    train_df, val_df, _ = split_protocol(read_manifest(manifest), Protocol("pw-k", ("phone", "webcam"), "kiosk"))
    pp = student.preprocess
    transform = train_transform(pp) if config.train.augment else eval_transform(pp)
    module = DistillModule(student, teacher, config, ImageDataset(train_df, transform),
                           ImageDataset(val_df, eval_transform(pp)), seed=0)
    return module, teacher, student


def _fit(module, steps: int = 3):
    import lightning.pytorch as pl

    trainer = pl.Trainer(max_steps=steps, max_epochs=1, accelerator="cpu", logger=False, num_sanity_val_steps=0,
                         enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                         limit_val_batches=0, use_distributed_sampler=False)
    trainer.fit(module)


def test_renormalise_matches_the_teachers_own_preprocessing(rng):
    from facetrust.predictor import preprocess_images
    from facetrust.tasks.distill import renormalise

    images = [rng.integers(0, 256, size=(24, 24, 3), dtype=np.uint8) for _ in range(2)]
    student_pp = {"input_size": (3, 24, 24), "mean": (0.485, 0.456, 0.406), "std": (0.229, 0.224, 0.225)}
    teacher_pp = {"input_size": (3, 24, 24), "mean": (0.48, 0.46, 0.41), "std": (0.27, 0.26, 0.28)}
    batch = torch.from_numpy(preprocess_images(images, student_pp))
    expected = torch.from_numpy(preprocess_images(images, teacher_pp))
    assert torch.allclose(renormalise(batch, student_pp, teacher_pp), expected, atol=1e-5)
    assert renormalise(batch, student_pp, student_pp) is batch
    bigger = renormalise(batch, student_pp, {**teacher_pp, "input_size": (3, 48, 48)})
    assert bigger.shape == (2, 3, 48, 48)


def test_teacher_stays_frozen_and_bit_identical(setup):
    root, manifest = setup
    module, teacher, student = _module(root, manifest)
    before_teacher = {k: v.clone() for k, v in teacher.state_dict().items()}
    before_student = {k: v.clone() for k, v in student.state_dict().items()}
    module.train()
    assert not teacher.training and student.training
    _fit(module)
    assert not teacher.training
    assert all(p.grad is None and not p.requires_grad for p in teacher.parameters())
    assert all(torch.equal(before_teacher[k], v) for k, v in teacher.state_dict().items())
    # The run did train: the student (and AFD, which is optimised with it) changed.
    assert not all(torch.equal(before_student[k], v) for k, v in student.state_dict().items())
    assert torch.equal(student.class_text_embeddings, teacher.class_text_embeddings.float())


def test_every_loss_term_is_finite_and_reaches_the_student(setup):
    root, manifest = setup
    module, teacher, student = _module(root, manifest)
    images = torch.stack([module.train_set[i]["image"] for i in range(4)])
    labels = torch.tensor([module.train_set[i]["label"] for i in range(4)])
    student_out = module._student_outputs(images)
    teacher_out = module.teacher_outputs(images, torch.arange(4))
    assert [m.ndim for m in teacher_out["maps"]] == [4, 4, 4]  # ViT tokens reshaped to their grid
    terms = module.loss_terms(student_out, teacher_out, labels)
    assert set(terms) == set(ALL_LOSSES)
    for name, value in terms.items():
        assert torch.isfinite(value), name
        student.zero_grad()
        if value.requires_grad:
            value.backward(retain_graph=True)
        grad = student.backbone.conv1.weight.grad  # the first layer: upstream of every tap
        assert grad is not None and grad.abs().sum() > 0, f"{name} gives the student no gradient"


def test_ce_only_never_runs_the_teacher(setup):
    root, manifest = setup
    module, teacher, student = _module(root, manifest, losses={"ce": 1.0})
    calls = []
    handle = teacher.register_forward_hook(lambda *_: calls.append(1))
    batch = {"image": torch.stack([module.train_set[i]["image"] for i in range(4)]),
             "label": torch.tensor([module.train_set[i]["label"] for i in range(4)]), "index": torch.arange(4)}
    module.log = module.log_dict = lambda *a, **k: None  # not attached to a Trainer
    loss = module.training_step(batch, 0)
    handle.remove()
    assert calls == [] and module.afd is None
    assert torch.allclose(loss, torch.nn.functional.cross_entropy(student(batch["image"]), batch["label"]), atol=1e-6)


@pytest.mark.parametrize("losses", [ALL_LOSSES, {"ce": 1.0, "kd_kl": 1.0}])
def test_cached_teacher_outputs_equal_fresh_ones_and_run_the_teacher_once(setup, losses):
    root, manifest = setup
    module, teacher, _ = _module(root, manifest, teacher={"cache": True}, train={"augment": False}, losses=losses)
    calls = []
    handle = teacher.register_forward_hook(lambda *_: calls.append(1))
    images = torch.stack([module.train_set[i]["image"] for i in range(3)])
    indices = torch.arange(3)
    first = module.teacher_outputs(images, indices)
    again = module.teacher_outputs(images[[2, 0]], indices[[2, 0]])
    handle.remove()
    fresh = module._teacher_outputs(images)
    assert len(calls) == 1
    assert torch.allclose(first["logits"], fresh["logits"]) and torch.allclose(again["logits"], fresh["logits"][[2, 0]])
    assert all(torch.allclose(a, b[[2, 0]]) for a, b in zip(again["maps"], fresh["maps"], strict=True))


@pytest.mark.parametrize("changes, message", [
    ({"losses": {"ce": 1.0, "kd_typo": 1.0}}, "kd_typo"),
    ({"losses": {"ce": 0.0}}, "every weight is 0"),
    ({"teacher": {"cache": True}}, "augment"),
])
def test_config_errors_name_the_problem(setup, changes, message):
    from facetrust.tasks.distill import check_config

    root, manifest = setup
    with pytest.raises(ConfigError, match=message):
        check_config(_config(root, manifest, **changes))


def test_distill_writes_a_calibrated_checkpoint(setup, tmp_path):
    import hashlib

    from facetrust.tasks.distill import distill

    root, manifest = setup

    def teacher_files() -> dict[str, str]:  # the teacher on disk, byte for byte
        return {f.name: hashlib.sha256(f.read_bytes()).hexdigest() for f in sorted((root / "teacher").iterdir())}

    before = teacher_files()
    result = distill(_config(root, manifest, losses={"ce": 1.0, "kd_kl": 1.0, "afd": 1.0}), out=str(tmp_path))
    (record,) = result["runs"]["phone+webcam-kiosk"]
    assert teacher_files() == before, "distillation modified the teacher checkpoint"
    assert record["teacher_unchanged"] and record["honest"]
    predictor = facetrust.load(record["checkpoint"])
    assert predictor.threshold == pytest.approx(record["levels"]["frame"]["threshold"])
    assert predictor.config["threshold_strategy"] == "eer@val"
    from facetrust.data import read_image, read_manifest

    df = read_manifest(manifest)
    scores = predictor.scores([read_image(p) for p in df["abs_path"][:3]])
    assert scores.shape == (3,) and np.all((scores >= 0) & (scores <= 1))
    assert (tmp_path / "summary.md").is_file() and (tmp_path / "config.yaml").is_file()


def test_cli_reports_config_errors_without_traceback(tmp_path, capsys):
    from facetrust.cli import main

    bad = tmp_path / "bad.yaml"
    bad.write_text("student: {name: resnet8, imagesize: 32}\n")
    assert main(["distill", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "student.imagesize" in err and "Traceback" not in err


def test_cli_distills_from_yaml_with_overrides(setup, tmp_path, capsys):
    import yaml

    from facetrust.cli import main

    root, manifest = setup
    config = _config(root, manifest, losses={"ce": 1.0, "crd": 1.0})
    from facetrust.config import to_dict

    path = tmp_path / "distill.yaml"
    path.write_text(yaml.safe_dump(to_dict(config)))
    code = main(["distill", str(path), "--set", "train.iterations=2", "--set", "student.name=resnet8",
                 "--out", str(tmp_path / "run")])
    assert code == 0
    assert "phone+webcam-kiosk" in capsys.readouterr().out
    saved = yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())
    assert saved["train"]["iterations"] == 2 and saved["losses"] == {"ce": 1.0, "crd": 1.0}
    assert (tmp_path / "run" / "phone+webcam-kiosk" / "seed0" / "checkpoint" / "model.safetensors").is_file()


def test_each_term_is_its_loss_on_the_right_tensors(setup):
    """Wiring: every term equals its loss function on the student's and the teacher's tensors in the
    documented order, with the YAML's options; the logit terms also against hand-written formulas."""
    import torch.nn.functional as F

    from facetrust.losses import distill as L

    root, manifest = setup
    module, teacher, student = _module(root, manifest)
    images = torch.stack([module.train_set[i]["image"] for i in range(4)])
    labels = torch.tensor([module.train_set[i]["label"] for i in range(4)])
    s, t = module._student_outputs(images), module.teacher_outputs(images, torch.arange(4))
    opts = module.config.loss_options
    with torch.no_grad():
        terms = module.loss_terms(s, t, labels)
        s_txt, t_txt = student.class_text_embeddings, teacher.class_text_embeddings
        expected = {
            "ce": F.cross_entropy(s["logits"], labels),
            "kd_kl": L.kd_kl(s["logits"], t["logits"], opts.temperature),
            "kd_mse": L.kd_mse(s["logits"], t["logits"]),
            "feature": L.feature_distill(s["embedding"], t["embedding"]),
            "crd": L.crd(s["embedding"], s_txt, t["embedding"], t_txt, opts.crd_temperature),
            "icl": L.icl(s["embedding"], t_txt.float(), student.logit_scale, labels),
            "rkd_distance": L.rkd_distance(s["embedding"], t["embedding"]),
            "rkd_angle": L.rkd_angle(s["embedding"], t["embedding"]),
            "afd": module.afd(s["maps"], t["maps"]),
        }
        for name, value in expected.items():
            assert torch.allclose(terms[name], value, rtol=1e-5, atol=1e-7), name
        # hand-written: KL(p_teacher || p_student) at temperature T, times T^2; and the logits' MSE
        T = opts.temperature
        p_t, p_s = torch.softmax(t["logits"] / T, 1), torch.softmax(s["logits"] / T, 1)
        by_hand = (p_t * (p_t.log() - p_s.log())).sum(1).mean() * T * T
        assert torch.allclose(terms["kd_kl"], by_hand, rtol=1e-4)
        assert not torch.allclose(terms["kd_kl"], (p_s * (p_s.log() - p_t.log())).sum(1).mean() * T * T,
                                  rtol=1e-4)  # the direction matters, so this check can fail
        assert torch.allclose(terms["kd_mse"], ((s["logits"] - t["logits"]) ** 2).mean(), rtol=1e-5)

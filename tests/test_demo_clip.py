"""The demo's CLIP pretraining step: on by default, it feeds the teacher; off (--no-clip-pretrain) it is free."""

import json
from pathlib import Path

from facetrust.demo import pipeline
from facetrust.demo.clip_step import is_stale, step_clip


def _teacher_config(ctx, monkeypatch):
    seen = {}

    def fake_train_fas(config):
        seen["pretrained"] = config.model.pretrained
        return {"runs": {"f": [{"checkpoint": "c", "protocol": "p", "train_seconds": 0, "best_step": 0}]}}

    monkeypatch.setattr("facetrust.tasks.fas.train_fas", fake_train_fas)
    pipeline.step_teacher(ctx)
    return seen["pretrained"]


def _demo_args(*flags: str):
    from facetrust.cli import build_parser

    return build_parser().parse_args(["demo", *flags])


def test_pretraining_is_the_default_and_can_be_turned_off():
    assert pipeline.DemoSettings(out=".").clip_pretrain
    assert _demo_args().clip_pretrain and _demo_args("--clip-pretrain").clip_pretrain  # the old flag: a no-op
    assert not _demo_args("--no-clip-pretrain").clip_pretrain
    quick = pipeline.DemoSettings(out=".", quick=True)
    assert quick.clip_pretrain and 0 < quick.clip_iterations < pipeline.DemoSettings(out=".").clip_iterations
    tiny = pipeline.DemoSettings(out=".", tiny=True)
    assert tiny.quick and tiny.clip_pretrain and tiny.clip_iterations < quick.clip_iterations


def test_disabled_step_is_free_and_the_teacher_starts_random(tmp_path, monkeypatch):
    ctx = pipeline.Context(pipeline.DemoSettings(out=tmp_path, clip_pretrain=False))
    ctx.results["data"] = {"manifest": str(tmp_path / "m.csv")}
    ctx.results["clip"] = step_clip(ctx)
    assert ctx.results["clip"] == {"enabled": False, "weights": None}
    assert _teacher_config(ctx, monkeypatch) is None
    assert is_stale(pipeline.DemoSettings(out=tmp_path, clip_pretrain=True), ctx.results["clip"])
    assert not is_stale(ctx.settings, ctx.results["clip"])
    assert is_stale(pipeline.DemoSettings(out=tmp_path), ctx.results["clip"])  # the default pretrains


def test_enabled_step_pretrains_and_the_teacher_loads_its_weights(tmp_path, monkeypatch):
    settings = pipeline.DemoSettings(out=tmp_path, device="cpu")  # pretraining is the default
    settings.clip_iterations, settings.clip_subjects = 6, 10
    ctx = pipeline.Context(settings)
    ctx.results["data"] = {"manifest": str(tmp_path / "m.csv")}
    result = step_clip(ctx)
    assert result["enabled"] and Path(result["weights"]).is_file()
    assert "test" in result["retrieval"] and "presentation" in result["zero_shot"]
    json.dumps(result)  # storable in a step record
    ctx.results["clip"] = result
    assert _teacher_config(ctx, monkeypatch) == result["weights"]
    from facetrust.demo.clip_step import clip_section
    from facetrust.demo.html import render

    page = render("t", "s", [clip_section(result)])
    assert f"{100 * result['retrieval']['test']['t2i_r@1']:.1f}" in page and "presentation" in page

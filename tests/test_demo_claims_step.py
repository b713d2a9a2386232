"""The demo's claims step: on with the demo's CLIP and its corpus (the default), off at no cost with a
note when the CLIP pretraining step was turned off (--no-clip-pretrain)."""

import torch

from facetrust.demo.claims_step import claims_section, step_claims
from facetrust.demo.html import render
from facetrust.demo.pipeline import Context, DemoSettings


def test_without_a_pretrained_clip_the_step_is_off_and_says_how_to_see_it(tmp_path):
    ctx = Context(DemoSettings(out=tmp_path, quick=True, clip_pretrain=False), log=lambda m: None)
    ctx.results["clip"] = {"enabled": False, "weights": None}
    result = step_claims(ctx)
    assert result == {"enabled": False}
    page = render("t", "s", [claims_section(result)])
    assert "--no-clip-pretrain" in page


def test_with_the_demo_clip_it_judges_test_claims_and_draws_heatmaps(tmp_path):
    from safetensors.torch import save_file

    from facetrust.data.sim.captions import make_captions
    from facetrust.models.clip import create_clip

    make_captions(tmp_path / "captions", seed=0, n_subjects=6, images_per_subject=2, captions_per_image=2)
    torch.manual_seed(0)
    clip, _, _ = create_clip("clip-tiny")
    weights = tmp_path / "clip" / "clip.safetensors"
    weights.parent.mkdir()
    save_file({k: v.contiguous() for k, v in clip.state_dict().items()}, str(weights),
              metadata={"open_clip_model": "clip-tiny"})
    ctx = Context(DemoSettings(out=tmp_path, quick=True), log=lambda m: None)
    ctx.results["clip"] = {"enabled": True, "weights": str(weights)}
    result = step_claims(ctx)
    assert result["enabled"] and (tmp_path / "figures" / "claims.png").is_file()
    assert {(r["region"], r["contrast"]) for r in result["rows"]} == {("image", True), ("image", False)}
    assert len(result["gallery"]) == 4 and {g["true"] for g in result["gallery"]} == {True, False}
    page = render("t", "s", [claims_section(result)])
    assert page.count("data:image/png;base64,") == 1 and result["gallery"][0]["claim"] in page

import subprocess
import sys
import time

import pytest
import torch

import facetrust
from facetrust.features import FeatureTaps, TokenLayout, token_layout, tokens_to_grid
from facetrust.registry import Registry
from facetrust.seed import seed_everything


def test_registry_lookup_fallback_and_suggestion():
    reg = Registry("thing")

    @reg.register("alpha")
    def alpha():
        return 1

    reg.add_fallback(lambda name: (lambda: name.upper()) if name.startswith("x_") else None)
    assert reg.get("alpha")() == 1 and reg.get("x_y")() == "X_Y"
    with pytest.raises(KeyError, match=r"unknown thing 'alpa'. Did you mean 'alpha'"):
        reg.get("alpa")
    with pytest.raises(KeyError, match="registered twice"):
        reg.register("alpha")(lambda: 2)


def _tiny_training_run(seed: int) -> torch.Tensor:
    seed_everything(seed)
    model = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Dropout(0.3), torch.nn.Linear(16, 2))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    x, y = torch.randn(32, 8), torch.randint(0, 2, (32,))
    for _ in range(5):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    return torch.cat([p.detach().flatten() for p in model.parameters()])


def test_same_seed_same_numbers():
    a, b, c = _tiny_training_run(1), _tiny_training_run(1), _tiny_training_run(2)
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_help_is_fast_and_imports_no_torch():
    code = (
        "import sys, time; t = time.perf_counter(); from facetrust.cli import build_parser; "
        "build_parser().format_help(); print(time.perf_counter() - t); "
        "assert 'torch' not in sys.modules, 'torch imported by --help'"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert float(out.stdout) < 1.0
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "facetrust.cli", "--help"], capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    assert result.returncode == 0 and "distill" in result.stdout and "explain" in result.stdout
    assert elapsed < 1.5, f"facetrust --help took {elapsed:.2f}s"


def test_every_command_has_help():
    from facetrust.cli import COMMANDS, build_parser

    parser = build_parser()
    for name in COMMANDS:
        with pytest.raises(SystemExit) as exit_info:
            parser.parse_args([name, "--help"])
        assert exit_info.value.code == 0


def test_version_command(capsys):
    from facetrust.cli import main

    assert main(["version"]) == 0
    assert f"facetrust {facetrust.__version__}" in capsys.readouterr().out


def test_feature_taps_record_and_release():
    model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU(), torch.nn.Linear(3, 2))
    x = torch.randn(2, 4)
    with FeatureTaps(model, ["0", "2"]) as taps:
        out = model(x)
    assert torch.equal(taps.outputs["2"], out)
    assert torch.equal(taps.outputs["0"], model[0](x))
    assert all(not m._forward_hooks for m in model.modules())
    with pytest.raises(KeyError, match="no module named"):
        FeatureTaps(model, ["9"])


@pytest.mark.parametrize("patch, hw", [(8, (32, 32)), (16, (32, 48)), (8, (24, 40))])
def test_token_layout_from_timm_and_open_clip(patch, hw):
    import open_clip
    import timm

    vit = timm.create_model("vit_tiny_patch16_224", pretrained=False, patch_size=patch, img_size=hw,
                            depth=1, reg_tokens=2, no_embed_class=False)
    layout = token_layout(vit)
    assert layout == TokenLayout(hw[0] // patch, hw[1] // patch, 3)
    tokens = vit.forward_features(torch.randn(1, 3, *hw))
    grid = tokens_to_grid(tokens, layout)
    assert grid.shape == (1, tokens.shape[-1], hw[0] // patch, hw[1] // patch)
    # token order is row-major over the patch grid
    assert torch.equal(grid[0, :, 1, 0], tokens[0, 3 + layout.grid_w])

    clip_vit = open_clip.model._build_vision_tower(
        32, open_clip.model.CLIPVisionCfg(layers=1, width=32, head_width=16, patch_size=patch, image_size=hw)
    )
    assert token_layout(clip_vit) == TokenLayout(hw[0] // patch, hw[1] // patch, 1)


def test_tokens_to_grid_rejects_wrong_count():
    with pytest.raises(ValueError, match="do not fit"):
        tokens_to_grid(torch.randn(1, 10, 4), TokenLayout(3, 3, 0))

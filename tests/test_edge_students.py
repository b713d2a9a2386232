"""Quantization-friendly edge students: registered, shape / NaN / gradients / feature taps like the
other students, ONNX parity (32 px), MobileOne/RepGhost re-parameterisation parity and static padding
for the TF-ported models."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import facetrust
from facetrust.features import FeatureTaps
from facetrust.models.students import EDGE_STUDENTS, deploy_form, is_reparameterizable

torch.set_num_threads(1)
SIZE = 32


def _student(name: str):
    torch.manual_seed(0)
    return facetrust.create_model(name, embed_dim=16, image_size=SIZE)


def _randomise_batchnorm(model: torch.nn.Module) -> None:
    """Non-trivial BN statistics and affine terms, so that folding them into convolutions is tested
    (fresh BN layers are the identity and fold exactly whatever the code does)."""
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                n = module.num_features
                module.running_mean.copy_(torch.randn(n, generator=generator) * 0.1)
                module.running_var.copy_(torch.rand(n, generator=generator) + 0.5)
                module.weight.copy_(torch.rand(n, generator=generator) + 0.5)
                module.bias.copy_(torch.randn(n, generator=generator) * 0.1)


def test_every_edge_student_is_registered_and_exists_in_timm():
    import timm

    from facetrust.registry import MODELS

    for name in EDGE_STUDENTS:
        assert timm.is_model(name), name
        assert name in MODELS.names(), name


@pytest.mark.parametrize("name", list(EDGE_STUDENTS))
def test_edge_student_forward_gradients_taps_and_onnx_parity(name, tmp_path):
    from facetrust.export.onnx import export_onnx, onnx_parity

    model = _student(name).train()
    x = torch.randn(3, 3, SIZE, SIZE)
    with FeatureTaps(model, model.feature_layers) as taps:
        logits = model(x)
    assert logits.shape == (3, 2) and torch.isfinite(logits).all()
    assert len(taps.outputs) == len(model.feature_layers) >= 2
    assert all(t.ndim == 4 for t in taps.outputs.values())
    (logits[:, 1] - logits[:, 0]).pow(2).sum().backward()
    missing = [n for n, p in model.named_parameters() if p.requires_grad and (p.grad is None or p.grad.abs().sum() == 0)]
    assert not missing, f"no gradient reached {missing}"
    model.eval()
    _randomise_batchnorm(model)
    info = export_onnx(model, tmp_path / "model.onnx", exporter="torchscript")
    assert info["reparameterized"] == is_reparameterizable(model)
    batch = np.random.default_rng(0).normal(size=(3, 3, SIZE, SIZE)).astype(np.float32)
    assert onnx_parity(model, tmp_path / "model.onnx", batch) < 1e-4


@pytest.mark.parametrize("name", ["mobileone_s0", "repghostnet_050"])
def test_reparameterisation_keeps_eval_outputs(name):
    model = _student(name).eval()
    _randomise_batchnorm(model)
    folded = deploy_form(model)
    assert folded is not model and is_reparameterizable(model)
    # The folded form really is different: MobileOne's branches are gone.
    assert sum(p.numel() for p in folded.parameters()) < sum(p.numel() for p in model.parameters())
    x = torch.randn(4, 3, SIZE, SIZE)
    with torch.no_grad():
        reference, deployed = model(x), folded(x)
    assert torch.allclose(reference, deployed, atol=1e-4), (reference - deployed).abs().max()
    assert folded.preprocess == model.preprocess
    # The training form is untouched (deploy_form works on a copy).
    assert is_reparameterizable(model)


def test_tf_students_get_static_padding_equal_to_tf_same_padding():
    import timm
    from timm.layers.conv2d_same import Conv2dSame

    from facetrust.models.students import StaticSameConv2d

    torch.manual_seed(0)
    reference = timm.create_model("tf_mobilenetv3_small_minimal_100", num_classes=0).eval()
    assert any(isinstance(m, Conv2dSame) for m in reference.modules())
    student = _student("tf_mobilenetv3_small_minimal_100").eval()
    assert not any(isinstance(m, Conv2dSame) for m in student.modules())
    assert any(isinstance(m, StaticSameConv2d) and any(m.static_pad) for m in student.modules())
    student.backbone.load_state_dict(reference.state_dict())  # same parameter names
    x = torch.randn(2, 3, SIZE, SIZE)
    with torch.no_grad():
        assert torch.allclose(student.backbone(x), reference(x), atol=1e-6)

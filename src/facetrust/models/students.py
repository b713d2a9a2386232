"""Edge students that keep FLIP's language-guided classifier without its text tower.

A student is ``backbone -> pooled features -> Linear(embed_dim) -> L2-normalise`` and scores an image
by ``logit_scale * cos(image embedding, class text embedding)``, exactly like FLIP-IT (Srivatsan et
al., ICCV 2023). ``class_text_embeddings`` (2, D) and ``logit_scale`` are frozen buffers copied from
the teacher with ``student.set_classifier(teacher)``, so they travel in the checkpoint and the student
needs no text encoder at inference.

Backbones by name through ``facetrust.create_model``:

- any timm model name (``mobilenetv3_large_100``, ``efficientnet_lite0``, ``resnet18``,
  ``vit_tiny_patch16_224``, ...), resolved by a registry fallback;
- ``resnet8``, the CIFAR-style ResNet (He et al., CVPR 2016; see ``resnet8.py``);
- ``clip_visual:<open_clip model name>``, an open_clip image tower (e.g. ``clip_visual:ViT-S-16``);
- the quantization-friendly edge students of ``EDGE_STUDENTS`` (ReLU/ReLU6, few or no squeeze-excite
  or hard-swish blocks), registered by name: TensorFlow-ported ``tf_*`` models are created
  ``exportable`` (static padding instead of TF "same" padding computed at run time), and
  re-parameterisable ones (MobileOne, RepGhost) are folded to their inference form by ``deploy_form``
  before export.

Each student exposes ``feature_layers``: names of modules worth tapping for feature distillation
(AFD), from shallow to deep, relative to the student itself.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from facetrust.registry import MODELS

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
CLIP_VISUAL_PREFIX = "clip_visual:"


def _default_class_text_embeddings(embed_dim: int) -> torch.Tensor:
    """A deterministic (2, D) unit-norm placeholder until ``set_classifier`` copies the teacher's."""
    generator = torch.Generator().manual_seed(0)
    return F.normalize(torch.randn(2, embed_dim, generator=generator), dim=-1)


class Student(nn.Module):
    """``backbone`` (B, C, H, W) -> (B, F) features; projected and matched to class text embeddings.

    Same interface as the FLIP teacher: ``encode_image(x) -> (B, D)`` unit-norm embeddings and
    ``forward(x) -> (B, 2)`` logits ordered [attack, bona fide].
    """

    def __init__(
        self,
        backbone: nn.Module,
        feature_dim: int,
        embed_dim: int,
        feature_layers: list[str],
        logit_scale: float = 1 / 0.07,
    ) -> None:
        super().__init__()
        self.backbone = backbone
        self.projection = nn.Linear(feature_dim, embed_dim)
        self.embed_dim = embed_dim
        self.feature_layers = [f"backbone.{name}" for name in feature_layers]
        # Frozen classifier copied from the teacher: buffers, so they are saved but never trained.
        self.register_buffer("class_text_embeddings", _default_class_text_embeddings(embed_dim))
        self.register_buffer("logit_scale", torch.tensor(float(logit_scale)))

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Pooled backbone features, (B, F)."""
        return self.backbone(x)

    def encode_image(self, x: torch.Tensor) -> torch.Tensor:
        """Unit-norm image embeddings in the teacher's space, (B, D)."""
        return F.normalize(self.projection(self.forward_features(x)), dim=-1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits (B, 2) = logit_scale * cos(embedding, class text embedding)."""
        return self.logit_scale * self.encode_image(x) @ self.class_text_embeddings.t()

    @torch.no_grad()
    def set_classifier(self, teacher: nn.Module) -> None:
        """Copy the teacher's class text embeddings (2, D) and its logit scale (a multiplier)."""
        embeddings = teacher.class_text_embeddings.detach()
        if embeddings.shape != self.class_text_embeddings.shape:
            raise ValueError(
                f"teacher class_text_embeddings have shape {tuple(embeddings.shape)}, the student "
                f"expects {tuple(self.class_text_embeddings.shape)}; build the student with "
                f"embed_dim={embeddings.shape[-1]}"
            )
        embeddings = embeddings.float()
        if not torch.allclose(embeddings.norm(dim=-1), torch.ones(2, device=embeddings.device), atol=1e-5):
            embeddings = F.normalize(embeddings, dim=-1)  # copied bit for bit when already unit norm
        self.class_text_embeddings.copy_(embeddings)
        self.logit_scale.copy_(torch.as_tensor(teacher_logit_scale(teacher), dtype=torch.float32))


def teacher_logit_scale(teacher: nn.Module) -> float:
    """The multiplier a teacher applies to cosine similarities.

    open_clip (and facetrust's FLIP) store ``log(scale)`` as a parameter and use ``exp`` capped at 100;
    a student stores the multiplier itself. A value below log(100) ~ 4.6 is read as a log.
    """
    value = float(torch.as_tensor(teacher.logit_scale).detach().float())
    return min(math.exp(value), 100.0) if value <= math.log(100.0) + 1e-6 else value


def _default_layers(names: list[str], count: int = 3) -> list[str]:
    """Up to ``count`` evenly spaced names, always including the deepest."""
    if len(names) <= count:
        return list(names)
    step = len(names) / count
    return [names[min(len(names) - 1, round(step * (i + 1)) - 1)] for i in range(count)]


class StaticSameConv2d(nn.Conv2d):
    """A convolution with TF "same" padding fixed for one input size (same parameter names as
    ``nn.Conv2d``, so checkpoints load either way): exports as one ``Pad`` + ``Conv``."""

    def __init__(self, conv: nn.Conv2d, pad: tuple[int, int, int, int]) -> None:
        super().__init__(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride, 0, conv.dilation,
                         conv.groups, conv.bias is not None)
        self.static_pad = tuple(int(v) for v in pad)  # (left, right, top, bottom)
        self.load_state_dict(conv.state_dict())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if any(self.static_pad):
            x = F.pad(x, self.static_pad)
        return super().forward(x)


@torch.no_grad()
def static_same_padding(backbone: nn.Module, image_size: int) -> int:
    """Replace timm's ``Conv2dSame`` (padding computed per call) by ``StaticSameConv2d`` with the padding
    that an ``image_size`` input gives each layer; returns how many were replaced."""
    from timm.layers.conv2d_same import Conv2dSame
    from timm.layers.padding import pad_same_arg

    sizes: dict[str, tuple[int, int]] = {}

    def record(name: str):
        def hook(_module, args) -> None:
            sizes.setdefault(name, tuple(args[0].shape[-2:]))
        return hook

    hooks = [module.register_forward_pre_hook(record(name))
             for name, module in backbone.named_modules() if isinstance(module, Conv2dSame)]
    if not hooks:
        return 0
    training = backbone.training
    backbone.eval()(torch.zeros(1, 3, image_size, image_size))
    backbone.train(training)
    for hook in hooks:
        hook.remove()
    for name, size in sizes.items():
        parent_name, _, child = name.rpartition(".")
        parent = backbone.get_submodule(parent_name) if parent_name else backbone
        conv = getattr(parent, child)
        pad = pad_same_arg(list(size), list(conv.weight.shape[-2:]), list(conv.stride), list(conv.dilation))
        setattr(parent, child, StaticSameConv2d(conv, tuple(pad)))
    return len(sizes)


def build_timm_student(
    model_name: str,
    embed_dim: int = 512,
    image_size: int = 224,
    pretrained: bool | str | None = None,
    backbone_kwargs: dict[str, Any] | None = None,
    feature_layers: list[str] | None = None,
    exportable: bool | None = None,
) -> Student:
    """A timm backbone (``num_classes=0``: pooled features) as a student.

    ``pretrained``: None/False = random weights (no download); True or "timm" = timm's weights
    (downloads, asked for by name); a path = a local ``.safetensors`` file (never a pickle). ``backbone_kwargs`` go to ``timm.create_model`` (e.g. a tiny
    ``depth`` for tests). ``exportable`` (default: True for ``tf_*`` models) creates the model with
    timm's ``exportable=True`` and replaces TF "same" padding, computed from the input size on every call
    (Shape/Ceil/Pad nodes in ONNX), with static padding for ``image_size`` (``static_same_padding``).
    """
    import timm

    if not timm.is_model(model_name):
        raise KeyError(f"{model_name!r} is not a timm model; see timm.list_models()")
    kwargs = dict(backbone_kwargs or {})
    if exportable is None:
        exportable = model_name.startswith("tf_")
    if exportable:
        kwargs["exportable"] = True
    if isinstance(pretrained, str) and pretrained.lower() in ("true", "timm"):
        pretrained = True
    if isinstance(pretrained, str):
        if not pretrained.endswith(".safetensors"):
            raise ValueError(f"pretrained={pretrained!r}: give a local .safetensors file, 'timm' or None")
        kwargs["pretrained_cfg_overlay"] = {"file": pretrained}
    try:  # ViT-like models are built for the input size; CNNs do not take img_size
        backbone = timm.create_model(
            model_name, pretrained=bool(pretrained), num_classes=0, img_size=image_size, **kwargs
        )
    except TypeError:
        backbone = timm.create_model(model_name, pretrained=bool(pretrained), num_classes=0, **kwargs)
    if exportable:
        static_same_padding(backbone, image_size)
    feature_dim = int(getattr(backbone, "head_hidden_size", None) or backbone.num_features)
    tap_names = [info["module"] for info in backbone.feature_info]
    if hasattr(backbone, "blocks") and "num_prefix_tokens" in vars(backbone):
        layers = _default_layers(tap_names, 3)  # ViT: spread over the depth
    else:
        layers = tap_names[-3:]  # CNN: the three deepest stages
    student = Student(backbone, feature_dim, embed_dim, feature_layers or layers)
    config = backbone.pretrained_cfg
    student.preprocess = {
        "input_size": (3, image_size, image_size),
        "mean": tuple(config.get("mean", IMAGENET_MEAN)),
        "std": tuple(config.get("std", IMAGENET_STD)),
    }
    return student


class _ClipTower(nn.Module):
    """An open_clip VisionTransformer returning its pooled, pre-projection feature (B, width)."""

    def __init__(self, visual: nn.Module) -> None:
        super().__init__()
        visual.proj = None  # the student's own projection replaces CLIP's
        self.visual = visual

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.visual(x)


def build_clip_student(
    clip_name: str,
    embed_dim: int = 512,
    image_size: int = 224,
    pretrained: str | None = None,
    vision_overrides: dict[str, Any] | None = None,
    feature_layers: list[str] | None = None,
) -> Student:
    """An open_clip image tower (``clip_visual:<name>``) with its config optionally shrunk.

    ``vision_overrides`` edits the model's vision config (e.g. ``{"width": 64, "layers": 2}``);
    ``pretrained`` is an open_clip tag or a local file (downloads only when asked).
    """
    import open_clip
    from open_clip.model import CLIPVisionCfg, _build_vision_tower

    config = open_clip.get_model_config(clip_name)
    if config is None:
        raise KeyError(f"{clip_name!r} is not an open_clip model; see open_clip.list_models()")
    vision = {**config["vision_cfg"], **(vision_overrides or {}), "image_size": image_size}
    if pretrained:
        if vision_overrides:
            raise ValueError("pretrained CLIP weights cannot be combined with vision_overrides")
        clip = open_clip.create_model(clip_name, pretrained=pretrained, force_image_size=image_size)
        visual = clip.visual
    else:
        visual = _build_vision_tower(config["embed_dim"], CLIPVisionCfg(**vision))
    if not hasattr(visual, "transformer"):
        raise KeyError(f"{clip_name!r} has no ViT image tower; use a ViT open_clip model")
    tower = _ClipTower(visual)
    layers = [f"visual.transformer.resblocks.{i}" for i in range(len(visual.transformer.resblocks))]
    student = Student(tower, int(visual.transformer.width), embed_dim, feature_layers or _default_layers(layers))
    student.preprocess = {"input_size": (3, image_size, image_size), "mean": CLIP_MEAN, "std": CLIP_STD}
    return student


# Quantization-friendly students (timm 1.0.31 names) -> why they suit INT8 on a CPU.
EDGE_STUDENTS: dict[str, str] = {
    "mobilenetv4_conv_small": "MobileNetV4 conv: ReLU, no squeeze-excite",
    "tf_mobilenetv3_small_minimal_100": "MobileNetV3-Small minimal: no SE, no hard-swish, 3x3 only",
    "tf_mobilenetv3_large_minimal_100": "MobileNetV3-Large minimal: no SE, no hard-swish, 3x3 only",
    "efficientnet_lite0": "EfficientNet-Lite0: ReLU6, no squeeze-excite",
    "mobilenetv2_100": "MobileNetV2: ReLU6, no squeeze-excite",
    "mobileone_s0": "MobileOne-S0: re-parameterised to a plain conv/ReLU chain for inference",
    "repghostnet_050": "RepGhostNet-0.5x: re-parameterised ghost modules, ReLU",
}


def _register_edge_students() -> None:
    for name in EDGE_STUDENTS:
        MODELS.register(name)(lambda name=name, **kwargs: build_timm_student(name, **kwargs))


_register_edge_students()


def is_reparameterizable(model: nn.Module) -> bool:
    """True when a module has a training form that folds into a simpler inference form (MobileOne,
    RepGhost, RepVGG: timm's ``reparameterize`` methods)."""
    return any(callable(getattr(module, "reparameterize", None)) for module in model.modules())


def deploy_form(model: nn.Module) -> nn.Module:
    """The model as it should be exported: re-parameterised (``timm.utils.reparameterize_model``, on a
    copy, in eval mode) when it has a training form, else ``model`` itself. Outputs are equal in eval
    mode up to float rounding (tests check 1e-4)."""
    if not is_reparameterizable(model):
        return model
    from timm.utils import reparameterize_model

    folded = reparameterize_model(model.eval(), inplace=False).eval()
    for attribute in ("preprocess", "checkpoint_config", "architecture", "threshold", "threshold_strategy",
                      "class_names"):
        if hasattr(model, attribute) and not hasattr(folded, attribute):
            setattr(folded, attribute, getattr(model, attribute))
    return folded


def _resolve(name: str):
    """Registry fallback: ``clip_visual:<name>`` and any timm model name become student builders."""
    if name.startswith(CLIP_VISUAL_PREFIX):
        clip_name = name[len(CLIP_VISUAL_PREFIX) :]
        return lambda **kwargs: build_clip_student(clip_name, **kwargs)
    import timm

    if timm.is_model(name):
        return lambda **kwargs: build_timm_student(name, **kwargs)
    return None


MODELS.add_fallback(_resolve)

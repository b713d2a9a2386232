"""MiniFASNet (Minivision's Silent-Face-Anti-Spoofing, 2020) and the two-model fusion it ships with.

MiniFASNet is a pruned MobileFaceNet for 80x80 face patches with three classes (0 = 2D attack:
print/replay, 1 = real, 2 = 3D attack). Layout, as the released weights show it:

* stem: 3x3 conv stride 2 (32) and a 3x3 depthwise conv (32), each BN + PReLU;
* four stages of inverted bottlenecks (1x1 expand + PReLU, 3x3 depthwise + PReLU, 1x1 linear
  projection): a stride-2 block then residual blocks, at widths 64, 128, 128 (strides 2, 2, 2, so
  80 -> 40 -> 20 -> 10 -> 5); the SE variant puts a squeeze-and-excitation (1x1 conv, BN, ReLU,
  1x1 conv, BN, sigmoid; reduction 4) on the last residual block of each stage, before the addition;
* head: 1x1 conv to 512 (BN + PReLU), a 5x5 depthwise conv with BN (the "global depthwise" pooling),
  a bias-free linear to a 128-d embedding, BatchNorm1d, dropout, a bias-free linear to 3 classes.

V1 and V2 differ only in the pruned expansion widths. The module names (``conv1``, ``conv_23``,
``conv_3.model.0.conv_dw``, ``se_module.fc1``, ``prob``...) are the ones in the released state dicts,
so ``load_state_dict`` takes them once the ``module.`` prefix of DataParallel is stripped.

``silent_face_fusion`` wraps K members for facetrust: input (B, 3K, 80, 80), the K patches stacked on
the channel axis (each BGR, 0..255, no normalisation, as the original code feeds them); the original
decision is the argmax of the mean of the members' softmax (its test.py sums them); facetrust's two
logits are log([p0 + p2, p1]) of that mean, so softmax gives P(attack), P(bona fide) = p1 exactly.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from facetrust.registry import MODELS

NUM_CLASSES = 3
CLASSES = ("2D attack", "real", "3D attack")
REAL_CLASS = 1
INPUT_SIZE = 80

# Pruned expansion widths of every bottleneck, read off the released state dicts.
# Stages: name -> (output width, stride of the first block, expansions of its blocks).
# "conv_23" / "conv_34" / "conv_45" are single stride-2 blocks; "conv_3" / "conv_4" / "conv_5" are
# residual stages at the same width.
VARIANTS: dict[str, dict] = {
    "MiniFASNetV1": {"se": False, "dropout": 0.2, "expansions": {
        "conv_23": (103,), "conv_3": (13, 26, 13, 52), "conv_34": (231,),
        "conv_4": (154, 52, 26, 52, 26, 26), "conv_45": (308,), "conv_5": (26, 26)}},
    "MiniFASNetV2": {"se": False, "dropout": 0.2, "expansions": {
        "conv_23": (103,), "conv_3": (13, 13, 13, 13), "conv_34": (231,),
        "conv_4": (231, 52, 26, 77, 26, 26), "conv_45": (308,), "conv_5": (26, 26)}},
}
VARIANTS["MiniFASNetV1SE"] = {**VARIANTS["MiniFASNetV1"], "se": True, "dropout": 0.75}
VARIANTS["MiniFASNetV2SE"] = {**VARIANTS["MiniFASNetV2"], "se": True, "dropout": 0.75}
STAGE_WIDTHS = {"conv_23": 64, "conv_3": 64, "conv_34": 128, "conv_4": 128, "conv_45": 128, "conv_5": 128}


class ConvBN(nn.Module):
    """Bias-free conv + BatchNorm, optionally followed by a per-channel PReLU."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int = 1, stride: int = 1, groups: int = 1,
                 prelu: bool = True, padding: int | None = None) -> None:
        super().__init__()
        padding = kernel // 2 if padding is None else padding
        self.conv = nn.Conv2d(in_ch, out_ch, kernel, stride, padding, groups=groups, bias=False)
        self.bn = nn.BatchNorm2d(out_ch)
        self.prelu = nn.PReLU(out_ch) if prelu else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.bn(self.conv(x))
        return self.prelu(x) if self.prelu is not None else x


class SqueezeExcite(nn.Module):
    """Channel gate: global average -> 1x1 conv + BN + ReLU -> 1x1 conv + BN -> sigmoid."""

    def __init__(self, channels: int, reduction: int = 4) -> None:
        super().__init__()
        self.fc1 = nn.Conv2d(channels, channels // reduction, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels // reduction)
        self.fc2 = nn.Conv2d(channels // reduction, channels, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate = F.relu(self.bn1(self.fc1(x.mean(dim=(2, 3), keepdim=True))))
        return x * torch.sigmoid(self.bn2(self.fc2(gate)))


class Bottleneck(nn.Module):
    """1x1 expand (PReLU) -> 3x3 depthwise (PReLU) -> 1x1 linear projection [-> SE] [+ input]."""

    def __init__(self, in_ch: int, expansion: int, out_ch: int, stride: int, residual: bool, se: bool) -> None:
        super().__init__()
        self.conv = ConvBN(in_ch, expansion)
        self.conv_dw = ConvBN(expansion, expansion, kernel=3, stride=stride, groups=expansion)
        self.project = ConvBN(expansion, out_ch, prelu=False)
        self.se_module = SqueezeExcite(out_ch) if se else None
        self.residual = residual

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.project(self.conv_dw(self.conv(x)))
        if not self.residual:
            return out
        if self.se_module is not None:
            out = self.se_module(out)
        return x + out


class ResidualStage(nn.Module):
    """Residual bottlenecks at one width; with ``se`` the last one carries the SE gate."""

    def __init__(self, width: int, expansions: tuple[int, ...], se: bool) -> None:
        super().__init__()
        last = len(expansions) - 1
        self.model = nn.Sequential(*[Bottleneck(width, e, width, 1, True, se and i == last)
                                     for i, e in enumerate(expansions)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class MiniFASNet(nn.Module):
    """(B, 3, 80, 80) BGR 0..255 -> (B, 3) logits [2D attack, real, 3D attack]."""

    def __init__(self, variant: str = "MiniFASNetV2", input_size: int = INPUT_SIZE, embedding_size: int = 128,
                 num_classes: int = NUM_CLASSES) -> None:
        super().__init__()
        if variant not in VARIANTS:
            raise ValueError(f"unknown MiniFASNet variant {variant!r}; choose one of {sorted(VARIANTS)}")
        spec = VARIANTS[variant]
        self.variant = variant
        self.conv1 = ConvBN(3, 32, kernel=3, stride=2)
        self.conv2_dw = ConvBN(32, 32, kernel=3, groups=32)
        width = 32
        for name, expansions in spec["expansions"].items():
            out = STAGE_WIDTHS[name]
            if len(expansions) == 1 and name in ("conv_23", "conv_34", "conv_45"):
                stage: nn.Module = Bottleneck(width, expansions[0], out, 2, residual=False, se=False)
            else:
                stage = ResidualStage(out, expansions, spec["se"])
            self.add_module(name, stage)
            width = out
        kernel = math.ceil(input_size / 16)  # 80 -> 5: the depthwise head covers the whole map
        self.conv_6_sep = ConvBN(width, 512)
        self.conv_6_dw = ConvBN(512, 512, kernel=kernel, groups=512, prelu=False, padding=0)
        self.linear = nn.Linear(512, embedding_size, bias=False)
        self.bn = nn.BatchNorm1d(embedding_size)
        self.drop = nn.Dropout(spec["dropout"])  # training only; 0.2 (V1/V2), 0.75 (SE) as released
        self.prob = nn.Linear(embedding_size, num_classes, bias=False)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, 80, 80) -> (B, 512, 5, 5), the last spatial map (the CAM target)."""
        x = self.conv2_dw(self.conv1(x))
        for name in ("conv_23", "conv_3", "conv_34", "conv_4", "conv_45", "conv_5"):
            x = getattr(self, name)(x)
        return self.conv_6_sep(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        embedding = self.bn(self.linear(self.conv_6_dw(self.forward_features(x)).flatten(1)))
        return self.prob(self.drop(embedding))


class SilentFaceFusion(nn.Module):
    """K MiniFASNets on K stacked patches: (B, 3K, 80, 80) -> (B, 2) logits [attack, bona fide].

    Logits are log([p0 + p2, p1]) of the mean of the members' softmax, computed in log space so that
    softmax of them is exactly (P(attack), P(real)) and nothing under- or overflows.
    """

    def __init__(self, members: list[str] | tuple[str, ...], input_size: int = INPUT_SIZE) -> None:
        super().__init__()
        if not members:
            raise ValueError("silent_face_fusion needs at least one member, e.g. ['MiniFASNetV2']")
        self.member_names = tuple(members)
        self.members = nn.ModuleList([MiniFASNet(name, input_size) for name in members])

    def member_logits(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Each member's (B, 3) logits on its own 3-channel slice of ``x``."""
        expected = 3 * len(self.members)
        if x.ndim != 4 or x.shape[1] != expected:
            raise ValueError(f"silent_face_fusion with {len(self.members)} member(s) takes (B, {expected}, H, W) "
                             f"stacked patches, got {tuple(x.shape)}")
        return [member(x[:, 3 * i : 3 * i + 3]) for i, member in enumerate(self.members)]

    def class_log_probs(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3) log of the mean of the members' softmax (the original fusion)."""
        log_probs = torch.stack([F.log_softmax(z, dim=1) for z in self.member_logits(x)])  # (K, B, 3)
        return torch.logsumexp(log_probs, dim=0) - math.log(len(self.members))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        log_p = self.class_log_probs(x)
        attack = torch.logsumexp(log_p[:, 0::2], dim=1)  # log(p0 + p2), the two attack classes
        return torch.stack([attack, log_p[:, REAL_CLASS]], dim=1)


def member_variant(name: str) -> str:
    """Canonical variant name for a case-insensitive member name such as 'minifasnetv1se'."""
    for variant in VARIANTS:
        if variant.lower() == str(name).lower():
            return variant
    raise ValueError(f"unknown MiniFASNet member {name!r}; choose from {sorted(VARIANTS)}")


@MODELS.register("silent_face_fusion")
def silent_face_fusion(
    members: list[str] | tuple[str, ...] = ("MiniFASNetV2", "MiniFASNetV1SE"),
    image_size: int = INPUT_SIZE,
    pretrained: None = None,
) -> SilentFaceFusion:
    """Silent-Face's MiniFASNet ensemble (one member = a single model) on stacked BGR 0..255 patches.

    Weights come from ``facetrust import silent-face FILE.pth ...``; ``pretrained`` must stay None.
    """
    if pretrained:
        raise ValueError("silent_face_fusion loads no weights itself; run `facetrust import silent-face "
                         "FILE.pth ... --out CKPT` and load CKPT")
    model = SilentFaceFusion([member_variant(m) for m in members], int(image_size))
    channels = 3 * len(model.members)
    model.preprocess = {
        "input_size": (channels, int(image_size), int(image_size)),
        "mean": (0.0,) * channels, "std": (1.0,) * channels,
        "channel_order": "bgr", "pixel_scale": 1.0,
    }
    model.class_names = ("attack", "bona fide")
    return model


# ---- the released weights -> a facetrust model with its crop, preprocessing and decision rule ----

SOURCE = "https://github.com/minivision-ai/Silent-Face-Anti-Spoofing"
LICENCE = "Apache-2.0"


def parse_weights_name(path) -> dict:
    """Variant, crop scale and patch size from a released file name, as the original code parses it.

    ``2.7_80x80_MiniFASNetV2.pth`` -> scale 2.7; ``4_0_0_80x80_MiniFASNetV1SE.pth`` -> scale 4.0
    (the two zeros are the original's patch shift, always 0 in the released files).
    """
    from pathlib import Path

    from facetrust.errors import CheckpointError

    name = Path(path).name
    parts = name.removesuffix(".pth").split("_")
    hint = ("expected a released Silent-Face file name such as 2.7_80x80_MiniFASNetV2.pth or "
            "4_0_0_80x80_MiniFASNetV1SE.pth (scale, [shift_x, shift_y,] HxW, model); rename the file")
    if parts[0] == "org":
        raise CheckpointError(f"{path}: an 'org' model scores the whole picture resized, without a face crop; "
                              "facetrust imports only the face-patch models (scale_..._HxW_MiniFASNet*.pth)")
    if not name.endswith(".pth") or len(parts) not in (3, 5) or "x" not in parts[-2]:
        raise CheckpointError(f"{path}: cannot read the model and crop from the name; {hint}")
    try:
        variant = member_variant(parts[-1])
        height, width = (int(v) for v in parts[-2].split("x"))
    except ValueError as err:
        raise CheckpointError(f"{path}: {err}; {hint}") from err
    try:
        scale = float(parts[0])
        shifts = [float(v) for v in parts[1:-2]]
    except ValueError as err:
        raise CheckpointError(f"{path}: the scale {parts[0]!r} is not a number; {hint}") from err
    if scale <= 0 or any(shifts):
        raise CheckpointError(f"{path}: scale must be > 0 and the patch shifts 0 (got {scale}, {shifts}); {hint}")
    if height != width:
        raise CheckpointError(f"{path}: patch {height}x{width} is not square; MiniFASNet here takes square patches")
    return {"file": name, "variant": variant, "scale": scale, "size": [height, width]}


def read_state_dict(path) -> dict:
    """A released ``.pth`` state dict, read with ``torch.load(weights_only=True)``, ``module.`` stripped."""
    import pickle
    import zipfile

    from facetrust.errors import CheckpointError

    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, zipfile.BadZipFile, ValueError, OSError) as err:
        raise CheckpointError(
            f"{path}: not a PyTorch weights file that can be read safely (torch.load(weights_only=True) "
            f"refused it: {str(err).splitlines()[0][:200]}); give the released MiniFASNet .pth state dict"
        ) from err
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not state or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"{path}: holds no state dict (name -> tensor); give the released MiniFASNet .pth file")
    return {k.removeprefix("module."): v for k, v in state.items()}


def from_released_weights(paths: list) -> SilentFaceFusion:
    """``silent_face_fusion`` holding the released weights of ``paths`` (ordered by crop scale), with
    ``checkpoint_crop``, ``threshold``, ``metadata`` and ``checkpoint_extra`` set for ``facetrust.save``."""
    import hashlib
    from pathlib import Path

    from facetrust.errors import CheckpointError
    from facetrust.models import create_model

    if not paths:
        raise CheckpointError("give at least one MiniFASNet .pth file")
    infos = []
    for path in paths:
        if not Path(path).is_file():
            raise CheckpointError(f"{path}: file not found")
        infos.append({**parse_weights_name(path), "path": Path(path)})
    sizes = {tuple(i["size"]) for i in infos}
    if len(sizes) != 1:
        raise CheckpointError(f"the files have different patch sizes {sorted(sizes)}; fuse models of one size")
    infos.sort(key=lambda i: i["scale"])
    model = create_model("silent_face_fusion", members=[i["variant"] for i in infos], image_size=infos[0]["size"][0])
    for info, member in zip(infos, model.members, strict=True):
        state = read_state_dict(info["path"])
        try:
            missing, unexpected = member.load_state_dict(state, strict=False)
            problem = f"missing {missing[:4]}, unexpected {unexpected[:4]}" if missing or unexpected else ""
        except RuntimeError as err:  # shape mismatches
            problem = str(err).splitlines()[1].strip() if "\n" in str(err) else str(err)
        if problem:
            raise CheckpointError(f"{info['path']}: its tensors do not fit {info['variant']} ({problem[:300]}); "
                                  "is the model in the file name right?")
        info["sha256"] = hashlib.sha256(info["path"].read_bytes()).hexdigest()
    model.eval()
    model.checkpoint_crop = {
        "detector": "mtcnn",
        "crops": [{"method": "scale", "scale": i["scale"], "size": i["size"]} for i in infos],
    }
    model.threshold = 0.5
    model.threshold_strategy = (
        "not calibrated: 0.5 on P(real) of the fused softmax, from the original code's rule (argmax of the "
        "mean of the members' 3-class softmax, test.py). It agrees with that argmax whenever P(real) >= 0.5 "
        "or P(real) < 1/3; between the two the argmax may still say real. No data here chose it"
    )
    members = [{"file": i["file"], "sha256": i["sha256"], "variant": i["variant"], "scale": i["scale"],
                "size": i["size"]} for i in infos]
    model.checkpoint_extra = {"silent_face": {
        "classes": {str(k): v for k, v in enumerate(CLASSES)}, "real_class": REAL_CLASS,
        "fusion": "mean of the members' softmax over the 3 classes; logits = log([p0 + p2, p1]), so "
                  "P(bona fide) = p1 and P(attack) = p0 + p2",
        "input": "each member's patch as BGR, 0..255 float (no /255, no mean/std), NCHW, stacked on channels "
                 "in the order of members",
        "members": members,
        "detector_note": "the original code detects faces with its own RetinaFace (Caffe) model, which "
                         "is not available offline here; MTCNN (facenet-pytorch) boxes are used instead",
    }}
    model.metadata = {"source": SOURCE, "licence": LICENCE,
                      "licence_note": f"weights by Minivision, {LICENCE}, from {SOURCE}; not part of facetrust"}
    return model

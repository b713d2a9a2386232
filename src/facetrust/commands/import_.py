"""``facetrust import KIND ...``: turn third-party released weights into facetrust checkpoints.

``facetrust import silent-face FILE.pth [FILE.pth ...] --out CKPT``: Silent-Face-Anti-Spoofing's
MiniFASNet weights (Apache-2.0) -> one fused checkpoint with its crop, preprocessing and decision rule.
Each kind is one sub-action. Standard library only at top level; the work happens in the library.
"""

from __future__ import annotations


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "import", help="import third-party released weights as a facetrust checkpoint",
        description="Convert released weights into a checkpoint folder (model.safetensors + config.json). "
        "Weights are read with torch.load(weights_only=True): nothing is unpickled.",
    )
    sub = p.add_subparsers(dest="import_kind", metavar="KIND")
    p.set_defaults(func=lambda args: (p.print_help(), 1)[1])

    s = sub.add_parser(
        "silent-face", help="MiniFASNet weights of Silent-Face-Anti-Spoofing (Apache-2.0)",
        description="Import the released MiniFASNet files of minivision-ai/Silent-Face-Anti-Spoofing "
        "(e.g. 2.7_80x80_MiniFASNetV2.pth 4_0_0_80x80_MiniFASNetV1SE.pth). The model and its crop scale "
        "come from each file name; several files make one fused model (mean of their 3-class softmax, "
        "P(bona fide) = P(real)). The checkpoint records the crops (scale around the face box, clipped "
        "to the frame, 80x80), the input convention (BGR, 0..255) and an uncalibrated threshold 0.5.",
    )
    s.add_argument("files", nargs="+", metavar="FILE.pth", help="released MiniFASNet state dicts")
    s.add_argument("--out", required=True, help="checkpoint folder to write")
    s.set_defaults(func=run_silent_face)


def run_silent_face(args) -> int:
    from facetrust.checkpoint import save
    from facetrust.models.minifasnet import from_released_weights

    model = from_released_weights(args.files)
    folder = save(model, args.out)
    crops = ", ".join(f"{c['scale']:g} ({m})" for c, m in zip(model.checkpoint_crop["crops"], model.member_names,
                                                                strict=True))
    print(f"wrote {folder}: silent_face_fusion of {len(model.members)} MiniFASNet(s), crop scales {crops}, "
          f"input {model.preprocess['input_size']} BGR 0..255, threshold 0.5 (uncalibrated)")
    return 0

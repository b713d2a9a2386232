"""Arguments shared by ``enroll``, ``identify`` and ``verify`` (standard library only)."""

from __future__ import annotations

MODEL_HELP = ("face model: a checkpoint folder trained with `task: face`, its ONNX export folder, or "
              "dlib-resnet (dlib's pretrained ResNet, offline; the default)")


def add_common(p) -> None:
    p.add_argument("--model", default="dlib-resnet", metavar="CKPT|ONNX_DIR|dlib-resnet", help=MODEL_HELP)
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.add_argument("--detector", default=None,
                   help="face detector (default: the model's own; dlib-resnet uses dlib's HOG and 5 landmarks)")
    p.add_argument("--aligned", action="store_true",
                   help="the images are already aligned face crops: embed each whole, no detection")


def print_json(result) -> None:
    import json

    print(json.dumps(result, indent=2))

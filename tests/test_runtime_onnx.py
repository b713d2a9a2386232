"""The deployed path: ``facetrust.load(onnx folder)`` and ``facetrust predict`` with PyTorch unavailable."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from facetrust import create_model, save
from facetrust.errors import CheckpointError
from facetrust.export.onnx import export_checkpoint
from facetrust.export.runtime import OnnxPredictor
from facetrust.predictor import TorchPredictor

# Runs before anything else in the child: any attempt to import torch (or a torch-based library) fails.
BLOCK_TORCH = textwrap.dedent("""
    import sys

    class BlockTorch:
        blocked = ("torch", "torchvision", "timm", "open_clip", "lightning")

        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in self.blocked:
                raise ImportError(f"{name} is blocked: the ONNX path must not import PyTorch")
            return None

    sys.meta_path.insert(0, BlockTorch())
""")


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    from facetrust.data import write_image

    root = tmp_path_factory.mktemp("runtime")
    checkpoint = save(create_model("resnet8", embed_dim=16, image_size=32), root / "ckpt", threshold=0.5)
    export_checkpoint(checkpoint, root / "onnx", exporter="torchscript", log=lambda m: None)
    rng = np.random.default_rng(3)
    images = [rng.integers(0, 256, size=(36, 30 + 4 * i, 3), dtype=np.uint8) for i in range(4)]
    paths = []
    for i, image in enumerate(images):
        paths.append(root / f"img{i}.png")
        write_image(paths[-1], image)
    from facetrust.checkpoint import load_model

    expected = TorchPredictor(load_model(checkpoint)).scores(images)
    return root / "onnx", paths, expected


def _run_without_torch(code: str, cwd) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", BLOCK_TORCH + textwrap.dedent(code)], capture_output=True,
                          text=True, cwd=cwd, timeout=120)


def test_blocker_really_blocks(tmp_path):
    result = _run_without_torch("import torch", tmp_path)
    assert result.returncode != 0 and "blocked" in result.stderr


def test_load_and_score_without_torch(exported, tmp_path):
    folder, paths, expected = exported
    result = _run_without_torch(f"""
        import json, sys
        import facetrust
        from facetrust.data import read_image
        predictor = facetrust.load({str(folder)!r})
        scores = predictor.scores([read_image(p) for p in {[str(p) for p in paths]!r}])
        leaked = sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "timm", "open_clip"))
        print(json.dumps({{"type": type(predictor).__name__, "scores": scores.tolist(),
                          "decisions": predictor.decide(scores).tolist(), "leaked": leaked}}))
    """, tmp_path)
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["type"] == "OnnxPredictor" and out["leaked"] == []
    np.testing.assert_allclose(out["scores"], expected, atol=1e-5)
    assert out["decisions"] == (expected >= 0.5).tolist()


def test_predict_cli_without_torch(exported, tmp_path):
    folder, paths, expected = exported
    result = _run_without_torch(f"""
        import sys
        from facetrust.cli import main
        sys.exit(main(["predict", {str(folder)!r}, *{[str(p) for p in paths]!r}, "--crops", "--json"]))
    """, tmp_path)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    scores = {r["path"]: r["score"] for r in report["results"]}
    np.testing.assert_allclose([scores[str(p)] for p in paths], expected, atol=1e-5)
    assert [r["decision"] for r in report["results"]] == ["live" if s >= 0.5 else "spoof" for s in expected]


def test_corrupted_or_foreign_folders_are_refused(exported, tmp_path):
    import shutil

    folder = tmp_path / "copy"
    shutil.copytree(exported[0], folder)
    data = bytearray((folder / "model.onnx").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (folder / "model.onnx").write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="SHA-256"):
        OnnxPredictor(folder)
    with pytest.raises(CheckpointError, match="config.json"):
        OnnxPredictor(tmp_path)


def test_wrong_batch_shape_is_a_clear_error(exported):
    predictor = OnnxPredictor(exported[0])
    with pytest.raises(ValueError, match=r"\(B, 3, 32, 32\)"):
        predictor.logits(np.zeros((1, 3, 64, 64), np.float32))

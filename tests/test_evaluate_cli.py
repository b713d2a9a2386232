"""``facetrust eval`` end to end: a tiny checkpoint whose score is known in closed form, a manifest
with a corrupt file, every threshold strategy, reports, and the errors a user can make."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

import facetrust
from facetrust import metrics
from facetrust.cli import main
from facetrust.data import write_image, write_manifest
from facetrust.registry import MODELS

SCALE = 8.0


class Brightness(nn.Module):
    """logits [0, SCALE * (mean pixel - 0.5)] so P(bona fide) = sigmoid(SCALE * (mean - 0.5))."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.tensor(SCALE))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        live = self.scale * (x.mean(dim=(1, 2, 3)) - 0.5)
        return torch.stack([torch.zeros_like(live), live], dim=1)


if "test_eval_brightness" not in MODELS:

    @MODELS.register("test_eval_brightness")
    def _brightness(pretrained: None = None) -> Brightness:
        model = Brightness()
        model.preprocess = {"input_size": (3, 16, 16), "mean": (0.0, 0.0, 0.0), "std": (1.0, 1.0, 1.0)}
        return model


def expected_score(level: int) -> float:
    return float(1.0 / (1.0 + np.exp(-SCALE * (np.float32(level) / np.float32(255.0) - 0.5))))


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    """Checkpoint (stored threshold 0.5) and a manifest: val domain 'src', test domain 'tgt' whose
    scores are shifted down (a darker camera), 2 frames per video, one corrupt test file."""
    root = tmp_path_factory.mktemp("eval")
    ckpt = facetrust.save(facetrust.create_model("test_eval_brightness"), root / "ckpt", threshold=0.5,
                          threshold_strategy="eer@val")
    rng = np.random.default_rng(0)
    rows, levels = [], {}
    for domain, split, shift in (("src", "val", 0), ("tgt", "test", -40)):
        for v in range(16):
            label = v % 2
            attack = "none" if label else ("print" if v % 4 == 0 else "replay")
            for f in range(2):
                level = int(np.clip(128 + (50 if label else -30) + shift + rng.integers(-45, 46), 0, 255))
                path = f"{domain}/v{v}_f{f}.png"
                write_image(root / path, np.full((16, 16, 3), level, np.uint8))
                levels[path] = level
                rows.append({"path": path, "label": label, "domain": domain, "split": split,
                             "video_id": f"{domain}-v{v}", "subject_id": f"s{v}", "attack_type": attack})
    (root / "tgt/broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    rows.append({"path": "tgt/broken.png", "label": 1, "domain": "tgt", "split": "test",
                 "video_id": "tgt-v99", "subject_id": "s99", "attack_type": "none"})
    write_manifest(pd.DataFrame(rows), root / "manifest.csv")
    table = pd.DataFrame(rows[:-1])
    table["score"] = [expected_score(levels[p]) for p in table["path"]]
    return root, ckpt, table


def run_cli(capsys, *argv):
    code = main(["eval", *map(str, argv), "--quiet", "--bootstrap", "50"])
    return code, capsys.readouterr()


def test_eer_at_val_matches_metrics_on_expected_scores(workspace, capsys):
    root, ckpt, table = workspace
    code, out = run_cli(capsys, ckpt, root / "manifest.csv", "--val", "val", "--out", root / "r1")
    assert code == 0, out.err
    report = json.loads((root / "r1/report.json").read_text())
    val, test = table[table.split == "val"], table[table.split == "test"]
    _, threshold = metrics.eer(val.score, val.label)
    frame = report["levels"]["frame"]
    assert report["strategy"] == "eer@val" and report["honest"] is True
    assert frame["threshold"] == pytest.approx(threshold, rel=1e-6)
    assert frame["metrics"]["hter"] == pytest.approx(metrics.hter(test.score, test.label, frame["threshold"]))
    assert frame["metrics"]["auc"] == pytest.approx(metrics.auc(test.score, test.label))
    video = test.groupby("video_id").agg(score=("score", "mean"), label=("label", "first"))
    assert report["levels"]["video"]["metrics"]["auc"] == pytest.approx(metrics.auc(video.score, video.label))
    assert [s["path"].endswith("broken.png") for s in report["skipped"]] == [True]
    for name in ("report.md", "roc.png", "det.png", "scores.png", "scores.csv"):
        assert (root / "r1" / name).stat().st_size > 0
    assert "broken.png" in (root / "r1/report.md").read_text()
    assert "frame: threshold" in out.out
    scores = pd.read_csv(root / "r1/scores.csv").set_index("path")
    expected = test.set_index("path")["score"]
    np.testing.assert_allclose(scores.loc[expected.index, "score"], expected, rtol=1e-5)


def test_test_eer_is_marked_and_optimistic(workspace, capsys):
    root, ckpt, table = workspace
    code, out = run_cli(capsys, ckpt, root / "manifest.csv", "--threshold", "test-eer", "--out", root / "r2",
                        "--no-figures")
    assert code == 0, out.err
    assert out.out.startswith("WARNING: test-eer")
    report = json.loads((root / "r2/report.json").read_text())
    assert report["honest"] is False and "TEST set" in report["warning"]
    assert "WARNING" in (root / "r2/report.md").read_text().splitlines()[2]
    test = table[table.split == "test"]
    assert report["levels"]["frame"]["threshold"] == pytest.approx(metrics.eer(test.score, test.label)[1], rel=1e-6)
    # the darker target camera: the validation threshold rejects many live faces, test-eer hides that
    val = table[table.split == "val"]
    honest_hter = metrics.hter(test.score, test.label, metrics.eer(val.score, val.label)[1])
    assert report["levels"]["frame"]["metrics"]["hter"] < honest_hter


def test_checkpoint_threshold_is_the_default_without_val(workspace, capsys):
    root, ckpt, _ = workspace
    code, out = run_cli(capsys, ckpt, root / "manifest.csv", "--out", root / "r3", "--no-figures")
    assert code == 0, out.err
    report = json.loads((root / "r3/report.json").read_text())
    assert report["strategy"] == "checkpoint (eer@val)"
    assert report["levels"]["frame"]["threshold"] == report["levels"]["video"]["threshold"] == 0.5


def test_domain_filter_takes_validation_from_the_other_domains(workspace, capsys):
    root, ckpt, table = workspace
    code, out = run_cli(capsys, ckpt, root / "manifest.csv", "--split", "all", "--domain", "tgt", "--val", "val",
                        "--out", root / "r5", "--no-figures")
    assert code == 0, out.err
    report = json.loads((root / "r5/report.json").read_text())
    assert report["domain"] == "tgt" and report["validation_domain"] == "src"
    assert report["levels"]["frame"]["counts"]["bona_fide"] + report["levels"]["frame"]["counts"]["attack"] == 32
    assert "validation data of domain(s) `src`" in (root / "r5/report.md").read_text()


@pytest.mark.parametrize(
    ("argv", "message"),
    [(["--threshold", "eer@val"], "needs validation data"),
     (["--threshold", "median"], "unknown threshold strategy"),
     (["--val", "nosuch.csv"], "manifest not found"),
     (["--split", "dev"], "no rows with split 'dev'"),
     (["--domain", "mars"], "no rows for domain(s) ['mars']")],
)
def test_user_errors_exit_2_with_a_message(workspace, capsys, argv, message):
    root, ckpt, _ = workspace
    code, out = run_cli(capsys, ckpt, root / "manifest.csv", *argv, "--out", root / "r4", "--no-figures")
    assert code == 2 and message in out.err

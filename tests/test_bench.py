"""``facetrust bench``: FLOP counting against hand counts, and the records of a tiny side-by-side run."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from facetrust import create_model
from facetrust.export.bench import BACKENDS, NAIVE, TEACHER, count_gflops

KEYS = {"model", "backend", "batch", "latency_ms_p50", "latency_ms_p95", "throughput_ips", "params", "gflops",
        "speedup_vs_teacher"}


def test_count_gflops_matches_hand_count():
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 16 * 16, 4))
    macs = 16 * 16 * 8 * (3 * 3 * 3) + 8 * 16 * 16 * 4
    assert count_gflops(model, torch.zeros(1, 3, 16, 16)) * 1e9 == pytest.approx(2 * macs)


def test_count_gflops_matches_a_hook_count_on_resnet8():
    student = create_model("resnet8", embed_dim=16, image_size=32).eval()
    macs = []

    def hook(module, inputs, output):
        if isinstance(module, nn.Conv2d):
            kh, kw = module.kernel_size
            macs.append(output.numel() * module.in_channels // module.groups * kh * kw)
        elif isinstance(module, nn.Linear):
            macs.append(output.numel() * module.in_features)

    handles = [m.register_forward_hook(hook) for m in student.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    with torch.no_grad():
        student(torch.zeros(1, 3, 32, 32))
    for handle in handles:
        handle.remove()
    classifier = 16 * 2  # (1, D) @ (D, 2): cosine against the two class text embeddings
    assert count_gflops(student, torch.zeros(1, 3, 32, 32)) * 1e9 == pytest.approx(2 * (sum(macs) + classifier))


def test_count_gflops_sees_fused_multihead_attention():
    attention = nn.MultiheadAttention(32, 4, batch_first=True).eval()
    tokens = torch.zeros(1, 10, 32)
    # in/out projections: 4 * N * D^2; scores and weighted sum: 2 * N^2 * D (multiply-adds)
    macs = 4 * 10 * 32 * 32 + 2 * 10 * 10 * 32
    assert count_gflops(lambda x: attention(x, x, x, need_weights=False)[0], tokens) * 1e9 == pytest.approx(2 * macs)


@pytest.fixture(scope="module")
def bench_run(tmp_path_factory):
    from facetrust.cli import main
    from facetrust.data import make_fas_sim

    root = tmp_path_factory.mktemp("bench")
    manifest = make_fas_sim(root / "fas", seed=0, image_size=32, domains=("phone", "webcam"), subjects_per_domain=3)
    args = ["bench", "--quick", "--clip", "clip-tiny", "--models", "resnet8,vit_tiny_patch16_224", "--batch", "4",
            "--rounds", "3", "--budget", "0.05", "--threads", "1", "--calib", str(manifest), "--json", str(root / "b.json"),
            "--md", str(root / "b.md")]
    assert main(args) == 0
    return json.loads((root / "b.json").read_text()), (root / "b.md").read_text()


def test_records_cover_every_model_backend_and_batch(bench_run):
    result, _ = bench_run
    records = result["records"]
    got = {(r["model"], r["backend"], r["batch"]) for r in records}
    expected = {(m, b, n) for m in (TEACHER, "resnet8", "vit_tiny_patch16_224") for b in BACKENDS for n in (1, 4)}
    expected |= {(NAIVE, "torch", 1), (NAIVE, "torch", 4)}
    assert got == expected
    for record in records:
        assert KEYS <= set(record)
        assert record["latency_ms_p50"] > 0 and record["latency_ms_p95"] >= record["latency_ms_p50"]
        assert record["throughput_ips"] == pytest.approx(record["batch"] * 1000 / record["latency_ms_p50"], rel=1e-3)
        assert record["latency_ms_p10"] <= record["latency_ms_p50"] <= record["latency_ms_p90"]
        assert record["rounds"] >= (3 if record["batch"] == 1 else 1)  # --rounds is the least, a budget adds
        blocks = record["block_p50_ms"]  # one median per timing block it had calls in
        assert len(blocks) <= 5 and sum(m is not None for m in blocks) == min(record["rounds"], len(blocks))
    for key in ("cpu", "cores", "threads", "torch", "onnxruntime", "load_avg_1_5_15"):
        assert key in result["machine"]
    threads = result["machine"]["thread_settings"]  # what the timing ran with, recorded
    assert threads["method"] == "blocks" and threads["torch_intra_op"] == 1 and threads["ort_intra_op"] == 1
    assert threads["budget_b1_s"] == 0.05 and result["settings"]["timing_method"] == "blocks"


def test_speedups_params_and_flops_are_consistent(bench_run):
    result, _ = bench_run
    index = {(r["model"], r["backend"], r["batch"]): r for r in result["records"]}
    for (_, backend, batch), record in index.items():
        teacher = index[(TEACHER, backend, batch)]
        assert record["speedup_vs_teacher"] == pytest.approx(teacher["latency_ms_p50"] / record["latency_ms_p50"], abs=0.01)
    student = create_model("resnet8", embed_dim=64, image_size=64)
    assert index[("resnet8", "torch", 1)]["params"] == sum(p.numel() for p in student.parameters())
    # The naive teacher also runs the text tower: more parameters and more FLOPs than the cached one.
    assert index[(NAIVE, "torch", 1)]["params"] > index[(TEACHER, "torch", 1)]["params"]
    assert index[(NAIVE, "torch", 1)]["gflops"] > index[(TEACHER, "torch", 1)]["gflops"]
    assert index[("resnet8", "ort-fp32", 1)]["parity_max_abs_logit_diff"] < 1e-4
    assert index[("resnet8", "ort-int8", 1)]["quantization"] == "static"
    assert index[("vit_tiny_patch16_224", "ort-int8", 1)]["quantization"] == "dynamic"
    assert 0.0 <= index[("resnet8", "ort-int8", 1)]["int8_agreement"] <= 1.0


def test_markdown_lists_every_model(bench_run):
    _, markdown = bench_run
    for name in (TEACHER, NAIVE, "resnet8", "vit_tiny_patch16_224"):
        assert f"| {name} |" in markdown
    assert "Machine:" in markdown and "FlopCounterMode" in markdown and "Stability within the run" in markdown

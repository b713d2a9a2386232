"""The tables of ``facetrust bench`` and ``time_models`` (Markdown), and the record vocabulary they
read: backends, the teacher's name. Kept apart from ``bench`` so that the timing and its report each
stay one screen."""

from __future__ import annotations

from typing import Any

BACKENDS = ("torch", "ort-fp32", "ort-int8")
TEACHER, NAIVE = "teacher", "teacher-naive"


def _cell(record: dict[str, Any] | None, key: str, fmt: str) -> str:
    if record is None:
        return "—"
    speedup = record.get("speedup_vs_teacher")
    return f"{format(record[key], fmt)} (×{speedup:g})" if speedup is not None else format(record[key], fmt)


def _spread(record: dict[str, Any]) -> str:
    """"[p10–p90]" of a record (older records without p10: "p95 X")."""
    if "latency_ms_p10" in record:
        return f"[{record['latency_ms_p10']:.2f}–{record['latency_ms_p90']:.2f}]"
    return f"p95 {record['latency_ms_p95']:.2f}"


def _method_text(settings: dict[str, Any]) -> str:
    method = settings.get("timing_method", "phased")
    rounds = f"{settings['rounds_b1']} at batch 1" + (f", {settings['rounds_bn']} at batch {settings['batch']}"
                                                      if settings["rounds_bn"] > 0 else " (no throughput batch)")
    if method == "interleaved":
        return f"Rounds: {rounds}, interleaved round-robin (PyTorch and ORT alternating call by call, ORT spinning off)."
    if method == "phased":
        return (f"Rounds: {rounds}, one backend at a time (PyTorch and ORT never run together), models "
                "round-robin within a backend, backends alternating in 3 blocks (facetrust.export.timing).")
    budget = f"{settings['budget_b1_s']:g} s at batch 1" + (
        f", {settings['budget_bn_s']:g} s at batch {settings['batch']}" if settings["rounds_bn"] > 0 else "")
    return (f"Each (model, backend) timed alone in stretches of consecutive calls, as a deployed process runs "
            f"it, ORT spinning on (its default): timed calls per model at least {rounds}, more to fill {budget}; "
            f"{settings['blocks']} blocks, models in rotating order, waiting between stretches until the "
            "previous model's threads stop spinning (facetrust.export.timing).")


def _stability_lines(records: list[dict[str, Any]]) -> list[str]:
    """Within-run stability at batch 1: how far each figure and each speed-up moved between blocks."""
    rows = [r for r in records if r["batch"] == 1 and r.get("block_p50_spread") is not None]
    if not rows:
        return []
    lines = ["", "Stability within the run (batch 1): the medians of the timing blocks, and the speed-up over the "
             "teacher block by block:", "", "| model | backend | rounds | block medians ms | spread | speed-up range |",
             "|---|---|---:|---|---:|---:|"]
    for r in rows:
        medians = ", ".join("—" if m is None else f"{m:.2f}" for m in r["block_p50_ms"])
        span = None if r["model"] == TEACHER else r.get("speedup_block_range")
        lines.append(f"| {r['model']} | {r['backend']} | {r['rounds']} | {medians} | {r['block_p50_spread']:.1%} | "
                     + ("—" if not span else f"×{span[0]:g}–{span[1]:g}") + " |")
    return lines


def render_markdown(result: dict[str, Any]) -> str:
    """Markdown tables (latency at batch 1, throughput at batch N, INT8 agreement) with the machine."""
    records, machine, settings = result["records"], result["machine"], result["settings"]
    index = {(r["model"], r["backend"], r["batch"]): r for r in records}
    models = list(dict.fromkeys(r["model"] for r in records))
    batch = settings["batch"]
    first = {m: next(r for r in records if r["model"] == m) for m in models}
    load = ", ".join(f"{v:.2f}" for v in machine["load_avg_1_5_15"])
    lines = [
        f"Machine: {machine['cpu']}, {machine['cores']} cores, {machine['threads']} thread(s) for PyTorch "
        f"and ONNX Runtime; torch {machine['torch']}, onnxruntime {machine['onnxruntime']}, Python "
        f"{machine['python']}; load average at start {load}"
        + (f", after {', '.join(f'{v:.2f}' for v in machine['load_avg_after'])}" if machine.get("load_avg_after") else "")
        + "; "
        f"{machine['date_utc']} UTC. Teacher: FLIP-IT on CLIP {settings['clip']} at "
        f"{settings.get('image_size', '?')} px, random weights. " + _method_text(settings),
        "",
        "GFLOPs: matmul/conv FLOPs of one image counted by torch.utils.flop_counter.FlopCounterMode "
        "(2 FLOPs per multiply-add). (×N) = speed-up over the teacher on the same backend; [a–b] = p10–p90.",
        "",
        "| model | params (M) | GFLOPs | PyTorch p50 ms | ORT FP32 p50 ms | ORT INT8 p50 ms |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for m in models:
        cells = []
        for backend in BACKENDS:
            r = index.get((m, backend, 1))
            cells.append("—" if r is None else f"{_cell(r, 'latency_ms_p50', '.2f')} {_spread(r)}")
        lines.append(f"| {m} | {first[m]['params'] / 1e6:.2f} | {first[m]['gflops']:.2f} | " + " | ".join(cells) + " |")
    lines += _stability_lines(records)
    if any(r["batch"] == batch for r in records):  # rounds_bn = 0: latency only
        lines += ["", f"Throughput at batch {batch} (images/s):", "",
                  "| model | PyTorch | ORT FP32 | ORT INT8 |", "|---|---:|---:|---:|"]
        for m in models:
            cells = [_cell(index.get((m, backend, batch)), "throughput_ips", ".1f") for backend in BACKENDS]
            lines.append(f"| {m} | " + " | ".join(cells) + " |")
    lines += ["", "INT8 (ONNX Runtime) vs FP32:", "",
              "| model | quantization | INT8 / FP32 latency (batch 1) | decision agreement | ONNX MB FP32 → INT8 |",
              "|---|---|---:|---:|---:|"]
    for m in models:
        fp32, int8 = index.get((m, "ort-fp32", 1)), index.get((m, "ort-int8", 1))
        if fp32 is None or int8 is None:
            continue
        ratio = int8["latency_ms_p50"] / fp32["latency_ms_p50"]
        agreement = ("not measured" if int8["int8_agreement"] is None
                     else f"{int8['int8_agreement']:.2%} ({int8['agreement_samples']} images)")
        front = int8.get("int8_front")
        scheme = int8["quantization"] + (f", front {front}" if front in ("fp32", "int8") else "")
        lines.append(f"| {m} | {scheme} | {ratio:.2f} | {agreement} | "
                     f"{fp32['onnx_mb']} → {int8['onnx_mb']} |")
    lines += ["", f"Agreement: {next((r['agreement_images'] for r in records if 'agreement_images' in r), '')}."]
    return "\n".join(lines) + "\n"


def time_models_markdown(result: dict[str, Any]) -> str:
    """Markdown table of ``time_models``: params, GFLOPs, FPS at batch 1 and N on PyTorch and ORT FP32."""
    index = {(r["model"], r["backend"], r["batch"]): r for r in result["records"]}
    models = list(dict.fromkeys(r["model"] for r in result["records"]))
    batch = max(r["batch"] for r in result["records"])
    m = result["machine"]
    lines = [f"Machine: {m['cpu']}, {m['cores']} cores, {m['threads']} threads; torch {m['torch']}, onnxruntime "
             f"{m['onnxruntime']}; load average {', '.join(f'{v:.2f}' for v in m['load_avg_1_5_15'])} at start, "
             f"{', '.join(f'{v:.2f}' for v in m.get('load_avg_after', []))} after; {m['date_utc']} UTC. "
             "FPS = images/s at the p50 latency; (xN) = speed-up over the first row on the same backend and batch.", "",
             f"| model | input | params (M) | GFLOPs | PyTorch FPS b1 | ORT FPS b1 | PyTorch FPS b{batch} | ORT FPS b{batch} |",
             "|---|---|---:|---:|---:|---:|---:|---:|"]
    for name in models:
        cells = [f"{index[(name, backend, b)]['fps']:.1f} (x{index[(name, backend, b)]['speedup_vs_first']:g})"
                 for b in (1, batch) for backend in ("torch", "ort-fp32")]
        first = index[(name, "torch", 1)]
        lines.append(f"| {name} | {first['input']} | {first['params'] / 1e6:.3f} | {first['gflops']:.3f} | "
                     + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"

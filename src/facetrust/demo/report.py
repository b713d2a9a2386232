"""The demo's ``report.html`` and its terminal summary, both built from the same step results."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from facetrust.demo.html import Section, render

SUMMARY_METRICS = ("hter", "auc", "tpr@fpr=1%", "apcer", "bpcer", "acer")


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.2f}"


def summary_rows(results: dict[str, Any], level: str = "frame") -> list[dict[str, Any]]:
    """One row per model: held-out-domain metrics (in %) at the eer@val threshold, size and speed."""
    rows = []
    speed = {(r["model"], r["backend"]): r for r in results["bench"]["records"] if r["batch"] == 1}
    for role in ("teacher", "student"):
        evaluation = results["evaluate"][role]
        metrics = evaluation["result"]["levels"][level]["metrics"]
        fastest = speed.get((role, "ort-int8")) or speed[(role, "ort-fp32")]
        rows.append({
            "model": f"{role} ({'FLIP-IT clip-tiny' if role == 'teacher' else 'MobileNetV3-S, distilled'})",
            "input": speed[(role, "torch")]["input"],
            **{f"{name.upper()} %": _pct(metrics.get(name)) for name in SUMMARY_METRICS},
            "params (M)": f"{evaluation['params'] / 1e6:.2f}",
            "ORT b1 ms": f"{speed[(role, 'ort-fp32')]['latency_ms_p50']:.2f}",
            "best b1 ms": f"{fastest['latency_ms_p50']:.2f} ({fastest['backend']})",
        })
    return rows


def real_size_speedup(results: dict[str, Any]) -> str:
    """One sentence: the student's speed-up over the ViT-B/16 teacher at 224 px (ORT FP32, batch 1)."""
    records = {(r["model"], r["backend"], r["batch"]): r for r in results["bench_real"]["records"]}
    teacher = records[("teacher", "ort-fp32", 1)]
    student = next(r for (m, b, n), r in records.items() if m not in ("teacher", "teacher-naive")
                   and b == "ort-fp32" and n == 1)
    return (f"At 224 px, ONNX Runtime FP32, batch 1: the FLIP teacher on ViT-B/16 ({teacher['params'] / 1e6:.1f}M "
            f"params) takes {teacher['latency_ms_p50']:.1f} ms, the {student['model']} student "
            f"({student['params'] / 1e6:.2f}M) {student['latency_ms_p50']:.2f} ms: "
            f"x{student['speedup_vs_teacher']:g} faster.")


def terminal_summary(results: dict[str, Any]) -> str:
    """A fixed-width table of ``summary_rows`` for the terminal (same numbers as the report)."""
    rows = summary_rows(results)
    columns = list(rows[0])
    widths = [max(len(c), *(len(str(r[c])) for r in rows)) for c in columns]
    line = "  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True))
    body = ["  ".join(str(r[c]).ljust(w) for c, w in zip(columns, widths, strict=True)) for r in rows]
    target = results["evaluate"]["teacher"]["result"]["domain"]
    title = f"facetrust demo: held-out domain '{target}', frame level, threshold eer@val (source validation)"
    return "\n".join([title, line, "-" * len(line), *body, real_size_speedup(results)])


def _metric_rows(results: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for role in ("teacher", "student"):
        result = results["evaluate"][role]["result"]
        for level, data in result["levels"].items():
            row: dict[str, Any] = {"model": role, "level": level, "threshold": f"{data['threshold']:.4f}"}
            for name in (*SUMMARY_METRICS, "eer"):
                value = data["metrics"].get(name)
                interval = data["intervals"].get(name)
                cell = _pct(value)
                if interval:
                    cell += f" [{_pct(interval[0])}, {_pct(interval[1])}]"
                row[f"{name.upper()} %"] = cell
            rows.append(row)
    return rows


def _species_rows(results: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for role in ("teacher", "student"):
        metrics = results["evaluate"][role]["result"]["levels"]["frame"]["metrics"]
        species = {k[6:-1]: v for k, v in metrics.items() if k.startswith("apcer[")}
        rows.append({"model": role, **{f"APCER {s} %": _pct(v) for s, v in species.items()},
                     "BPCER %": _pct(metrics["bpcer"])})
    return rows


def _bench_rows(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{
        "model": r["model"], "backend": r["backend"], "input": r.get("input", "224x224"), "batch": r["batch"],
        "p50 ms": r["latency_ms_p50"], "p95 ms": r["latency_ms_p95"], "images/s": r["throughput_ips"],
        "params": r["params"], "GFLOPs": r["gflops"],
        "speed-up vs teacher": "" if r["speedup_vs_teacher"] is None else f"x{r['speedup_vs_teacher']}",
    } for r in records]


def _export_rows(results: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for role, summary in results["export"].items():
        fp32 = summary["fp32"]
        rows.append({"model": role, "precision": "FP32", "exporter": fp32.get("exporter", ""),
                     "check": f"max |logit diff| vs PyTorch {fp32['parity']['max_abs_logit_diff']:.2e} "
                              f"on {fp32['parity']['samples']} images"})
        if "int8" in summary:
            agreement = summary["int8"]["agreement_with_fp32"]
            mode = summary["int8"]["quantization"].get("mode", "")
            noise = agreement.get("fp32_pixel_noise_agreement")  # absent in steps saved by older versions
            floor = "" if noise is None else f" (FP32 with itself under ±1-level pixel noise: {100 * noise:.2f}%)"
            rows.append({"model": role, "precision": f"INT8 ({mode})", "exporter": fp32.get("exporter", ""),
                         "check": f"decisions agree with FP32 on {100 * agreement['agreement']:.2f}% of "
                                  f"{agreement['samples']} held-out images{floor}"})
    return rows


def build_report(results: dict[str, Any], timings: dict[str, float], settings: Any, path: Path) -> Path:
    """Write the self-contained HTML report and return its path."""
    import yaml

    data, evaluation = results["data"], results["evaluate"]
    target = evaluation["teacher"]["result"]["domain"]
    sources = [d for d in data["domains"] if d != target]
    sections = []

    summary = Section("summary", "Summary")
    summary.text(f"A FLIP-IT teacher (CLIP, tiny configuration, random initialisation) was trained on the "
                 f"capture domains {', '.join(sources)} of fas-sim and distilled into a MobileNetV3-Small student; "
                 f"both are tested on the unseen domain '{target}'. Thresholds were chosen on source-domain "
                 "validation data (eer@val), never on the test domain.")
    summary.table(summary_rows(results), "Held-out domain, frame level (%). Lower HTER/APCER/BPCER/ACER is better.")
    summary.text(real_size_speedup(results))
    sections.append(summary)

    data_section = Section("data", "Data: fas-sim")
    data_section.text(f"{data['images']} frames from {data['videos']} videos of {data['subjects']} subjects "
                      f"(LFW faces shipped with scikit-image), subjects disjoint across the domains "
                      f"{', '.join(data['domains'])}. Each domain is a simulated camera; attacks are prints and "
                      "screen replays of the same faces.")
    data_section.image(data["grid"], "Rows: capture domains; columns: live frames, then each attack species.")
    data_section.table(data["counts"], "Frames per domain and attack type")
    sections.append(data_section)

    honest = Section("evaluation", "Honest evaluation")
    honest.text("The operating threshold is the EER point of the source domains' held-out validation split "
                "(eer@val); the checkpoint is chosen by validation AUC on the same split. The target domain is "
                "used only for the numbers below. Intervals are bootstrap 95% over test videos.")
    honest.table(_metric_rows(results), "Frame and video level (mean score per video), with 95% intervals")
    honest.table(_species_rows(results), "ISO/IEC 30107-3 error rates per attack species (frame level)")
    sections.append(honest)

    curves = Section("curves", "ROC, DET and score histograms")
    for role in ("teacher", "student"):
        report = evaluation[role]["report"]
        for key, caption in (("roc", "ROC"), ("det", "DET"), ("histograms", "score histograms per species")):
            curves.image(report[key], f"{role}: {caption} on '{target}'")
    sections.append(curves)

    export = Section("export", "ONNX export")
    export.table(_export_rows(results), "Every export is checked against PyTorch on real fas-sim frames")
    sections.append(export)

    speed = Section("speed", "Speed")
    machine = results["bench"]["machine"]
    speed.text(f"Measured in one run, each model alone in blocks of calls, on {machine.get('cpu', 'this machine')} with "
               f"{machine.get('threads', '?')} threads; each model at its own input size. The teacher here is "
               "the demo's tiny CLIP; `facetrust bench` times the real ViT-B/16 teacher at 224 px against the "
               "students (docs/results.md). INT8 speed-ups are against the teacher's FP32 ONNX.")
    speed.table(_bench_rows(results["bench"]["records"]), "The demo's models: latency (batch 1) and throughput (batch 32)")
    real = results["bench_real"]
    speed.text(f"At deployment size: FLIP on CLIP ViT-B/16 at 224 px (random weights; the architecture sets the "
               f"speed) against the {real['settings']['students'][0]} architecture at 224 px, "
               f"at batch 1 (at least {real['settings']['rounds_b1']} calls per model, more within a time budget for "
               "a fast model; each model timed alone in blocks); teacher-naive re-encodes the 12 prompts on "
               "every call, which is what caching the class text embeddings saves.")
    speed.table(_bench_rows(real["records"]), "Real-size architectures (facetrust bench)")
    sections.append(speed)

    explain = Section("explain", "Explanations")
    explain.text("Heatmaps of the evidence for each sample's true class: CLIP relevance (Chefer et al. 2021) and "
                 "Grad-CAM for the teacher, Grad-CAM for the student.")
    explain.image(results["explain"]["figure"], "Held-out-domain frames: live, print, replay")
    sections.append(explain)

    if results.get("clip", {}).get("enabled"):  # CLIP pretraining (demo/clip_step.py, --clip-pretrain)
        from facetrust.demo.clip_step import clip_section

        sections.append(clip_section(results["clip"]))

    if "deepfake" in results:  # the second trust task (demo/deepfake_step.py)
        from facetrust.demo.deepfake_step import deepfake_section

        sections.append(deepfake_section(results["deepfake"]))

    if "face" in results:  # the third trust question: whose face (demo/face_step.py)
        from facetrust.demo.face_step import face_section

        sections.append(face_section(results["face"]))

    if "claims" in results:  # claim verification (demo/claims_step.py)
        from facetrust.demo.claims_step import claims_section

        sections.append(claims_section(results["claims"]))

    configs = Section("configs", "Resolved configs and timings")
    configs.table([{"step": k, "seconds": v} for k, v in timings.items()], "Wall-clock time of each step")
    for role in ("teacher", "student"):
        configs.text(f"{role} config")
        configs.code(yaml.safe_dump(results[role]["config"], sort_keys=False))
    sections.append(configs)

    size = "test-sized run (numbers mean nothing)" if settings.tiny else "quick run" if settings.quick else "full run"
    html = render("facetrust demo report", f"fas-sim leave-one-domain-out, target '{target}'; {size}", sections)
    from facetrust import atomic

    atomic.write_text(path, html)  # a killed run leaves the previous report, never half of one
    return path

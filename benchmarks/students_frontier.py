"""The students' accuracy/speed frontier on fas-sim leave-one-domain-out, in one run.

Every student is distilled under the same recipe (KD-KL, T=4, from that fold's FLIP-IT clip-tiny teacher;
the recipe and data of ``benchmarks/distill_compare.py``, whose phases and resumable runs this reuses) on
every fold and seed. Per student: held-out HTER and AUC (frame level, threshold eer@val on source
validation: honest), params, GFLOPs, and ONNX Runtime latency at batch 1, FP32 and INT8, on 1 and 2
threads, at 224 px (the architecture; random weights, as the speed needs no training) and at the trained
input size (the fold-0/seed-0 checkpoint), plus the precision ``facetrust export --precision auto`` ships
for the trained checkpoint and why. Reference rows in the same run: the ViT-B/16 FLIP-IT image tower at
224 px (the 100x goal), the clip-tiny teacher at its size, and Silent-Face's MiniFASNetV2 + V1SE fusion at
80x80 (speed, and its fas-sim AUC with no training: whole image resized, as
``benchmarks/minifasnet_fas_sim.py --presentations whole``). Timing: ``facetrust.export.timing`` (ORT only,
each file alone in blocks of calls, blocks in rotating order). Writes ``OUT/frontier.json``, ``OUT/frontier.md`` and ``OUT/frontier.png`` (AUC vs
ms, Pareto front marked).

    .venv/bin/python benchmarks/students_frontier.py --out runs/students_frontier \\
        [--seeds 0 1 2] [--iterations 300] [--student-size 64] [--students a,b,...] [--results-md docs/results.md]
Smoke: ``--targets webcam --seeds 0 --students resnet8,mobilenetv2_100 --iterations 5 --teacher-iterations 5
--subjects 4 --rounds 5``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import distill_compare as dc  # noqa: E402  (the shared recipe, runner and summaries)

BASELINES = ("resnet8", "mobilenetv3_small_100", "mobilenetv3_large_100")
DEFAULT_RECIPE = "KD-KL (T=4)"  # a distill_compare method, fixed a priori: no tuning on any target domain
SILENT_FACE = ("2.7_80x80_MiniFASNetV2.pth", "4_0_0_80x80_MiniFASNetV1SE.pth")


def default_students() -> list[str]:
    from facetrust.models.students import EDGE_STUDENTS

    return list(dict.fromkeys([*BASELINES, *EDGE_STUDENTS]))


def configure(args) -> None:
    """fas-sim size and folds for ``distill_compare``'s config builders."""
    original = dc.data_section

    def data_section(run_args):
        section = original(run_args)
        section["fas_sim"].update(subjects_per_domain=args.subjects, dir=str(Path(args.out) / f"fas-sim-{args.subjects}"))
        return section

    dc.data_section = data_section


def with_targets(config, targets):
    if targets:
        config.protocol.targets = list(targets)
    return config


def train(args, students: list[str]) -> None:
    from facetrust.tasks.distill import check_config, distill_one
    from facetrust.tasks.fas import train_one

    out = Path(args.out)
    teacher = with_targets(dc.teacher_config(args), args.targets)
    if args.teacher_pretrained:  # the demo's teacher: FLIP-IT from clip-tiny pretrained on the captioned corpus
        teacher.model.pretrained = str(Path(args.teacher_pretrained).resolve())
    dc.run_all(teacher, train_one, out / "teacher")
    recipe = dc.METHODS[args.recipe]
    for name in students:
        run_args = argparse.Namespace(**{**vars(args), "student": name})
        config = with_targets(dc.student_config(run_args, recipe, out / "students" / dc.slug(name)), args.targets)
        check_config(config)
        dc.run_all(config, distill_one, out / "students" / dc.slug(name))


def manifest_of(args) -> Path:
    return next((Path(args.out) / f"fas-sim-{args.subjects}").rglob("manifest.csv"))


def ort_latency(model, calib: Path, work: Path, threads: list[int], rounds: int, int8: bool = True) -> dict:
    """ORT FP32 (and INT8) ms at batch 1 for each thread count; params and GFLOPs of ``model``."""
    import torch

    from facetrust.export.artifacts import load_sample_images
    from facetrust.export.bench import count_gflops
    from facetrust.export.onnx import export_onnx
    from facetrust.export.quantize import quantize_int8
    from facetrust.export.timing import time_onnx_files
    from facetrust.predictor import preprocess_images

    model = model.eval()
    images, _ = load_sample_images(calib, 32, seed=1, splits=("train",), model=model)
    batch = preprocess_images(images, model.preprocess)
    paths = {"fp32": work / "model.onnx"}
    export_onnx(model, paths["fp32"], exporter="torchscript")
    if int8:
        paths["int8"] = work / "int8" / "model.onnx"
        quantize_int8(paths["fp32"], paths["int8"], calibration=batch)
    row = {"input": "x".join(map(str, model.preprocess["input_size"][1:])),
           "params": sum(p.numel() for p in getattr(model, "visual", model).parameters()),
           "gflops": round(count_gflops(model, torch.from_numpy(batch[:1])), 4)}
    for t in threads:
        ms = time_onnx_files(paths, batch[:1], rounds=rounds, threads=t)
        row.update({f"{precision}_ms_{t}t": round(v, 3) for precision, v in ms.items()})
    return row


def shipped_precision(checkpoint: Path, calib: Path, work: Path, threads: int) -> dict:
    """What ``facetrust export --precision auto`` ships for a trained checkpoint here, and why."""
    from facetrust.export.onnx import export_checkpoint

    summary = export_checkpoint(checkpoint, work, calib=calib, precision="auto", exporter="torchscript", threads=threads,
                                agreement_samples=128, calib_samples=32, log=lambda m: None)
    return {k: summary["shipped"].get(k) for k in ("shipped", "reason", "fp32_ms", "int8_ms", "int8_flips",
                                                   "fp32_pixel_noise_flips", "val_samples")}


def silent_face(args, calib: Path, work: Path, threads: list[int]) -> dict | None:
    """MiniFASNetV2 + V1SE fusion: speed at 80x80 and fas-sim AUC with no training (whole image)."""
    weights = Path(args.silent_face_weights)
    if not all((weights / w).is_file() for w in SILENT_FACE):
        print(f"Silent-Face weights not in {weights}: anchor row skipped", flush=True)
        return None
    import minifasnet_fas_sim as mf

    import facetrust
    from facetrust.checkpoint import load_model
    from facetrust.data import read_image, read_manifest
    from facetrust.faces.crop import checkpoint_crop
    from facetrust.models.minifasnet import from_released_weights

    checkpoint = facetrust.save(from_released_weights([weights / w for w in SILENT_FACE]), work / "ckpt")
    model = load_model(checkpoint)
    df = read_manifest(calib)
    test = df[df["split"] == "test"]
    scores = mf.score_images(model, checkpoint_crop(model.checkpoint_config, model.preprocess),
                             [read_image(p) for p in test["abs_path"]], [None] * len(test))
    row = ort_latency(model, calib, work / "onnx", threads, args.rounds)
    row.update(auc=mf.auc_or_none(scores["fusion"], test["label"].to_numpy()), auc_images=int(len(test)),
               auc_note="no training; whole image resized to 80x80, test split of every domain")
    return row


def accuracy(folder: Path) -> dict:
    records = dc.collect(folder)
    if not records:
        return {"runs": 0}
    stats = dc.summarise(records)
    return {"runs": len(records), **{f"{k}_mean": round(m, 3) for k, (m, _, _) in stats.items()},
            **{f"{k}_std": round(s, 3) for k, (_, s, _) in stats.items()}, "checkpoint": records[0]["checkpoint"]}


def measure(args, students: list[str]) -> dict:
    import torch

    import facetrust
    from facetrust.export.timing import machine_info, thread_settings

    threads = [int(t) for t in args.threads.split(",")]
    torch.set_num_threads(1)
    calib = manifest_of(args)
    result = {"machine": machine_info(max(threads)), "thread_settings": thread_settings(max(threads), "ORT only"),
              "settings": {k: v for k, v in vars(args).items()}, "rows": {}}
    out = Path(args.out)
    with tempfile.TemporaryDirectory(prefix="frontier-") as tmp:
        work = Path(tmp)
        teacher = facetrust.create_model("flip_it", clip="ViT-B-16", text_tower=False)
        result["rows"]["FLIP-IT ViT-B/16 (image tower)"] = {
            "kind": "teacher-224", **ort_latency(teacher, calib, work / "vitb16", threads, args.rounds, int8=args.teacher_int8)}
        del teacher
        tiny = accuracy(out / "teacher")
        row = {"kind": "teacher-trained", **tiny}
        if tiny.get("checkpoint"):
            row.update(ort_latency(facetrust.load_model(tiny["checkpoint"]), calib, work / "tiny", threads, args.rounds))
        result["rows"]["FLIP-IT clip-tiny (teacher)"] = row
        for name in students:
            print(f"measuring {name}", flush=True)
            model = facetrust.create_model(name, embed_dim=512, image_size=224)
            row = {"kind": "student", **accuracy(out / "students" / dc.slug(name)),
                   "at_224": ort_latency(model, calib, work / dc.slug(name) / "224", threads, args.rounds)}
            if row.get("checkpoint"):
                trained = facetrust.load_model(row["checkpoint"])
                row["at_trained_size"] = ort_latency(trained, calib, work / dc.slug(name) / "trained", threads, args.rounds)
                row["precision"] = shipped_precision(Path(row["checkpoint"]), calib, work / dc.slug(name) / "export",
                                                     min(threads))
            result["rows"][name] = row
        anchor = silent_face(args, calib, work / "silent-face", threads)
        if anchor:
            result["rows"]["Silent-Face MiniFASNetV2+V1SE"] = {"kind": "anchor", **anchor}
    result["machine"]["load_avg_after"] = list(__import__("os").getloadavg())
    return result


def _ms(row: dict, precision: str, t: int) -> str:
    value = row.get(f"{precision}_ms_{t}t")
    return "—" if value is None else f"{value:.2f}"


def markdown(result: dict) -> str:
    rows, t = result["rows"], [int(x) for x in result["settings"]["threads"].split(",")]
    vit = rows["FLIP-IT ViT-B/16 (image tower)"]
    teacher = rows["FLIP-IT clip-tiny (teacher)"]
    m = result["machine"]
    lines = [f"Machine: {m['cpu']}, {m['cores']} cores; torch {m['torch']}, onnxruntime {m['onnxruntime']}; load "
             f"average {', '.join(f'{v:.2f}' for v in m['load_avg_1_5_15'])} at start, "
             f"{', '.join(f'{v:.2f}' for v in m.get('load_avg_after', []))} after; {m['date_utc']} UTC. "
             "ORT batch 1, median latency, each model timed alone in blocks of calls (facetrust.export.timing). AUC/HTER: frame level, "
             "eer@val threshold, mean ± std over folds x seeds.", "",
             "| model | runs | AUC % | HTER % | params (M) | GFLOPs 224 | " + " | ".join(
                 f"FP32 ms {x}t | INT8 ms {x}t" for x in t) + f" | x ViT-B/16 (FP32 {t[0]}t) | shipped (trained size) |",
             "|---|---:|---:|---:|---:|---:|" + "---:|---:|" * len(t) + "---:|---|"]
    for name, row in rows.items():
        speed = row.get("at_224", row)
        auc = f"{row['auc_mean']:.2f} ± {row['auc_std']:.2f}" if "auc_mean" in row else (
            f"{100 * row['auc']:.2f} (no training)" if row.get("auc") is not None else "—")
        hter = f"{row['hter_mean']:.2f} ± {row['hter_std']:.2f}" if "hter_mean" in row else "—"
        base = speed.get(f"fp32_ms_{t[0]}t")
        ratio = f"x{vit[f'fp32_ms_{t[0]}t'] / base:.1f}" if base else "—"
        shipped = row.get("precision", {}).get("shipped", "—")
        cells = " | ".join(f"{_ms(speed, 'fp32', x)} | {_ms(speed, 'int8', x)}" for x in t)
        lines.append(f"| {name} ({speed.get('input', '?')}) | {row.get('runs', '—')} | {auc} | {hter} | "
                     f"{speed.get('params', 0) / 1e6:.2f} | {speed.get('gflops', float('nan')):.3f} | {cells} | {ratio} | {shipped} |")
    lines += ["", "At the trained input size, and the precision `facetrust export --precision auto` ships:", "",
              "| student | input | " + " | ".join(f"FP32 ms {x}t | INT8 ms {x}t" for x in t)
              + " | shipped | INT8 flips / FP32 noise flips (val) | reason |", "|---|---|" + "---:|---:|" * len(t) + "---|---|---|"]
    for name, row in rows.items():
        trained, choice = row.get("at_trained_size"), row.get("precision")
        if trained and choice:
            cells = " | ".join(f"{_ms(trained, 'fp32', x)} | {_ms(trained, 'int8', x)}" for x in t)
            lines.append(f"| {name} | {trained['input']} | {cells} | {choice['shipped']} | "
                         f"{choice.get('int8_flips')} / {choice.get('fp32_pixel_noise_flips')} of {choice.get('val_samples')} | "
                         f"{choice['reason']} |")
    if "auc_mean" in teacher:
        lines += ["", f"Goal: >= 100x faster than ViT-B/16 (ORT FP32, batch 1, 224 px, {t[0]} thread), AUC within 2 "
                  f"points of the teacher ({teacher['auc_mean']:.2f}) and HTER <= the teacher's ({teacher['hter_mean']:.2f}):", ""]
        for name, row in rows.items():
            if row.get("kind") == "student" and "auc_mean" in row:
                speedup = vit[f"fp32_ms_{t[0]}t"] / row["at_224"][f"fp32_ms_{t[0]}t"]
                met = speedup >= 100 and row["auc_mean"] >= teacher["auc_mean"] - 2 and row["hter_mean"] <= teacher["hter_mean"]
                lines.append(f"- {name}: x{speedup:.1f}, AUC {row['auc_mean'] - teacher['auc_mean']:+.2f}, HTER "
                             f"{row['hter_mean'] - teacher['hter_mean']:+.2f} points: {'met' if met else 'not met'}")
    return "\n".join(lines) + "\n"


def plot(result: dict, path: Path) -> None:
    """Students' AUC vs ORT FP32 ms (224 px, first thread count) with their Pareto front (lower ms, higher
    AUC) joined; the teacher's AUC and the goal (within 2 points of it, >= 100x faster than ViT-B/16) as
    reference lines, since the teacher's own speed is at its 64 px, not 224."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = result["settings"]["threads"].split(",")[0]
    rows = result["rows"]
    points = []
    for name, row in rows.items():
        speed = row.get("at_224", row)
        auc = row.get("auc_mean", 100 * row["auc"] if row.get("auc") is not None else None)
        if auc is not None and speed.get(f"fp32_ms_{t}t") and row.get("kind") in ("student", "anchor"):
            points.append((speed[f"fp32_ms_{t}t"], auc, name, row["kind"]))
    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    for ms, auc, name, _ in points:
        ax.scatter(ms, auc)
        ax.annotate(name, (ms, auc), fontsize=7, xytext=(3, 3), textcoords="offset points")
    front, best = [], -1.0
    for ms, auc, _, kind in sorted(points):
        if auc > best and kind == "student":
            front.append((ms, auc))
            best = auc
    if len(front) > 1:
        ax.plot(*zip(*front, strict=True), "--", color="grey", label="students' Pareto front")
    teacher = rows.get("FLIP-IT clip-tiny (teacher)", {})
    if "auc_mean" in teacher:
        ax.axhline(teacher["auc_mean"], color="tab:blue", lw=1, label=f"teacher AUC {teacher['auc_mean']:.1f}")
        ax.axhline(teacher["auc_mean"] - 2, color="tab:blue", lw=1, ls=":", label="goal: within 2 points")
    vit = rows.get("FLIP-IT ViT-B/16 (image tower)", {}).get(f"fp32_ms_{t}t")
    if vit:
        ax.axvline(vit / 100, color="tab:red", lw=1, ls=":", label=f"goal: 100x ViT-B/16 ({vit / 100:.2f} ms)")
    ax.legend(fontsize=7, loc="center right")
    ax.set_xscale("log")
    ax.set_xlabel(f"ORT FP32 ms, batch 1, {t} thread(s) (students at 224 px; Silent-Face anchor at 80x80)")
    ax.set_ylabel("held-out AUC % (fas-sim LOO)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="runs/students_frontier")
    parser.add_argument("--students", default=None, help="comma-separated (default: baselines + EDGE_STUDENTS)")
    parser.add_argument("--targets", nargs="*", default=None, help="held-out domains (default: every fold)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--teacher-seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--iterations", type=int, default=300)
    parser.add_argument("--teacher-iterations", type=int, default=300)
    parser.add_argument("--teacher-pretrained", metavar="CLIP_SAFETENSORS",
                        help="start the FLIP-IT teachers from this pretrained clip-tiny (as the demo does), "
                             "e.g. a `task: clip` run's clip.safetensors")
    parser.add_argument("--recipe", choices=list(dc.METHODS), default=DEFAULT_RECIPE,
                        help=f"the distill_compare method every student is distilled with (default {DEFAULT_RECIPE!r}; "
                             "the demo's is 'combination (KL+FD+CRD+RKD-d)')")
    parser.add_argument("--student-size", type=int, default=64, help="student input size (the teacher's: 64)")
    parser.add_argument("--subjects", type=int, default=25, help="fas-sim subjects per domain")
    parser.add_argument("--threads", default="1,2", help="ORT thread counts to time (default 1,2)")
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--teacher-int8", action="store_true", help="also quantize ViT-B/16 (minutes)")
    parser.add_argument("--silent-face-weights", default=str(HERE.parent.parent / "shared" / "real" / "silent-face" / "weights"))
    parser.add_argument("--phase", choices=["train", "measure", "all"], default="all")
    parser.add_argument("--results-md", help="also write the table into this file's '## Students frontier' section")
    args = parser.parse_args(argv)

    import torch

    torch.set_num_threads(1)
    started = time.perf_counter()
    students = args.students.split(",") if args.students else default_students()
    configure(args)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.phase in ("train", "all"):
        train(args, students)
    if args.phase in ("measure", "all"):
        result = measure(args, students)
        result["seconds"] = round(time.perf_counter() - started, 1)
        (out / "frontier.json").write_text(json.dumps(result, indent=2, default=str) + "\n")
        text = markdown(result)
        (out / "frontier.md").write_text(text)
        plot(result, out / "frontier.png")
        print(text)
        if args.results_md:
            dc.write_section(Path(args.results_md), "## Students frontier", text + "\n![frontier](frontier.png)\n")
        print(f"wrote {out / 'frontier.json'}, frontier.md, frontier.png ({result['seconds']} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

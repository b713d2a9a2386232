"""Per-frame pipeline speed at 640x480: decode -> detect -> crop -> classify (ONNX Runtime) -> decision.

The same run as ``facetrust bench --pipeline`` (``facetrust.export.pipeline_bench``), for each detector,
1 and 2 threads, with the demo's student (a random-weight MobileNetV3-Small at 32 px unless a
checkpoint is given) and, when given, the imported MiniFASNet:

    .venv/bin/python benchmarks/pipeline_fps.py [--student CKPT] [--minifasnet CKPT] \\
        [--detectors blazeface,mtcnn,cascade] [--threads 1,2] [--frames 100] [--out runs/pipeline_fps]

writes ``pipeline_fps.json`` and ``pipeline_fps.md`` in ``--out``. Run it on a quiet machine: the
table records the load average.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    from facetrust.export.pipeline_bench import (
        DEFAULT_DETECTORS,
        PipelineBenchSettings,
        render_pipeline_markdown,
        run_pipeline_benchmark,
    )

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--student", default="", help="student checkpoint or ONNX folder (default: demo architecture)")
    parser.add_argument("--minifasnet", default=None, help="imported MiniFASNet checkpoint or ONNX folder")
    parser.add_argument("--detectors", default=",".join(DEFAULT_DETECTORS))
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--frames", type=int, default=100, help="timed frames per configuration")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--photo", default=None, help="photo with a face (default: the shared live photo)")
    parser.add_argument("--out", default="runs/pipeline_fps")
    args = parser.parse_args(argv)
    models = {"student": args.student}
    if args.minifasnet:
        models["minifasnet"] = args.minifasnet
    out = Path(args.out)
    settings = PipelineBenchSettings(
        models=models, detectors=tuple(d for d in args.detectors.split(",") if d),
        threads=tuple(int(t) for t in args.threads.split(",") if t), frames=args.frames, warmup=args.warmup,
        photo=args.photo, workdir=str(out / "models"))
    result = run_pipeline_benchmark(settings, log=lambda message: print(message, file=sys.stderr))
    markdown = render_pipeline_markdown(result)
    out.mkdir(parents=True, exist_ok=True)
    (out / "pipeline_fps.json").write_text(json.dumps(result, indent=2) + "\n")
    (out / "pipeline_fps.md").write_text(markdown)
    print(markdown)
    return 0 if result["records"] else 1


if __name__ == "__main__":
    sys.exit(main())

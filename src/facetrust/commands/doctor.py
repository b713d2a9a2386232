"""``facetrust doctor``: what this machine and install can do, and which optional parts are missing.

Versions of the main dependencies, CPU features (AVX2, AVX-VNNI/AVX512-VNNI, AVX-512 from
``/proc/cpuinfo``), torch and ONNX Runtime threads and providers, GPUs, and each optional part
(dlib, Chromium, ultralytics, transformers, the BlazeFace file, ...) with what it enables. Optional
packages are looked up with ``importlib.util.find_spec`` (never imported), so the command is fast.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
from importlib.metadata import PackageNotFoundError, version
from importlib.util import find_spec
from typing import Any

PACKAGES = ("torch", "torchvision", "lightning", "open_clip_torch", "timm", "onnx", "onnxruntime",
            "opencv-python-headless", "numpy", "safetensors", "pillow")

# CPU flag (as /proc/cpuinfo spells it) -> what it means for facetrust.
CPU_FEATURES = {
    "avx2": "AVX2: fast FP32 kernels in torch and ONNX Runtime",
    "fma": "FMA: fused multiply-add (with AVX2)",
    "avx_vnni": "AVX-VNNI: INT8 dot products (fast static INT8 in ONNX Runtime)",
    "avx512f": "AVX-512F: 512-bit vectors",
    "avx512_vnni": "AVX512-VNNI: INT8 dot products on 512-bit vectors",
    "avx512_bf16": "AVX512-BF16: bfloat16 matmuls",
    "amx_int8": "AMX-INT8: tile INT8 matmuls",
}

# (name, how to detect, what it enables, how to get it)
OPTIONAL = (
    ("dlib", "module:dlib", "the 'dlib' face detector and the dlib ResNet face embedder",
     "pip install 'facetrust[dlib]'"),
    ("chromium", "exe:chromium", "the demo report's browser check and the serve browser test",
     "apt-get install chromium"),
    ("playwright", "module:playwright", "the serve page test in a real browser", "pip install 'facetrust[dev]'"),
    ("ultralytics", "module:ultralytics", "the YOLO object-detector plug-in of verify-claims",
     "pip install ultralytics"),
    ("transformers", "module:transformers", "the image-captioner plug-in of verify-claims",
     "pip install 'facetrust[captioner]'"),
    ("facenet_pytorch", "module:facenet_pytorch", "the 'mtcnn' face detector", "pip install -e ."),
    ("blazeface file", "blazeface", "the 'blazeface' face detector (the default for predict/serve)",
     "facetrust models fetch blazeface"),
    ("fastapi", "module:fastapi", "facetrust serve", "pip install 'facetrust[serve]'"),
    ("hypothesis", "module:hypothesis", "the property-based (fuzz) tests", "pip install 'facetrust[dev]'"),
)


def register(subparsers) -> None:
    p = subparsers.add_parser("doctor", help="what this machine and install can do (CPU, GPU, threads, optional parts)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    p.set_defaults(func=run)


def _version(package: str) -> str | None:
    try:
        return version(package)
    except PackageNotFoundError:
        return None


def cpu_flags(cpuinfo: str | None = None) -> set[str]:
    """The CPU flags of the first processor in ``/proc/cpuinfo`` (empty when unreadable)."""
    if cpuinfo is None:
        try:
            with open("/proc/cpuinfo") as f:
                cpuinfo = f.read()
        except OSError:
            return set()
    for line in cpuinfo.splitlines():
        if line.startswith(("flags", "Features")) and ":" in line:
            return set(line.split(":", 1)[1].split())
    return set()


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name") and ":" in line:
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _optional_present(how: str) -> tuple[bool, str]:
    kind, _, name = how.partition(":")
    if kind == "module":
        return find_spec(name) is not None, name
    if kind == "exe":
        from facetrust.demo.browser_check import find_chromium

        path = find_chromium()
        return path is not None, path or "not on PATH"
    from facetrust.errors import DataError
    from facetrust.faces.fetch import cache_dir, model_path

    try:
        return True, str(model_path(how))
    except DataError:
        return False, str(cache_dir())


def _threads() -> dict[str, Any]:
    import torch

    info: dict[str, Any] = {"cpu_count": os.cpu_count(), "torch_intra_op": torch.get_num_threads(),
                            "torch_inter_op": torch.get_num_interop_threads()}
    if hasattr(os, "sched_getaffinity"):
        info["usable_cpus"] = len(os.sched_getaffinity(0))
    info["omp_num_threads"] = os.environ.get("OMP_NUM_THREADS")
    if find_spec("onnxruntime") is not None:
        import onnxruntime as ort

        info["onnxruntime_providers"] = ort.get_available_providers()
        info["onnxruntime_intra_op"] = "0 (ORT default: one per physical core)" \
            if ort.SessionOptions().intra_op_num_threads == 0 else ort.SessionOptions().intra_op_num_threads
    return info


def _gpus() -> list[dict[str, Any]]:
    import torch

    if not torch.cuda.is_available():
        return []
    out = []
    for i in range(torch.cuda.device_count()):
        props = torch.cuda.get_device_properties(i)
        out.append({"index": i, "name": props.name, "memory_gib": round(props.total_memory / 2**30, 1),
                    "capability": f"{props.major}.{props.minor}"})
    return out


def collect() -> dict[str, Any]:
    """Everything ``facetrust doctor`` reports, as one JSON-serialisable dict."""
    from facetrust import __version__

    flags = cpu_flags()
    return {
        "facetrust": __version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": {p: _version(p) for p in PACKAGES},
        "cpu": {"model": _cpu_model(), "features": {f: f in flags for f in CPU_FEATURES}},
        "threads": _threads(),
        "gpus": _gpus(),
        "optional": [{"name": name, "present": (found := _optional_present(how))[0], "where": found[1],
                      "enables": enables, "install": install} for name, how, enables, install in OPTIONAL],
    }


def run(args) -> int:
    info = collect()
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    print(f"facetrust {info['facetrust']}  (Python {info['python']}, {info['platform']})")
    print("packages:")
    for name, ver in info["packages"].items():
        print(f"  {name:24s} {ver or 'not installed'}")
    print(f"cpu: {info['cpu']['model']}")
    for flag, present in info["cpu"]["features"].items():
        print(f"  [{'x' if present else ' '}] {CPU_FEATURES[flag]}")
    print("threads:")
    for key, value in info["threads"].items():
        print(f"  {key:24s} {value}")
    print("gpu: " + ("none (CPU only; CUDA not available to torch)" if not info["gpus"] else ""))
    for gpu in info["gpus"]:
        print(f"  cuda:{gpu['index']} {gpu['name']} {gpu['memory_gib']} GiB, compute {gpu['capability']}")
    print("optional parts:")
    width = max(len(o["name"]) for o in info["optional"])
    for o in info["optional"]:
        state = "yes" if o["present"] else "no "
        hint = "" if o["present"] else f"  -> {o['install']}"
        print(f"  {o['name']:{width}s} {state} {o['enables']}{hint}")
    if shutil.which("nvidia-smi") and not info["gpus"]:
        print("note: nvidia-smi exists but torch sees no GPU (CPU-only torch wheel?)")
    return 0

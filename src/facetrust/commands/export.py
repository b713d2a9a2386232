"""``facetrust export CKPT --out DIR [--precision auto|fp32|int8] [--calib MANIFEST] [--opset N]``: ONNX
for deployment, in the precision that pays on this machine."""


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "export", help="export a checkpoint to ONNX (FP32 or INT8)",
        description="Export a checkpoint folder to ONNX with a dynamic batch axis: DIR/model.onnx + "
        "DIR/config.json (preprocessing, threshold, class names, export info). Every export is checked "
        "against PyTorch (max |logit difference| printed; FP32 fails above --tolerance). With --int8, "
        "DIR/int8/ holds an ONNX Runtime INT8 model (static QDQ for CNNs, calibrated on --calib; dynamic "
        "for transformers) and its agreement with FP32 decisions. --precision auto (default) ships INT8 "
        "in DIR only when it is faster here AND flips no more --calib val decisions than FP32 flips under "
        "+-1-level pixel noise (both numbers and the reason in DIR/config.json), else FP32.",
    )
    p.add_argument("checkpoint", help="checkpoint folder (model.safetensors + config.json)")
    p.add_argument("--out", required=True, help="output folder for model.onnx + config.json")
    p.add_argument("--precision", choices=("auto", "fp32", "int8"), default="auto",
                   help="what DIR holds: auto times FP32 and INT8 here and measures val-split agreement "
                   "(needs --calib with a val split, else FP32); fp32 or int8 force (default auto). When INT8 "
                   "ships, DIR/fp32 keeps the FP32 model; when FP32 ships, a measured INT8 stays in DIR/int8")
    p.add_argument("--threads", type=int, default=None,
                   help="ORT threads for the --precision auto timing (default: all cores)")
    p.add_argument("--int8", action="store_true",
                   help="as before --precision: DIR holds FP32 and DIR/int8 an INT8 model (overrides --precision)")
    p.add_argument("--calib", default=None, metavar="MANIFEST",
                   help="manifest whose images are used for the parity check, INT8 calibration (train "
                   "split) and the FP32/INT8 agreement (val/test split); random images when omitted")
    p.add_argument("--int8-mode", choices=("auto", "static", "dynamic"), default="auto",
                   help="auto: static for CNNs, dynamic for transformers (default)")
    p.add_argument("--int8-front", choices=("auto", "fp32", "int8"), default="auto",
                   help="static INT8: precision of the narrow front of the CNN (stem block, <= 16 channels); "
                   "auto times both here and keeps the faster (default)")
    p.add_argument("--int8-weights", choices=("7bit", "8bit"), default="7bit",
                   help="static INT8 weight range: 7bit gives the same numbers on every x86 CPU (8-bit "
                   "weights saturate in AVX2 kernels without VNNI); default 7bit")
    p.add_argument("--int8-calibration", choices=("minmax", "entropy", "percentile"), default="minmax",
                   help="static INT8: how activation ranges are calibrated (default minmax; "
                   "benchmarks/int8_calibration.py compares them here)")
    p.add_argument("--int8-agreement", type=float, default=None, metavar="TARGET",
                   help="static INT8: keep the shortest leading part of the CNN in FP32 that makes INT8 agree "
                   "with FP32 on at least TARGET (e.g. 0.99) of the --calib val-split decisions; the agreement "
                   "is then reported on the test split and INT8 is timed against FP32 (it costs speed)")
    p.add_argument("--opset", type=int, default=None, help="ONNX opset (default: the exporter's, 18 / 17)")
    p.add_argument("--exporter", choices=("auto", "dynamo", "torchscript"), default="auto",
                   help="auto: torch.export-based exporter, TorchScript if it fails (default)")
    p.add_argument("--tolerance", type=float, default=1e-4, help="max |logit difference| for FP32 (1e-4)")
    p.add_argument("--calib-samples", type=int, default=64, help="calibration images for static INT8")
    p.add_argument("--agreement-samples", type=int, default=256, help="held-out images for INT8 agreement")
    from facetrust.console import add_output_flags  # standard library only

    add_output_flags(p, run)  # --quiet / --verbose


def run(args) -> int:
    import json
    import sys

    from facetrust.errors import FacetrustError
    from facetrust.export.onnx import export_checkpoint

    if args.int8_agreement is not None and not 0.0 < args.int8_agreement <= 1.0:
        raise FacetrustError(f"--int8-agreement {args.int8_agreement}: give a share of decisions in (0, 1], e.g. 0.99")
    precision = None if args.int8 else args.precision
    if (args.int8 or precision == "int8") and args.calib is None:
        print("warning: --int8 without --calib: agreement with FP32 is measured on random images and a "
              "CNN cannot be calibrated (static INT8 needs --calib)", file=sys.stderr)
    from facetrust.checkpoint import read_config

    if read_config(args.checkpoint).get("task") == "face":  # embedding backbone: its own output and parity
        from facetrust.face.export import export_face_checkpoint

        summary = export_face_checkpoint(args.checkpoint, args.out, calib=args.calib, opset=args.opset,
                                         exporter=args.exporter)
        print(f"wrote {summary['fp32']['folder']} (fp32 embedding model)")
        return 0
    try:
        summary = export_checkpoint(
            args.checkpoint, args.out, calib=args.calib, int8=args.int8, int8_mode=args.int8_mode,
            int8_front=args.int8_front, int8_reduce_range=args.int8_weights == "7bit",
            int8_agreement=args.int8_agreement, int8_calibration=args.int8_calibration,
            opset=args.opset, exporter=args.exporter, tolerance=args.tolerance,
            calib_samples=args.calib_samples, agreement_samples=args.agreement_samples,
            precision=precision, threads=args.threads,
        )
    except FacetrustError:
        raise
    except (OSError, ValueError) as err:
        raise FacetrustError(f"export of {args.checkpoint} failed: {err}") from err
    shipped = summary.get("shipped")
    for name in ("fp32", "int8"):
        if name in summary:
            role = "shipped" if shipped and shipped["shipped"] == name else ("reference" if shipped else "")
            print(f"wrote {summary[name]['folder']} ({name}{', ' + role if role else ''})")
    if shipped:
        print(json.dumps({key: shipped[key] for key in ("shipped", "reason", "fp32_ms", "int8_ms", "int8_flips",
                                                         "fp32_pixel_noise_flips", "val_samples") if key in shipped}))
    if "int8" in summary:
        agreement = summary["int8"]["agreement_with_fp32"]
        prefix = summary["int8"]["quantization"].get("fp32_prefix") or {}
        print(json.dumps({"int8_agreement_with_fp32": agreement["agreement"],
                          "fp32_pixel_noise_agreement": agreement["fp32_pixel_noise_agreement"],
                          **({"fp32_convs": prefix["fp32_convs"], "total_convs": prefix["total_convs"],
                              "int8_vs_fp32_time": prefix.get("int8_vs_fp32_time")} if prefix else {})}))
    return 0

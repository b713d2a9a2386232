def register(subparsers) -> None:
    p = subparsers.add_parser("version", help="print facetrust's and its main dependencies' versions")
    p.set_defaults(func=run)


def run(args) -> int:
    from importlib.metadata import PackageNotFoundError, version

    from facetrust import __version__

    print(f"facetrust {__version__}")
    for package in ("torch", "open_clip_torch", "timm", "lightning", "onnxruntime", "opencv-python-headless"):
        try:
            print(f"  {package} {version(package)}")
        except PackageNotFoundError:
            print(f"  {package} (not installed)")
    return 0

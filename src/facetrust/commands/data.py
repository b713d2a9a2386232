"""``facetrust data``: build fas-sim and deepfake-sim, import data sets, prepare videos, check manifests.

Standard library only at top level; the work happens in ``facetrust.data``.
"""

from __future__ import annotations

import argparse

from facetrust.commands._options import add_max_pixels


def register(subparsers) -> None:
    p = subparsers.add_parser("data", help="build, import, prepare and check data sets (manifests, fas-sim, video frames)")
    sub = p.add_subparsers(dest="data_command", metavar="ACTION")
    p.set_defaults(func=lambda args: (p.print_help(), 1)[1])

    s = sub.add_parser("make-sim", help="generate the fas-sim benchmark (no download) and its manifest")
    s.add_argument("out", help="output folder")
    s.add_argument("--seed", type=int, default=0, help="generation seed: the same seed gives the same files (default 0)")
    s.add_argument("--size", type=int, default=64, help="image side in pixels (default 64)")
    s.add_argument("--domains", default=None, help="comma-separated cameras (default phone,webcam,kiosk,cctv)")
    s.add_argument("--subjects", type=int, default=12, help="subjects per domain (default 12)")
    s.add_argument("--frames", type=int, default=4, help="frames per video (default 4)")
    s.add_argument("--grid", default=None, help="also write a sample grid PNG here")
    s.set_defaults(func=run_make_sim)

    s = sub.add_parser("make-captions", help="generate the captioned corpus for CLIP pretraining (no download)")
    s.add_argument("out", help="output folder")
    s.add_argument("--seed", type=int, default=0, help="generation seed: the same seed gives the same files (default 0)")
    s.add_argument("--subjects", type=int, default=200, help="drawn subjects (default 200)")
    s.add_argument("--images", type=int, default=8, help="images per subject (default 8)")
    s.add_argument("--size", type=int, default=64, help="image side in pixels (default 64)")
    s.add_argument("--captions", type=int, default=4, help="paraphrased captions per image (default 4)")
    s.add_argument("--lfw-faces", action="store_true",
                   help="make half the subjects LFW crops, which fas-sim also uses (breaks the no-target-leak rule; "
                        "for measuring its effect only)")
    s.set_defaults(func=run_make_captions)

    s = sub.add_parser("make-deepfake-sim", help="generate the deepfake-sim benchmark (self-blended and swapped faces)")
    s.add_argument("out", help="output folder")
    s.add_argument("--seed", type=int, default=0, help="generation seed: the same seed gives the same files (default 0)")
    s.add_argument("--size", type=int, default=64, help="image side in pixels (default 64)")
    s.add_argument("--subjects", type=int, default=100, help="LFW identities, 3-100 (default 100), split 7:2:1")
    s.add_argument("--frames", type=int, default=3, help="frames per video (default 3)")
    s.add_argument("--manipulations", default="sbi,swap", help="comma-separated families (default sbi,swap)")
    s.add_argument("--grid", default=None, help="also write a sample grid PNG here")
    s.set_defaults(func=run_make_deepfake_sim)

    s = sub.add_parser("check", help="check a manifest: files decode, counts, split leakage, duplicates")
    s.add_argument("manifest", help="manifest CSV/Parquet to check (paths relative to its folder)")
    s.add_argument("--no-decode", action="store_true", help="only check that files exist")
    s.add_argument("--json", default=None, help="also write the report as JSON here")
    add_max_pixels(s)
    s.set_defaults(func=run_check)

    s = sub.add_parser("import-mcio", help="FLIP's MCIO frame layout (frame/{casia,msu,replay,oulu}/...) -> manifest")
    s.add_argument("root", help="folder holding frame/ (and FLIP's txt/ lists, if any)")
    s.add_argument("out", help="manifest to write (.csv or .parquet)")
    s.add_argument("--val-fraction", type=float, default=0.2, help="training subjects held out as val")
    s.add_argument("--seed", type=int, default=0, help="seed of the random choice of val subjects (default 0)")
    s.set_defaults(func=run_import, importer="mcio")

    s = sub.add_parser("import-folders", help="generic {domain}/[split/]{live|spoof}/[attack/]... -> manifest")
    s.add_argument("root", help="folder holding {domain}/[split/]{live|spoof}/[attack/]... files")
    s.add_argument("out", help="manifest to write (.csv or .parquet)")
    s.add_argument("--videos", action="store_true", help="list video files instead of images (for prepare-videos)")
    s.add_argument("--subject-regex", default=None, help="regex with one group: the subject id in the file name")
    s.add_argument("--seed", type=int, default=0, help="seed of the random split of subjects into train/val/test (default 0)")
    s.set_defaults(func=run_import, importer="folders")

    s = sub.add_parser("import-deepfake", help="[split/]{real|fake}/[method/]... folders (e.g. Kaggle 140k) -> manifest")
    s.add_argument("root", help="folder holding [split/]{real|fake}/[method/]... images")
    s.add_argument("out", help="manifest to write (.csv or .parquet)")
    s.add_argument("--domain", default=None, help="domain name written in every row (default: the folder's name)")
    s.add_argument("--seed", type=int, default=0, help="seed of the random split of subjects into train/val/test (default 0)")
    s.set_defaults(func=run_import, importer="deepfake")

    s = sub.add_parser("import-faceforensics", help="FaceForensics++ video folders -> a video manifest (then prepare-videos)")
    s.add_argument("root", help="folder holding original_sequences/ and manipulated_sequences/")
    s.add_argument("out", help="manifest of videos to write")
    s.add_argument("--compression", default=None, help="keep one level only, e.g. c23")
    s.add_argument("--seed", type=int, default=0, help="seed of the random split of subjects into train/val/test (default 0)")
    s.set_defaults(func=run_import, importer="faceforensics")

    s = sub.add_parser("prepare-videos", help="sample frames, detect and crop faces, write a manifest")
    s.add_argument("videos", help="a manifest of video files, or a {domain}/{live|spoof}/[attack/] folder of videos")
    s.add_argument("out", help="output folder (crops, manifest.csv, summary.json)")
    s.add_argument("--sampling", default="flip", help="flip (frames 6 and 6+n/2), uniform:N, or all")
    s.add_argument("--detector", default=None,
                   help="mtcnn, blazeface, cascade, dlib, yunet, or none (default: facetrust.faces.DEFAULT_DETECTOR)")
    s.add_argument("--detector-model", default=None, help="ONNX file for yunet")
    s.add_argument("--size", type=int, default=224, help="side of the square face crops in pixels (default 224)")
    s.add_argument("--margin", type=float, default=0.2, help="added to each side, as a fraction of the box")
    s.add_argument("--no-face", default="centre", choices=("skip", "centre", "previous"),
                   help="frames without a face: skip them, crop the centre, or reuse the previous box")
    s.add_argument("--split", default=None, choices=("train", "val", "test"),
                   help="put every row in this split (default: each video's split from the input)")
    s.set_defaults(func=run_prepare_videos)


def run_make_sim(args: argparse.Namespace) -> int:
    from facetrust.data.sim.fas_sim import DEFAULT_DOMAINS, make_fas_sim

    domains = tuple(args.domains.split(",")) if args.domains else DEFAULT_DOMAINS
    path = make_fas_sim(args.out, seed=args.seed, image_size=args.size, domains=domains,
                        subjects_per_domain=args.subjects, frames_per_video=args.frames)
    print(f"fas-sim written: {path}")
    if args.grid:
        from facetrust.data.sim.grid import save_sample_grid

        print(f"sample grid: {save_sample_grid(path, args.grid)}")
    return 0


def run_make_captions(args: argparse.Namespace) -> int:
    from facetrust.data.sim.captions import make_captions

    path = make_captions(args.out, seed=args.seed, n_subjects=args.subjects, images_per_subject=args.images,
                         image_size=args.size, captions_per_image=args.captions, lfw_faces=args.lfw_faces)
    print(f"captioned corpus written: {path}")
    return 0


def run_make_deepfake_sim(args: argparse.Namespace) -> int:
    from facetrust.data.sim.deepfake_sim import make_deepfake_sim, save_deepfake_grid

    path = make_deepfake_sim(args.out, seed=args.seed, image_size=args.size, subjects=args.subjects,
                             frames_per_video=args.frames,
                             manipulations=tuple(m.strip() for m in args.manipulations.split(",") if m.strip()))
    print(f"deepfake-sim written: {path}")
    if args.grid:
        print(f"sample grid: {save_deepfake_grid(path, args.grid)}")
    return 0


def run_check(args: argparse.Namespace) -> int:
    import json

    from facetrust.data.check import check_manifest

    report = check_manifest(args.manifest, decode=not args.no_decode)
    print(report.format())
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report.to_dict(), f, indent=2)
    return 0 if report.ok else 1


def run_import(args: argparse.Namespace) -> int:
    from facetrust.data import importers

    if args.importer == "mcio":
        path = importers.import_mcio(args.root, args.out, val_fraction=args.val_fraction, seed=args.seed)
    elif args.importer == "folders":
        path = importers.import_folders(args.root, args.out, videos=args.videos,
                                        subject_regex=args.subject_regex, seed=args.seed)
    elif args.importer == "faceforensics":
        path = importers.import_faceforensics(args.root, args.out, compression=args.compression, seed=args.seed)
        print(f"video manifest written: {path} (next: facetrust data prepare-videos {path} OUT)")
        return 0
    else:
        path = importers.import_deepfake(args.root, args.out, domain=args.domain, seed=args.seed)
        import json

        skipped = json.loads(open(f"{path}.skipped.json").read())["skipped"]
        if skipped:
            print(f"skipped {len(skipped)} unreadable file(s), listed in {path}.skipped.json")
    print(f"manifest written: {path} (run: facetrust data check {path})")
    return 0


def run_prepare_videos(args: argparse.Namespace) -> int:
    import json
    import tempfile
    from pathlib import Path

    from facetrust.data.importers import import_folders
    from facetrust.data.manifest import read_manifest
    from facetrust.data.video import VIDEO_EXTENSIONS, prepare_videos
    from facetrust.errors import DataError

    source = Path(args.videos)
    if source.suffix.lower() in VIDEO_EXTENSIONS:
        raise DataError(f"{source} is a video file; prepare-videos takes a manifest of videos (path, label, domain, "
                        "...) or a {domain}/{live|spoof}/[attack/] folder of videos, so each crop gets its label")
    if source.is_dir():
        source = import_folders(source, Path(tempfile.mkdtemp()) / "videos.csv", videos=True)
    from facetrust.pipeline import default_detector_name

    detector = args.detector or default_detector_name()
    kwargs = {"model": args.detector_model} if args.detector_model else {}
    manifest, summary = prepare_videos(
        read_manifest(source), args.out, sampling=args.sampling,
        detector=None if detector == "none" else detector, size=args.size, margin=args.margin,
        no_face=args.no_face, detector_kwargs=kwargs, split=args.split)
    print(json.dumps(summary.to_dict(), indent=2))
    print(f"manifest written: {manifest} (crops made with {detector}, margin {args.margin}, {args.size} px: "
          f"recorded in {manifest}.crop.json, and by training in the checkpoint)")
    import sys

    if summary.failed:
        from facetrust.data.video import UNREADABLE_VIDEO_HINT

        total = summary.videos_ok + len(summary.failed)
        print(f"warning: skipped {len(summary.failed)} of {total} video(s) that could not be read (listed in "
              f"{Path(args.out) / 'summary.json'}); the others were prepared:", file=sys.stderr)
        for line in summary.failure_lines(limit=20):
            print(f"  {line}", file=sys.stderr)
        print(f"  {UNREADABLE_VIDEO_HINT}", file=sys.stderr)
    if len(summary.splits) == 1 and args.split is None:
        print(f"warning: every row is in split {next(iter(summary.splits))!r} (too few videos per domain to split "
              "by subject, or the input's layout says so); pass --split or use {domain}/{train,val,test}/... "
              "folders", file=sys.stderr)
    return 0


def run(args: argparse.Namespace) -> int:  # kept for the CLI's convention
    return int(args.func(args))

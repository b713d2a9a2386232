"""``facetrust data``: build fas-sim, import data sets, prepare videos, check manifests.

Standard library only at top level; the work happens in ``facetrust.data``.
"""

from __future__ import annotations

import argparse


def register(subparsers) -> None:
    p = subparsers.add_parser("data", help="build, import, prepare and check data sets (manifests, fas-sim, video frames)")
    sub = p.add_subparsers(dest="data_command", metavar="ACTION")
    p.set_defaults(func=lambda args: (p.print_help(), 1)[1])

    s = sub.add_parser("make-sim", help="generate the fas-sim benchmark (no download) and its manifest")
    s.add_argument("out", help="output folder")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--size", type=int, default=64, help="image side in pixels (default 64)")
    s.add_argument("--domains", default=None, help="comma-separated cameras (default phone,webcam,kiosk,cctv)")
    s.add_argument("--subjects", type=int, default=10, help="subjects per domain (default 10)")
    s.add_argument("--frames", type=int, default=3, help="frames per video (default 3)")
    s.add_argument("--grid", default=None, help="also write a sample grid PNG here")
    s.set_defaults(func=run_make_sim)


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


def run(args: argparse.Namespace) -> int:  # kept for the CLI's convention
    return int(args.func(args))

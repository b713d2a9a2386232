"""Options several commands share, spelled and explained the same way everywhere."""

from __future__ import annotations

import argparse

from facetrust.device import DEVICE_HELP


def add_device(parser: argparse.ArgumentParser, default: str = "cpu") -> None:
    """``--device auto|cpu|gpu|cuda[:N]`` (read by facetrust.device.resolve_device)."""
    parser.add_argument("--device", default=default, metavar="auto|cpu|gpu|cuda[:N]", help=DEVICE_HELP)


def add_max_pixels(parser: argparse.ArgumentParser) -> None:
    """``--max-pixels N``: the decoded-image size limit (facetrust.cli applies it to the process)."""
    parser.add_argument("--max-pixels", type=int, default=None, metavar="N",
                        help="refuse images above N pixels before decoding them (default 50,000,000; "
                        "also $FACETRUST_MAX_PIXELS)")

"""Cross-domain protocols: which domains train, which one is the unseen target.

FLIP (ICCV 2023) uses three: Protocol 1, leave one out over MSU-MFSD (M), CASIA-FASD (C),
Replay-Attack (I) and OULU-NPU (O), named ``OCI-M`` etc.; Protocol 2, leave one out over WMCA (W),
CeFA (C) and SURF (S); Protocol 3, single source to single target over M, C, I, O. CelebA-Spoof
can be added to every protocol as an extra source. ``leave_one_domain_out`` does the same for any
manifest's domains (fas-sim's cameras). ``SplitProtocol`` is the within-data-set protocol of deepfake
detection (train / val / test splits, optionally one manipulation family for training, another for test).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import permutations

import pandas as pd

from facetrust.errors import DataError

PROTOCOL1_DOMAINS = ("O", "C", "I", "M")
PROTOCOL2_DOMAINS = ("W", "C", "S")
CELEBA_SPOOF = "celeba_spoof"


@dataclass(frozen=True)
class Protocol:
    """Train on ``sources`` (+ ``extra_sources``), test on the unseen ``target`` domain."""

    name: str
    sources: tuple[str, ...]
    target: str
    extra_sources: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.target in self.sources or self.target in self.extra_sources:
            raise ValueError(f"protocol {self.name}: target {self.target!r} is also a source")

    @property
    def train_domains(self) -> tuple[str, ...]:
        return tuple(self.sources) + tuple(self.extra_sources)


def leave_one_domain_out(domains: Sequence[str], extra_sources: Sequence[str] = ()) -> list[Protocol]:
    """One protocol per domain: all others train, it is the target; named like ``OCI-M``."""
    domains = list(dict.fromkeys(domains))
    if len(domains) < 2:
        raise DataError(f"leave-one-domain-out needs at least 2 domains, got {domains}")
    joiner = "" if all(len(d) == 1 for d in domains) else "+"
    return [
        Protocol(f"{joiner.join(d for d in domains if d != target)}-{target}",
                 tuple(d for d in domains if d != target), target, tuple(extra_sources))
        for target in domains
    ]


def flip_protocol1(extra_sources: Sequence[str] = ()) -> list[Protocol]:
    """OCI-M, OMI-C, OCM-I, ICM-O (FLIP Table 1)."""
    names = {"M": ("O", "C", "I"), "C": ("O", "M", "I"), "I": ("O", "C", "M"), "O": ("I", "C", "M")}
    return [Protocol(f"{''.join(s)}-{t}", s, t, tuple(extra_sources)) for t, s in names.items()]


def flip_protocol2(extra_sources: Sequence[str] = ()) -> list[Protocol]:
    """CS-W, SW-C, CW-S (FLIP Table 2)."""
    names = {"W": ("C", "S"), "C": ("S", "W"), "S": ("C", "W")}
    return [Protocol(f"{''.join(s)}-{t}", s, t, tuple(extra_sources)) for t, s in names.items()]


def flip_protocol3(extra_sources: Sequence[str] = ()) -> list[Protocol]:
    """Single source to single target over M, C, I, O: the 12 ordered pairs (FLIP Table 3)."""
    return [Protocol(f"{s}-{t}", (s,), t, tuple(extra_sources)) for s, t in permutations("MCIO", 2)]


@dataclass(frozen=True)
class SplitProtocol:
    """One data set's own splits (e.g. a deepfake set's 7:2:1): train on ``train``, calibrate and select
    on ``val``, test on ``test``. Fakes can be restricted by manipulation (column ``manipulation``,
    else ``attack_type``): ``train_manipulations`` for train and val, ``test_manipulations`` for test,
    so "train on one family, test on another" is a cross-manipulation result. Real rows always stay.
    """

    name: str
    domains: tuple[str, ...] = ()  # empty = every domain of the manifest
    train_manipulations: tuple[str, ...] | None = None
    test_manipulations: tuple[str, ...] | None = None

    @property
    def train_domains(self) -> tuple[str, ...]:
        return self.domains or ("all",)

    @property
    def target(self) -> str:
        kinds = "+".join(self.test_manipulations) if self.test_manipulations else "all"
        return f"test[{kinds}]"

    def split(self, df: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
        column = "manipulation" if "manipulation" in df.columns else "attack_type"
        rows = df[df["domain"].isin(self.domains)] if self.domains else df
        if rows.empty:
            raise DataError(f"protocol {self.name}: domain(s) {list(self.domains)} not in the manifest")
        known = set(rows.loc[rows["label"] == 0, column].astype(str))
        for kinds in (self.train_manipulations, self.test_manipulations):
            missing = sorted(set(kinds or ()) - known)
            if missing:
                raise DataError(f"protocol {self.name}: manipulation(s) {missing} not in the manifest "
                                f"(its fakes are {sorted(known)})")

        def part(split: str, kinds: tuple[str, ...] | None) -> pd.DataFrame:
            keep = (rows["split"] == split) & ((rows["label"] == 1) | (kinds is None) | rows[column].isin(kinds or ()))
            return rows[keep].reset_index(drop=True)

        train, val = part("train", self.train_manipulations), part("val", self.train_manipulations)
        test = part("test", self.test_manipulations)
        for name, frame in (("train", train), ("test", test)):
            if frame.empty or frame["label"].nunique() < 2:
                raise DataError(f"protocol {self.name}: the {name} split needs both real and fake images")
        return train, val, test


def split_protocol(df: pd.DataFrame, protocol: Protocol | SplitProtocol) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(train, val, test): sources' train split, sources' val split (held out), all of the target.

    Source-domain validation is what thresholds and checkpoint choice may use (DESIGN non-negotiable 2);
    the target domain is never seen before testing. Source rows in ``test`` are not used. A
    ``SplitProtocol`` uses one data set's own train / val / test splits instead.
    """
    if isinstance(protocol, SplitProtocol):
        return protocol.split(df)
    present = set(df["domain"].astype(str))
    missing = [d for d in (*protocol.train_domains, protocol.target) if d not in present]
    if missing:
        raise DataError(f"protocol {protocol.name}: domain(s) {missing} not in the manifest "
                        f"(it has {sorted(present)})")
    sources = df["domain"].isin(protocol.train_domains)
    train = df[sources & (df["split"] == "train")].reset_index(drop=True)
    val = df[sources & (df["split"] == "val")].reset_index(drop=True)
    test = df[df["domain"] == protocol.target].reset_index(drop=True)
    for name, part in (("train", train), ("test", test)):
        if part.empty or part["label"].nunique() < 2:
            raise DataError(f"protocol {protocol.name}: the {name} set needs both bona fide and attack images")
    return train, val, test

"""``check_manifest``: is a data set fit to train and evaluate on?

Errors (the CLI exits non-zero): a file missing or not decodable; a subject or a video in more than one
split (within a domain: leakage between train, val and test); a subject in more than one domain (so a
cross-domain protocol would not be cross-subject); the same path listed twice. Warnings: identical
image bytes under different paths, a domain without bona fide or without attacks.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from facetrust.errors import DataError


@dataclass
class CheckReport:
    manifest: str
    rows: int = 0
    counts: dict = field(default_factory=dict)  # domain -> {attack_type/label: n}
    split_counts: dict = field(default_factory=dict)  # domain -> {split: n}
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    bad_files: list[dict[str, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    def to_dict(self) -> dict:
        return {"manifest": self.manifest, "rows": self.rows, "ok": self.ok, "counts": self.counts,
                "split_counts": self.split_counts, "errors": self.errors, "warnings": self.warnings,
                "bad_files": self.bad_files}

    def format(self) -> str:
        """A readable summary: counts per domain and species, then errors and warnings."""
        species = sorted({k for c in self.counts.values() for k in c})
        if not self.counts:  # the manifest could not be read: no empty table before the errors
            lines = [f"manifest: {self.manifest}", ""]
        else:
            lines = [f"manifest: {self.manifest} ({self.rows} rows)", "",
                     f"{'domain':<16}" + "".join(f"{s:>10}" for s in species) + "   splits"]
        for domain in sorted(self.counts):
            splits = ", ".join(f"{k} {v}" for k, v in sorted(self.split_counts.get(domain, {}).items()))
            lines.append(f"{domain:<16}" + "".join(f"{self.counts[domain].get(s, 0):>10}" for s in species)
                         + f"   {splits}")
        if self.counts:
            lines.append("")
        lines += [f"ERROR: {e}" for e in self.errors] + [f"warning: {w}" for w in self.warnings]
        lines.append("OK" if self.ok else f"FAILED: {len(self.errors)} error(s)")
        return "\n".join(lines)


def _leaks(df: pd.DataFrame, key: str, within: list[str], across: str) -> list[str]:
    """Values of ``key`` that appear in more than one value of ``across`` (grouped by ``within``)."""
    out = []
    for group_key, part in df.groupby(within + [key]) if within else df.groupby(key):
        values = sorted(part[across].unique())
        if len(values) > 1:
            out.append(f"{key} {group_key[-1] if isinstance(group_key, tuple) else group_key!r} is in {across}s {values}")
    return out


def check_manifest(path: str | os.PathLike, decode: bool = True, max_listed: int = 20) -> CheckReport:
    """Validate a manifest and its files; see the module docstring for what counts as an error."""
    from facetrust.data.io import read_image
    from facetrust.data.manifest import read_manifest

    report = CheckReport(manifest=str(path))
    try:
        df = read_manifest(path)
    except DataError as err:
        report.errors += getattr(err, "problems", None) or [str(err)]
        return report
    report.rows = len(df)
    for domain, part in df.groupby("domain"):
        report.counts[str(domain)] = {str(k): int(v) for k, v in part["attack_type"].value_counts().items()}
        report.split_counts[str(domain)] = {str(k): int(v) for k, v in part["split"].value_counts().items()}
        if part["label"].nunique() < 2:
            report.warnings.append(f"domain {domain!r} has only {'bona fide' if part['label'].iloc[0] else 'attack'} images")
    duplicated = df[df["abs_path"].duplicated()]["path"].tolist()
    if duplicated:
        report.errors.append(f"{len(duplicated)} path(s) listed more than once, e.g. {duplicated[:3]}")
    subject_leaks = _leaks(df, "subject_id", ["domain"], "split")
    video_leaks = _leaks(df, "video_id", [], "split")
    domain_leaks = _leaks(df, "subject_id", [], "domain")
    for kind, leaks in (("subject leak", subject_leaks), ("video leak", video_leaks), ("cross-domain subject", domain_leaks)):
        if leaks:
            report.errors.append(f"{kind}: {len(leaks)} case(s): " + "; ".join(leaks[:5]))
    digests: dict[str, str] = {}
    for rel, abs_path in zip(df["path"], df["abs_path"], strict=True):
        try:
            if decode:
                read_image(abs_path)
            elif not os.path.isfile(abs_path):
                raise DataError(f"{abs_path}: file not found")
        except DataError as err:
            report.bad_files.append({"path": rel, "reason": str(err)})
            continue
        digest = hashlib.sha1(Path(abs_path).read_bytes()).hexdigest()
        if digest in digests:
            report.warnings.append(f"identical content: {rel} and {digests[digest]}")
        digests.setdefault(digest, rel)
    if report.bad_files:
        listed = "; ".join(f"{b['reason']}" for b in report.bad_files[:max_listed])
        report.errors.append(f"{len(report.bad_files)} unreadable file(s): {listed}")
    if len(report.warnings) > max_listed:
        report.warnings = report.warnings[:max_listed] + [f"... and {len(report.warnings) - max_listed} more"]
    return report

"""Evaluation figures (matplotlib, Agg backend): ROC, DET and per-species score histograms.

Each function takes an ``EvaluationResult`` and a path and writes one PNG. The DET curve plots FRR
(BPCER) against FAR (APCER) on normal-deviate axes (Martin et al., 1997), where Gaussian score
distributions give straight lines and low error rates stay readable.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from facetrust.metrics._counts import accepted_counts

LEVEL_STYLE = {"frame": {"color": "tab:blue", "linestyle": "-"}, "video": {"color": "tab:orange", "linestyle": "--"}}
SPECIES_COLORS = ("tab:red", "tab:purple", "tab:brown", "tab:pink", "tab:olive", "tab:cyan", "tab:gray")


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _curve(score_set) -> tuple[np.ndarray, np.ndarray]:
    """(FAR, FRR) at +inf and every distinct observed score."""
    bona = score_set.bona_fide
    counts = accepted_counts(score_set.scores, np.stack([bona, ~bona]))
    accepted, totals = counts.accepted[0], counts.totals[0]
    return accepted[1] / totals[1], 1.0 - accepted[0] / totals[0]


def _title(result) -> str:
    mode = result.strategy if result.honest else f"{result.strategy}  [TEST-SET THRESHOLD, optimistic]"
    domain = f"{result.domain}: " if result.domain else ""
    return f"{domain}threshold {mode}"


def plot_roc(result, path: str | os.PathLike) -> Path:
    """ROC (bona fide accepted vs attacks accepted), frame and video level, operating points marked."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 5), dpi=120)
    for level, res in result.levels.items():
        far, frr = _curve(res.score_set)
        style = LEVEL_STYLE.get(level, {})
        ax.plot(far, 1 - frr, label=f"{level} (AUC {res.metrics['auc']:.2%})", drawstyle="default", **style)
        ax.plot(res.metrics["far"], 1 - res.metrics["frr"], "o", color=style.get("color"), markersize=7,
                label=f"{level} @ t={res.threshold:.3g}: FAR {res.metrics['far']:.1%}, FRR {res.metrics['frr']:.1%}")
    ax.plot([0, 1], [0, 1], color="0.7", linewidth=0.8, linestyle=":")
    ax.set(xlim=(-0.01, 1.01), ylim=(-0.01, 1.01), xlabel="FAR: attacks accepted (APCER, all species)",
           ylabel="TPR: bona fide accepted (1 - BPCER)", title=_title(result))
    ax.title.set_fontsize(9)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return Path(path)


def plot_det(result, path: str | os.PathLike) -> Path:
    """DET curve: FRR vs FAR on normal-deviate (probit) axes, EER diagonal and operating points."""
    from scipy.stats import norm

    plt = _pyplot()
    ticks = np.array([0.001, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 0.9, 0.95, 0.99])
    fig, ax = plt.subplots(figsize=(5.5, 5), dpi=120)
    smallest, largest = 1.0, 0.6
    for level, res in result.levels.items():
        far, frr = _curve(res.score_set)
        n = len(res.score_set.scores)
        low = 0.5 / n  # an observed rate of 0 is drawn at half a sample
        smallest = min(smallest, low)
        style = LEVEL_STYLE.get(level, {})
        ax.plot(norm.ppf(np.clip(far, low, 1 - low)), norm.ppf(np.clip(frr, low, 1 - low)),
                label=f"{level} (EER {res.metrics['eer']:.2%})", **style)
        point = np.clip([res.metrics["far"], res.metrics["frr"]], low, 1 - low)
        largest = max(largest, min(0.99, 1.3 * float(point.max())))
        ax.plot(*norm.ppf(point), "o", color=style.get("color"), markersize=7,
                label=f"{level} @ t={res.threshold:.3g}: HTER {res.metrics['hter']:.2%}")
    limits = norm.ppf([max(smallest, 5e-4), largest])
    ticks = ticks[(norm.ppf(ticks) >= limits[0]) & (norm.ppf(ticks) <= limits[1])]
    ax.plot(limits, limits, color="0.7", linewidth=0.8, linestyle=":", label="FAR = FRR")
    ax.set_xticks(norm.ppf(ticks), [f"{t:.1%}" if t < 0.01 else f"{t:.0%}" for t in ticks], fontsize=8)
    ax.set_yticks(norm.ppf(ticks), [f"{t:.1%}" if t < 0.01 else f"{t:.0%}" for t in ticks], fontsize=8)
    ax.set(xlim=limits, ylim=limits, xlabel="FAR: attacks accepted (APCER, all species)",
           ylabel="FRR: bona fide rejected (BPCER)", title=_title(result))
    ax.title.set_fontsize(9)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return Path(path)


def plot_histograms(result, path: str | os.PathLike) -> Path:
    """Score histograms per class and attack species, one panel per level, threshold line drawn."""
    plt = _pyplot()
    levels = list(result.levels.items())
    fig, axes = plt.subplots(1, len(levels), figsize=(5.5 * len(levels), 4.2), dpi=120, squeeze=False)
    for ax, (level, res) in zip(axes[0], levels, strict=True):
        s = res.score_set
        low, high = min(s.scores.min(), res.threshold), max(s.scores.max(), res.threshold)
        bins = np.linspace(low, high + 1e-9, 31)
        groups = [("bona fide", s.bona_fide, "tab:green")]
        species = sorted(set(s.attack_types[~s.bona_fide].tolist()))
        groups += [(f"attack: {name}", s.attack_types == name, SPECIES_COLORS[i % len(SPECIES_COLORS)])
                   for i, name in enumerate(species)]
        for name, member, color in groups:
            ax.hist(s.scores[member], bins=bins, color=color, alpha=0.45, label=f"{name} (n={int(member.sum())})",
                    density=True, histtype="stepfilled", edgecolor=color)
        ax.axvline(res.threshold, color="black", linestyle="--", linewidth=1.2,
                   label=f"threshold {res.threshold:.3g} ({res.threshold_info.get('chosen_on', '')})")
        ax.set(xlabel="score = P(bona fide); accepted when score >= threshold", ylabel="density",
               title=f"{level} level: HTER {res.metrics['hter']:.2%}, APCER {res.metrics['apcer']:.1%}, "
                     f"BPCER {res.metrics['bpcer']:.1%}")
        ax.title.set_fontsize(9)
        ax.legend(fontsize=8, loc="best", framealpha=0.85)
    fig.suptitle(_title(result), fontsize=10)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return Path(path)

"""Why ``eer@val`` and ``test-eer`` differ on the same scores (the worked example in docs/evaluation.md).

Scores are simulated so the example runs anywhere in a second: a model that separates bona fide
from attacks equally well on the source and the target domain, but whose target-domain scores are
shifted down (a darker, noisier camera makes every face look less "live"), which is the typical
cross-domain failure FLIP's protocols measure. Logit-space Gaussians, 4 frames per video with a
per-video offset, two attack species. Run: ``python benchmarks/threshold_strategies.py [--plots DIR]``.
"""

from __future__ import annotations

import argparse

import numpy as np

from facetrust.evaluate import ScoreSet, aggregate_seeds, choose_threshold, evaluate
from facetrust.metrics import far_frr, iso_pad, roc_points

# logit means per class/species; the target domain moves everything by SHIFT
MEANS = {"none": 2.0, "print": -2.5, "replay": -1.0}
SHIFT = -1.5
FRAMES = 4


def simulate(seed: int, videos_per_class: int, shift: float, domain: str) -> ScoreSet:
    """Frame scores = sigmoid(class mean + shift + video offset + frame noise)."""
    rng = np.random.default_rng(seed)
    species = ["none"] * videos_per_class + ["print", "replay"] * (videos_per_class // 2)
    video_offset = rng.normal(0.0, 0.8, len(species))
    logits, labels, types, ids = [], [], [], []
    for v, name in enumerate(species):
        logits.append(MEANS[name] + shift + video_offset[v] + rng.normal(0.0, 1.0, FRAMES))
        labels += [int(name == "none")] * FRAMES
        types += [name] * FRAMES
        ids += [f"{domain}-{v:04d}"] * FRAMES
    scores = 1.0 / (1.0 + np.exp(-np.concatenate(logits)))
    return ScoreSet(scores, labels, types, ids, domain)


def row(name: str, threshold: float, test: ScoreSet) -> str:
    far, frr = far_frr(test.scores, test.labels, threshold)
    pad = iso_pad(test.scores, test.labels, test.attack_types, threshold)
    return (f"| {name} | {threshold:.4f} | {100 * far:.2f} | {100 * frr:.2f} | {100 * (far + frr) / 2:.2f} | "
            f"{100 * pad['apcer']:.2f} | {100 * pad['acer']:.2f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plots", help="also write full reports (JSON, Markdown, PNG) into this folder")
    args = parser.parse_args()

    val = simulate(seed=1, videos_per_class=200, shift=0.0, domain="source-val")
    test = simulate(seed=2, videos_per_class=200, shift=SHIFT, domain="target-test")
    t_val, info_val = choose_threshold("eer@val", val.scores, val.labels)
    t_test, info_test = choose_threshold("test-eer", test_scores=test.scores, test_labels=test.labels)
    t_apcer, _ = choose_threshold("apcer@val:0.05", val.scores, val.labels, val.attack_types)
    print(f"source validation EER {100 * info_val['val_eer']:.2f}% at threshold {t_val:.4f}")
    print(f"target test EER      {100 * info_test['test_eer']:.2f}% at threshold {t_test:.4f}")
    roc = roc_points(test.scores, test.labels)
    hters = (roc.fpr + 1.0 - roc.tpr) / 2.0
    print(f"lowest HTER any threshold reaches on the test set (an oracle): {100 * hters.min():.2f}%\n")
    print("Frame level on the target test set (%):\n")
    print("| strategy | threshold | FAR | FRR | HTER | APCER (worst species) | ACER |")
    print("|---|---|---|---|---|---|---|")
    print(row("eer@val (honest, default)", t_val, test))
    print(row("apcer@val:0.05 (honest)", t_apcer, test))
    print(row("test-eer (FLIP compatibility)", t_test, test))

    honest = evaluate(test, "eer@val", val, n_bootstrap=1000, seed=0)
    compat = evaluate(test, "test-eer", n_bootstrap=1000, seed=0)
    print("\nevaluate(): frame and video level with 95% bootstrap intervals (1000 resamples of videos):\n")
    print("| strategy | level | threshold | AUC | HTER [95% CI] |")
    print("|---|---|---|---|---|")
    for result in (honest, compat):
        for level, res in result.levels.items():
            low, high = res.intervals["hter"]
            print(f"| {result.strategy} | {level} | {res.threshold:.4f} | {100 * res.metrics['auc']:.2f} | "
                  f"{100 * res.metrics['hter']:.2f} [{100 * low:.2f}, {100 * high:.2f}] |")

    runs = {"eer@val": [], "test-eer": []}
    for seed in range(5):  # five "training seeds": fresh validation and test draws each
        v = simulate(seed=100 + seed, videos_per_class=200, shift=0.0, domain="source-val")
        t = simulate(seed=200 + seed, videos_per_class=200, shift=SHIFT, domain="target-test")
        runs["eer@val"].append(evaluate(t, "eer@val", v, n_bootstrap=0))
        runs["test-eer"].append(evaluate(t, "test-eer", n_bootstrap=0))
    print("\naggregate_seeds(): 5 seeds, video level, mean ± std (%):\n")
    print("| strategy | HTER | AUC |")
    print("|---|---|---|")
    for strategy, results in runs.items():
        video = aggregate_seeds(results)["levels"]["video"]
        print(f"| {strategy} | {100 * video['hter']['mean']:.2f} ± {100 * video['hter']['std']:.2f} | "
              f"{100 * video['auc']['mean']:.2f} ± {100 * video['auc']['std']:.2f} |")

    if args.plots:
        from facetrust.report import write_report

        write_report(honest, f"{args.plots}/eer-at-val")
        write_report(compat, f"{args.plots}/test-eer")
        print(f"\nreports written to {args.plots}/eer-at-val and {args.plots}/test-eer")


if __name__ == "__main__":
    main()

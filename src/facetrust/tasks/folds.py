"""Which data and which folds a binary-task run uses: the manifest (or the task's embedded benchmark,
generated on first use) and the protocol's folds (cross-domain, FLIP's tables, or one data set's own
splits, optionally by manipulation family)."""

from __future__ import annotations

from pathlib import Path

from facetrust.errors import ConfigError
from facetrust.tasks.fas_config import FasExperiment


def protocols(config: FasExperiment, df) -> list:
    from facetrust.data import protocols as P

    p = config.protocol
    extra = tuple(p.extra_sources)
    if p.kind == "split":
        train_kinds = tuple(p.train_manipulations) if p.train_manipulations else None
        test_kinds = tuple(p.test_manipulations) if p.test_manipulations else None
        name = "split" if train_kinds is None and test_kinds is None else \
            f"{'+'.join(train_kinds or ('all',))}-to-{'+'.join(test_kinds or ('all',))}"
        return [P.SplitProtocol(name, tuple(p.sources or ()), train_kinds, test_kinds)]
    if p.kind == "custom":
        if not p.sources or not p.target:
            raise ConfigError("protocol.kind = custom needs protocol.sources and protocol.target")
        folds = [P.Protocol(f"{'+'.join(p.sources)}-{p.target}", tuple(p.sources), p.target, extra)]
    elif p.kind == "leave_one_out":
        domains = sorted(set(df["domain"].astype(str)) - set(extra))
        folds = P.leave_one_domain_out(domains, extra)
    else:
        folds = {"protocol1": P.flip_protocol1, "protocol2": P.flip_protocol2, "protocol3": P.flip_protocol3}[p.kind](extra)
    if p.targets:
        all_folds = folds
        folds = [f for f in folds if f.target in p.targets or f.name in p.targets]
        if not folds:
            known = ", ".join(sorted({f.target for f in all_folds}))
            raise ConfigError(f"protocol.targets {p.targets} matches no fold of {p.kind}; its target domains: "
                              f"{known} (fold names: {', '.join(f.name for f in all_folds)})")
    return folds


def manifest_for(config: FasExperiment, out: Path) -> Path:
    if config.data.manifest:
        return Path(config.data.manifest)
    if getattr(config, "task", "fas") == "deepfake":
        from facetrust.data import make_deepfake_sim

        sim = config.data.deepfake_sim
        folder = Path(sim.dir) if sim.dir else out / f"deepfake-sim-s{sim.seed}-{sim.image_size}-{sim.subjects}x{sim.frames_per_video}"
        if (folder / "manifest.csv").is_file():
            return folder / "manifest.csv"
        return make_deepfake_sim(folder, seed=sim.seed, image_size=sim.image_size, subjects=sim.subjects,
                                 frames_per_video=sim.frames_per_video)
    from facetrust.data import make_fas_sim

    sim = config.data.fas_sim
    name = f"fas-sim-s{sim.seed}-{sim.image_size}-{sim.subjects_per_domain}x{sim.frames_per_video}"
    folder = Path(sim.dir) if sim.dir else out / name
    if (folder / "manifest.csv").is_file():
        return folder / "manifest.csv"
    return make_fas_sim(folder, seed=sim.seed, image_size=sim.image_size,
                        subjects_per_domain=sim.subjects_per_domain, frames_per_video=sim.frames_per_video)


def default_data(config) -> str:
    from facetrust.tasks.names import task_spec

    return task_spec(getattr(config, "task", "fas")).default_manifest

"""deepfake-sim: determinism, the self-blending property, families, subject-disjoint splits; the
deepfake importers and manifest checks on bad input."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from facetrust.data.sim.deepfake_sim import BLEND_RATIOS, face_swap, make_deepfake_sim, self_blend
from facetrust.errors import DataError


@pytest.fixture(scope="module")
def sim(tmp_path_factory) -> Path:
    return make_deepfake_sim(tmp_path_factory.mktemp("dfs") / "a", seed=3, image_size=32, subjects=10,
                             frames_per_video=2)


def test_same_seed_same_bytes_other_seed_differs(sim: Path, tmp_path: Path) -> None:
    again = make_deepfake_sim(tmp_path / "b", seed=3, image_size=32, subjects=10, frames_per_video=2)
    assert again.read_bytes() == sim.read_bytes()
    df = pd.read_csv(sim)
    for rel in df["path"]:
        assert (again.parent / rel).read_bytes() == (sim.parent / rel).read_bytes(), rel
    other = make_deepfake_sim(tmp_path / "c", seed=4, image_size=32, subjects=10, frames_per_video=2)
    first = pd.read_csv(other)["path"].iloc[0]
    assert (other.parent / first).read_bytes() != (sim.parent / pd.read_csv(sim)["path"].iloc[0]).read_bytes()


def test_families_splits_and_columns(sim: Path) -> None:
    from facetrust.data import read_manifest

    df = read_manifest(sim)
    assert set(df["manipulation"]) == {"none", "sbi", "swap"}
    assert (df["attack_type"] == df["manipulation"]).all()
    assert ((df["label"] == 1) == (df["manipulation"] == "none")).all()
    per_subject = df.groupby("subject_id")["split"].nunique()
    assert (per_subject == 1).all()  # every subject in exactly one split
    splits = df.drop_duplicates("subject_id")["split"].value_counts().to_dict()
    assert splits == {"train": 6, "val": 2, "test": 2}
    split_of = dict(zip(df["subject_id"], df["split"], strict=False))
    swaps = df[df["manipulation"] == "swap"]
    assert (swaps["donor_id"] != swaps["subject_id"]).all()
    assert all(split_of[d] == s for d, s in zip(swaps["donor_id"], swaps["split"], strict=True))  # no leak
    assert df.groupby("video_id").size().eq(2).all()  # frames per video
    assert df["jpeg_quality"].between(40, 100).all()
    assert df.groupby("video_id")["jpeg_quality"].nunique().eq(1).all()


@pytest.mark.parametrize("seed", range(6))
def test_self_blend_changes_only_the_blended_region(seed: int) -> None:
    rng = np.random.default_rng(seed)
    image = rng.uniform(0, 1, (48, 48, 3)).astype(np.float32)
    out = self_blend(image, np.random.default_rng(100 + seed))
    mask, fake, target = out["mask"], out["fake"], out["target"]
    outside = mask == 0
    assert outside.any() and (~outside).any()
    np.testing.assert_array_equal(fake[outside], target[outside])  # exactly the target outside the mask
    assert np.abs(fake - target)[mask > 0.2].mean() > 1e-3  # and changed inside it
    assert mask.max() <= 1.0 and np.isclose(mask.max(), BLEND_RATIOS, atol=1e-6).any()
    # the target is either untouched or globally transformed (colour/frequency), never locally
    if not np.array_equal(target, image):
        assert np.abs(target - image)[outside].mean() > 1e-3


def test_self_blend_uses_landmarks_when_given() -> None:
    image = np.full((64, 64, 3), 0.5, np.float32)
    landmarks = [(22, 26), (42, 26), (32, 34), (24, 44), (40, 44)]
    mask = self_blend(image, np.random.default_rng(0), landmarks=landmarks)["mask"]
    ys, xs = np.nonzero(mask)
    assert 16 < xs.mean() < 48 and 18 < ys.mean() < 50
    assert mask[:5, :5].max() == 0 and mask[:5, -5:].max() == 0  # far from the face: untouched
    assert mask[:, :3].max() == 0 and mask[:, -3:].max() == 0


def test_face_swap_changes_only_the_mask() -> None:
    rng = np.random.default_rng(1)
    target = rng.uniform(0, 1, (40, 40, 3)).astype(np.float32)
    donor = rng.uniform(0, 1, (40, 40, 3)).astype(np.float32)
    out = face_swap(target, donor, np.random.default_rng(2))
    outside = out["mask"] == 0
    np.testing.assert_array_equal(out["fake"][outside], target[outside])
    assert np.array_equal(out["target"], target)


def test_bad_arguments() -> None:
    with pytest.raises(DataError, match="manipulation"):
        make_deepfake_sim("/tmp/never", manipulations=("gan",))
    with pytest.raises(DataError, match="subjects"):
        make_deepfake_sim("/tmp/never", subjects=4)


def test_manifest_row_with_bad_manipulation_is_named(sim: Path, tmp_path: Path) -> None:
    from facetrust.data import read_manifest

    df = pd.read_csv(sim)
    real = int(np.flatnonzero(df["label"] == 1)[3])
    df.loc[real, "manipulation"] = "sbi"
    df.to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(DataError, match=f"row {real}: label 1 with manipulation 'sbi'"):
        read_manifest(tmp_path / "bad.csv")
    df = pd.read_csv(sim)
    df.loc[5, "label"] = 7
    df.to_csv(tmp_path / "bad2.csv", index=False)
    with pytest.raises(DataError, match="row 5: label '7'"):
        read_manifest(tmp_path / "bad2.csv")


def _write_jpeg(path: Path, value: int) -> None:
    from facetrust.data.io import write_image

    path.parent.mkdir(parents=True, exist_ok=True)
    write_image(path, np.full((16, 16, 3), value, np.uint8))


def test_import_kaggle_layout_skips_corrupt_files(tmp_path: Path) -> None:
    import json

    from facetrust.data import read_manifest
    from facetrust.data.importers import import_deepfake

    root = tmp_path / "real_vs_fake"
    for split in ("train", "valid", "test"):
        for kind in ("real", "fake"):
            for i in range(3):
                _write_jpeg(root / split / kind / f"{kind}{i}.jpg", 40 * i)
    (root / "train" / "fake" / "broken.jpg").write_bytes(b"not a jpeg at all")
    (root / "test" / "real" / "empty.jpg").write_bytes(b"")
    manifest = import_deepfake(root, tmp_path / "m.csv")
    df = read_manifest(manifest)
    assert len(df) == 18
    assert set(df["split"]) == {"train", "val", "test"}  # Kaggle's "valid" is the val split
    assert set(df["manipulation"]) == {"none", "fake"}
    skipped = json.loads(Path(f"{manifest}.skipped.json").read_text())["skipped"]
    assert sorted(Path(s["path"]).name for s in skipped) == ["broken.jpg", "empty.jpg"]
    assert any("empty file" in s["reason"] for s in skipped)


def test_import_single_class_folder_names_the_missing_class(tmp_path: Path) -> None:
    from facetrust.data.importers import import_deepfake

    for i in range(3):
        _write_jpeg(tmp_path / "only" / "real" / f"{i}.jpg", 10 * i)
    with pytest.raises(DataError, match="no 'fake' images"):
        import_deepfake(tmp_path / "only", tmp_path / "m.csv")


def test_import_faceforensics_layout(tmp_path: Path) -> None:
    from facetrust.data import read_manifest
    from facetrust.data.importers import import_faceforensics

    root = tmp_path / "ffpp"
    names = [f"{i:03d}" for i in range(10)]
    for n in names:
        (root / "original_sequences/youtube/c23/videos").mkdir(parents=True, exist_ok=True)
        (root / f"original_sequences/youtube/c23/videos/{n}.mp4").write_bytes(b"x")
        for method in ("Deepfakes", "FaceSwap"):
            (root / f"manipulated_sequences/{method}/c23/videos").mkdir(parents=True, exist_ok=True)
            (root / f"manipulated_sequences/{method}/c23/videos/{n}_999.mp4").write_bytes(b"x")
    df = read_manifest(import_faceforensics(root, tmp_path / "v.csv", compression="c23"))
    assert len(df) == 30 and set(df["manipulation"]) == {"none", "Deepfakes", "FaceSwap"}
    assert (df.groupby("subject_id")["split"].nunique() == 1).all()  # a target's real and fakes together


@pytest.mark.slow
def test_default_generation_is_fast(tmp_path: Path) -> None:
    started = time.perf_counter()
    manifest = make_deepfake_sim(tmp_path / "default")
    assert time.perf_counter() - started < 60
    assert len(pd.read_csv(manifest)) == 1200

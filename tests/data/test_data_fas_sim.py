import hashlib

import numpy as np

from facetrust.data import make_fas_sim, read_image, read_manifest
from facetrust.data.sim.fas_sim import ATTACK_SPECIES, DEFAULT_DOMAINS


def _digest(folder):
    h = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            h.update(path.relative_to(folder).as_posix().encode())
            h.update(path.read_bytes())
    return h.hexdigest()


def test_same_seed_gives_identical_bytes_and_other_seed_differs(tmp_path):
    kwargs = dict(image_size=32, subjects_per_domain=3, live_videos=1, attack_videos=1, frames_per_video=2)
    a = make_fas_sim(tmp_path / "a", seed=5, **kwargs).parent
    b = make_fas_sim(tmp_path / "b", seed=5, **kwargs).parent
    c = make_fas_sim(tmp_path / "c", seed=6, **kwargs).parent
    assert _digest(a) == _digest(b)
    assert _digest(a) != _digest(c)


def test_domains_species_subjects_and_splits(tiny_sim):
    df = read_manifest(tiny_sim)
    assert set(df["domain"]) == set(DEFAULT_DOMAINS)
    for domain, part in df.groupby("domain"):
        assert set(part["attack_type"]) == {"none", *ATTACK_SPECIES}, domain
        assert set(part["label"]) == {0, 1}
        # within a domain, a subject and a video live in exactly one split; all three splits used
        assert (part.groupby("subject_id")["split"].nunique() == 1).all()
        assert set(part["split"]) == {"train", "val", "test"}
    assert (df.groupby("subject_id")["domain"].nunique() == 1).all()  # subjects disjoint across domains
    assert (df.groupby("video_id")["split"].nunique() == 1).all()
    assert ((df["label"] == 1) == (df["attack_type"] == "none")).all()


def test_images_are_rgb_frames_with_small_motion(tiny_sim):
    df = read_manifest(tiny_sim)
    video = df[df["video_id"] == df["video_id"].iloc[0]]
    frames = [read_image(p).astype(np.float32) for p in video["abs_path"]]
    assert frames[0].shape == (32, 32, 3)
    # colourised: channels are not all equal (not gray) in a live phone frame
    live = read_image(df[(df["domain"] == "phone") & (df["label"] == 1)]["abs_path"].iloc[0]).astype(np.float32)
    assert np.abs(live[..., 0] - live[..., 2]).mean() > 5
    # consecutive frames differ (motion, noise) but stay the same scene
    diff = np.abs(frames[0] - frames[1]).mean()
    other = read_image(df[df["subject_id"] != video["subject_id"].iloc[0]]["abs_path"].iloc[0]).astype(np.float32)
    assert 0.5 < diff < np.abs(frames[0] - other).mean()


def test_unknown_domain_is_a_clear_error(tmp_path):
    import pytest

    from facetrust.errors import DataError

    with pytest.raises(DataError, match="unknown domain"):
        make_fas_sim(tmp_path, domains=("phone", "moon"))

"""The captioned corpus: deterministic per seed, captions name the attributes, no fas-sim target leaks in."""

import dataclasses
import hashlib
import json

import pytest

from facetrust.data.sim.captions import ATTRIBUTES, make_captions, read_captions


def _hashes(df):
    return {hashlib.sha256(open(p, "rb").read()).hexdigest() for p in df["abs_path"]}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return read_captions(make_captions(tmp_path_factory.mktemp("c0"), seed=0, n_subjects=12, images_per_subject=3))


def test_same_seed_same_bytes_other_seed_differs(corpus, tmp_path):
    again = read_captions(make_captions(tmp_path / "a", seed=0, n_subjects=12, images_per_subject=3))
    assert _hashes(again) == _hashes(corpus)
    assert again["captions"].tolist() == corpus["captions"].tolist()
    other = read_captions(make_captions(tmp_path / "b", seed=1, n_subjects=12, images_per_subject=3))
    assert not (_hashes(other) & _hashes(corpus))


def test_manifest_columns_splits_and_captions(corpus):
    assert {"path", "split", "subject_id", "captions", *ATTRIBUTES} <= set(corpus.columns)
    assert set(corpus["split"]) == {"train", "val", "test"}
    per_subject = corpus.groupby("subject_id")["split"].nunique()
    assert (per_subject == 1).all()  # subjects never cross splits
    assert all(len(c) >= 2 for c in corpus["captions"])  # paraphrases
    for _, row in corpus.iterrows():  # every caption names the background colour and the presentation cue
        for caption in row["captions"]:
            assert row["background"] in caption
            if row["presentation"] == "print":
                assert "print" in caption
            if row["glasses"] == "sunglasses":
                assert "sunglasses" in caption or "shades" in caption
            if row["n_faces"] == "0":
                assert row["glasses"] == row["hat"] == row["pose"] == "none"


def test_no_target_leak_from_fas_sim(corpus, tmp_path, monkeypatch):
    """No LFW subject, no fas-sim frame, no fas-sim camera / printer / screen is in the corpus."""
    import skimage.data

    from facetrust.data import make_fas_sim, read_manifest
    from facetrust.data.sim.caption_scenes import DEVICES
    from facetrust.data.sim.fas_sim import CAMERAS

    # 1. the default corpus never reads lfw_subset (the faces fas-sim's subjects are made from)
    monkeypatch.setattr(skimage.data, "lfw_subset", lambda: (_ for _ in ()).throw(AssertionError("LFW read")))
    fresh = read_captions(make_captions(tmp_path / "c", seed=3, n_subjects=6, images_per_subject=2))
    monkeypatch.undo()
    assert set(fresh["face_source"]) == {"drawn"}
    # 2. subject ids and image bytes are disjoint from fas-sim's
    sim = read_manifest(make_fas_sim(tmp_path / "sim", seed=0, subjects_per_domain=3, frames_per_video=1))
    assert not set(sim["subject_id"]) & set(corpus["subject_id"])
    assert not _hashes(sim) & _hashes(corpus)
    # 3. the corpus's devices share no printer or screen parameter with a fas-sim domain
    for device in DEVICES.values():
        for camera in CAMERAS.values():
            assert dataclasses.astuple(device)[1:] != dataclasses.astuple(camera)[1:]
            if "printer" in device.name:  # the parameters a printer uses (_print_medium)
                assert device.halftone_period != camera.halftone_period and device.paper_tint != camera.paper_tint
            else:  # and a screen (_replay_medium)
                assert device.screen_pitch != camera.screen_pitch and device.screen_tint != camera.screen_tint
    assert set(corpus["device"]) - {"none"} <= set(DEVICES)


def test_lfw_option_is_marked(tmp_path):
    df = read_captions(make_captions(tmp_path, seed=0, n_subjects=4, images_per_subject=1, lfw_faces=True))
    assert set(df["face_source"]) == {"drawn", "lfw"}
    assert df[df["face_source"] == "lfw"]["subject_id"].str.match(r"lfw\d{3}$").all()
    assert json.loads((tmp_path / "corpus.json").read_text())["lfw_faces"] is True


def test_bad_manifest_rows_are_named(tmp_path):
    from facetrust.errors import DataError

    bad = tmp_path / "manifest.csv"
    bad.write_text('path,split,subject_id,captions\na.png,train,s1,"[""ok""]"\nb.png,train,s2,not json\n')
    with pytest.raises(DataError, match="row 3"):
        read_captions(bad)

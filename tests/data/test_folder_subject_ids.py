"""Folder importer subject ids: the domain once, one id per person (regex) or per video, splits disjoint
and the same as with the ids of earlier versions (``<domain>/<video id>``)."""

import re
from pathlib import Path

import numpy as np
import pytest

from facetrust.cli import main
from facetrust.data import read_manifest
from facetrust.data.check import check_manifest
from facetrust.data.importers import _folder_subject, _split_by_subject, import_folders
from facetrust.data.io import write_image
from facetrust.errors import DataError

PIXELS = np.zeros((8, 8, 3), np.uint8)


def _tree(root, domains=("a", "b"), people=8):
    for domain in domains:
        for s in range(people):
            write_image(root / domain / "live" / f"s{s}_x.png", PIXELS)
            write_image(root / domain / "spoof" / "print" / f"s{s}_y.png", PIXELS)
            for k in (0, 1):
                write_image(root / domain / "spoof" / "replay" / f"s{s}_vid" / f"f{k}.png", PIXELS)


def _disjoint(df):
    return (df.groupby("subject_id")["split"].nunique() == 1).all() and (df.groupby("subject_id")["domain"].nunique() == 1).all()


def test_default_subject_is_the_video_id_without_a_second_domain(tmp_path, capsys):
    _tree(tmp_path / "root")
    assert main(["data", "import-folders", str(tmp_path / "root"), str(tmp_path / "m.csv")]) == 0
    capsys.readouterr()
    df = read_manifest(tmp_path / "m.csv")
    assert (df["subject_id"] == df["video_id"]).all()
    assert df[df["path"].str.endswith("a/live/s3_x.png")]["subject_id"].iloc[0] == "a/live/none/s3_x"
    assert not df["subject_id"].str.match(r"^(a/a|b/b)/").any()  # the domain is not repeated
    assert df[df["path"].str.contains("a/spoof/replay/s3_vid")]["subject_id"].nunique() == 1  # frames of one video
    assert _disjoint(df) and set(df["split"]) == {"train", "val", "test"}
    assert check_manifest(tmp_path / "m.csv", decode=False).ok


def test_splits_are_the_same_as_with_the_old_ids(tmp_path):
    """Earlier versions wrote ``<domain>/<video id>``; the split of every file is unchanged."""
    _tree(tmp_path)
    for seed in (0, 1, 7):
        df = read_manifest(import_folders(tmp_path, tmp_path / f"m{seed}.csv", seed=seed))
        legacy = df.assign(split="", subject_id=df["domain"] + "/" + df["video_id"])
        old = _split_by_subject(legacy, (0.6, 0.2, 0.2), seed)
        assert (old["split"].to_numpy() == df["split"].to_numpy()).all()
        assert old["subject_id"].str.startswith(("a/a/", "b/b/")).all()  # what the old ids looked like


def test_regex_gives_one_id_per_person_across_classes_and_videos(tmp_path):
    _tree(tmp_path)
    df = read_manifest(import_folders(tmp_path, tmp_path / "m.csv", subject_regex=r"(s\d)_"))
    assert sorted(df[df["domain"] == "a"]["subject_id"].unique()) == [f"a/s{i}" for i in range(8)]
    person = df[df["subject_id"] == "a/s2"]
    assert len(person) == 4 and set(person["attack_type"]) == {"none", "print", "replay"}  # live and attacks
    assert person["split"].nunique() == 1 and _disjoint(df)
    assert not set(df[df["domain"] == "a"]["subject_id"]) & set(df[df["domain"] == "b"]["subject_id"])


def test_video_files_in_person_folders_stay_apart(tmp_path):
    """``live/alice/1.mp4`` and ``live/bob/1.mp4`` are two videos (they were one id, one crop path)."""
    for person in ("alice", "bob", "carol"):
        for kind in ("live", "spoof/replay"):
            folder = tmp_path / "cam" / kind / person
            folder.mkdir(parents=True)
            (folder / "1.mp4").write_bytes(b"")
    df = read_manifest(import_folders(tmp_path, tmp_path / "v.csv", videos=True))
    assert df["video_id"].is_unique and df["subject_id"].is_unique
    assert set(df[df["label"] == 1]["video_id"]) == {f"cam/live/none/{p}/1" for p in ("alice", "bob", "carol")}
    by_person = read_manifest(import_folders(tmp_path, tmp_path / "p.csv", videos=True,
                                             subject_regex=r"(?:live|replay)/([^/]+)/"))
    assert sorted(by_person["subject_id"].unique()) == ["cam/alice", "cam/bob", "cam/carol"]
    assert _disjoint(by_person)


def test_subject_regex_errors_and_a_group_with_the_domain(tmp_path):
    _tree(tmp_path, domains=("a",), people=2)
    with pytest.raises(DataError, match=r"subject regex 's\\\\d' has no group"):
        import_folders(tmp_path, tmp_path / "m.csv", subject_regex=r"s\d")
    with pytest.raises(DataError, match=r"'\(x' is not a valid regular expression"):
        import_folders(tmp_path, tmp_path / "m.csv", subject_regex="(x")
    with pytest.raises(DataError, match=r"s0_y\.png: subject regex .* does not match its path"):
        import_folders(tmp_path, tmp_path / "m.csv", subject_regex=r"live/(s\d)")
    path = Path(tmp_path / "a" / "live" / "s0_x.png")
    assert _folder_subject(path, tmp_path, "a", "a/live/none/s0_x", re.compile(r"^(a/live)/")) == "a/live"
    assert _folder_subject(path, tmp_path, "a", "a/live/none/s0_x", re.compile(r"(s\d)_")) == "a/s0"

import numpy as np
import pytest

from facetrust.cli import main
from facetrust.data import read_manifest
from facetrust.data.importers import import_deepfake, import_folders, import_mcio
from facetrust.data.io import write_image
from facetrust.errors import DataError

PIXELS = np.zeros((8, 8, 3), np.uint8)

MCIO_FILES = [
    "casia/train/real/1_1", "casia/train/fake/1_3", "casia/train/fake/1_7", "casia/train/fake/2_HR_4",
    "casia/train/real/2_HR_1", "casia/train/real/3_1", "casia/train/real/4_2", "casia/test/real/21_1",
    "casia/test/fake/21_5",
    "msu/train/real/real_client002_android_SD_scene01",
    "msu/train/fake/attack_client002_android_SD_printed_photo_scene01",
    "msu/test/fake/attack_client001_android_SD_ipad_video_scene01",
    "replay/train/fake/fixed_attack_highdef_client001_session01_highdef_photo_adverse",
    "replay/test/fake/hand_attack_mobile_client009_session01_mobile_video_adverse",
    "replay/test/real/real_client009_session01_webcam_authenticate_adverse_1",
    "oulu/train/real/1_1_01_1", "oulu/train/fake/1_1_01_2", "oulu/test/fake/1_1_36_5",
]


def _mcio_tree(root, txt=True):
    for stem in MCIO_FILES:
        for k in (0, 1):
            write_image(root / "frame" / f"{stem}_frame{k}.png", PIXELS)
    if txt:  # FLIP's train list for casia also names a file from casia/test
        (root / "txt").mkdir()
        (root / "txt" / "casia_fake_train.txt").write_text("casia/train/fake/1_3_frame0.png\ncasia/test/fake/21_5_frame0.png\n")
        (root / "txt" / "casia_real_train.txt").write_text(
            "\n".join(f"casia/train/real/{v}_frame0.png" for v in ("1_1", "2_HR_1", "3_1", "4_2")) + "\n")
        (root / "txt" / "casia_fake_test.txt").write_text("casia/train/fake/1_7_frame0.png\n")


def test_mcio_layout_labels_species_subjects_and_txt_splits(tmp_path):
    _mcio_tree(tmp_path)
    df = read_manifest(import_mcio(tmp_path, tmp_path / "mcio.csv", val_fraction=0.0))
    assert len(df) == 2 * len(MCIO_FILES)
    row = lambda name: df[df["path"].str.endswith(name + "_frame0.png")].iloc[0]  # noqa: E731
    assert row("1_3")["attack_type"] == "print" and row("1_7")["attack_type"] == "replay"
    assert row("2_HR_4")["attack_type"] == "replay" and row("2_HR_1")["label"] == 1
    assert row("attack_client002_android_SD_printed_photo_scene01")["attack_type"] == "print"
    assert row("attack_client001_android_SD_ipad_video_scene01")["attack_type"] == "replay"
    assert row("1_1_01_2")["attack_type"] == "print" and row("1_1_36_5")["attack_type"] == "replay"
    assert row("real_client009_session01_webcam_authenticate_adverse_1")["subject_id"] == "I/009"
    assert set(df["domain"]) == set("MCIO")
    # casia: split from FLIP's txt lists (frame1 follows frame0), the rest from folders
    assert row("21_5")["split"] == "train" and row("1_7")["split"] == "test"
    assert (df[df["path"].str.contains("21_5_frame")]["split"] == "train").all()
    assert row("attack_client001_android_SD_ipad_video_scene01")["split"] == "test"
    assert df.groupby("video_id")["path"].count().eq(2).all()  # frame0 + frame1 = one video


def test_mcio_val_holds_out_whole_subjects(tmp_path):
    _mcio_tree(tmp_path, txt=False)
    df = read_manifest(import_mcio(tmp_path, tmp_path / "m.csv", val_fraction=0.5, seed=0))
    casia = df[df["domain"] == "C"]
    assert set(casia["split"]) == {"train", "val", "test"}
    assert sorted(casia[casia["split"] == "val"]["subject_id"].unique()) != []
    assert not set(df[df["split"] == "val"]["subject_id"]) & set(df[df["split"] == "train"]["subject_id"])
    assert len(casia[casia["split"] == "val"]["subject_id"].unique()) == 2  # half of C/1..C/4


def test_generic_folders_with_and_without_split_level(tmp_path):
    for subject in range(5):
        write_image(tmp_path / "a" / "live" / f"s{subject}_x.png", PIXELS)
        write_image(tmp_path / "a" / "spoof" / "print" / f"s{subject}_y.png", PIXELS)
        write_image(tmp_path / "a" / "spoof" / "replay" / f"s{subject}_vid" / "f0.png", PIXELS)
        write_image(tmp_path / "a" / "spoof" / "replay" / f"s{subject}_vid" / "f1.png", PIXELS)
    write_image(tmp_path / "b" / "test" / "real" / "s7_one.png", PIXELS)
    write_image(tmp_path / "b" / "test" / "fake" / "mask" / "s7_two.png", PIXELS)
    df = read_manifest(import_folders(tmp_path, tmp_path / "m.csv"))
    a = df[df["domain"] == "a"]
    assert set(a["attack_type"]) == {"none", "print", "replay"}
    assert a[a["attack_type"] == "replay"].groupby("video_id").size().eq(2).all()  # a folder is a video
    assert set(df[df["domain"] == "b"]["split"]) == {"test"}
    assert df[df["path"].str.endswith("s7_two.png")]["attack_type"].iloc[0] == "mask"
    by_subject = read_manifest(import_folders(tmp_path, tmp_path / "s.csv", subject_regex=r"(s\d)_"))
    assert sorted(by_subject[by_subject["domain"] == "a"]["subject_id"].unique()) == [f"a/s{i}" for i in range(5)]
    assert (by_subject.groupby("subject_id")["split"].nunique() == 1).all()  # split by subject, no leak
    assert set(by_subject[by_subject["domain"] == "a"]["split"]) == {"train", "val", "test"}


def test_generic_folders_bad_layout_names_the_file(tmp_path):
    write_image(tmp_path / "a" / "genuine" / "x.png", PIXELS)
    with pytest.raises(DataError, match=r"genuine/x\.png.*live\|spoof"):
        import_folders(tmp_path, tmp_path / "m.csv")


def test_deepfake_folders_and_cli(tmp_path, capsys):
    for i in range(10):
        write_image(tmp_path / "ff" / "real" / f"r{i}.png", PIXELS)
        write_image(tmp_path / "ff" / "fake" / f"f{i}.png", PIXELS)
    df = read_manifest(import_deepfake(tmp_path / "ff", tmp_path / "d.csv"))
    assert (df["label"] == 1).sum() == 10 and set(df[df["label"] == 0]["attack_type"]) == {"fake"}
    counts = df["split"].value_counts()
    assert (counts["train"], counts["val"], counts["test"]) == (14, 4, 2)  # 7:2:1 of 20
    assert main(["data", "import-deepfake", str(tmp_path / "ff"), str(tmp_path / "cli.csv")]) == 0
    assert "manifest written" in capsys.readouterr().out

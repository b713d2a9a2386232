import shutil

import pandas as pd
import pytest

from facetrust.cli import main
from facetrust.data import read_manifest, write_manifest
from facetrust.data.check import check_manifest
from facetrust.errors import DataError


def _copy_sim(tiny_sim, tmp_path):
    folder = tmp_path / "sim"
    shutil.copytree(tiny_sim.parent, folder)
    return folder / "manifest.csv"


def test_read_manifest_adds_absolute_paths_and_round_trips(tiny_sim, tmp_path):
    df = read_manifest(tiny_sim)
    assert df["abs_path"].map(lambda p: p.startswith(str(tiny_sim.parent))).all()
    out = write_manifest(df, tmp_path / "deeper" / "copy.csv")
    text = out.read_text()
    assert "abs_path" not in text.splitlines()[0] and str(tiny_sim.parent) not in text.splitlines()[1]
    again = read_manifest(out)
    assert again["abs_path"].tolist() == df["abs_path"].tolist()  # relative to the new folder, same files


def _parquet_engine() -> bool:
    import importlib.util

    return any(importlib.util.find_spec(m) for m in ("pyarrow", "fastparquet"))


def test_parquet_without_an_engine_is_a_clear_error(tiny_sim, tmp_path):
    if _parquet_engine():
        pytest.skip("a Parquet engine is installed: the missing-engine error cannot be shown")
    with pytest.raises(DataError, match="pip install pyarrow"):
        write_manifest(read_manifest(tiny_sim), tmp_path / "copy.parquet")


def test_parquet_manifest_round_trip(tiny_sim, tmp_path):
    if not _parquet_engine():
        pytest.skip("no Parquet engine (pip install pyarrow)")
    df = read_manifest(tiny_sim)
    parquet = write_manifest(df, tmp_path / "copy.parquet")
    assert read_manifest(parquet)["abs_path"].tolist() == df["abs_path"].tolist()


@pytest.mark.parametrize("change,message", [
    (lambda d: d.drop(columns=["domain"]), r"missing column\(s\) \['domain'\]"),
    (lambda d: d.assign(label=d["label"].where(d.index != 4, 2)), r"row 4: label .2. is not 0"),
    (lambda d: d.assign(attack_type=d["attack_type"].where(d.index != 0, "print")), r"row 0: label 1 with attack_type 'print'"),
    (lambda d: d.assign(split=d["split"].where(d.index != 3, "training")), r"row 3: split 'training'"),
    (lambda d: d.assign(video_id=d["video_id"].where(d.index != 2, "")), r"row 2: empty 'video_id'"),
])
def test_bad_manifest_names_file_row_and_problem(tiny_sim, tmp_path, change, message):
    df = pd.read_csv(tiny_sim, keep_default_na=False)
    assert df["label"].iloc[0] == 1 and df["label"].iloc[4] in (0, 1)
    change(df).to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(DataError, match=message) as err:
        read_manifest(tmp_path / "bad.csv")
    assert "bad.csv" in str(err.value)


def test_check_passes_on_fas_sim(tiny_sim, capsys):
    report = check_manifest(tiny_sim)
    assert report.ok, report.errors
    assert report.rows == len(read_manifest(tiny_sim))
    assert report.counts["phone"]["none"] == 3 * 1 * 2  # 3 subjects x 1 live video x 2 frames
    assert main(["data", "check", str(tiny_sim)]) == 0
    assert "OK" in capsys.readouterr().out


def test_check_catches_a_corrupt_file(tiny_sim, tmp_path, capsys):
    manifest = _copy_sim(tiny_sim, tmp_path)
    victim = read_manifest(manifest)["abs_path"][5]
    data = open(victim, "rb").read()
    open(victim, "wb").write(data[: len(data) // 2])
    report = check_manifest(manifest)
    assert not report.ok
    assert [b["path"] for b in report.bad_files] == [read_manifest(manifest)["path"][5]]
    assert main(["data", "check", str(manifest)]) == 1
    out = capsys.readouterr().out
    assert "truncated" in out and read_manifest(manifest)["path"][5].split("/")[-1] in out


def test_check_catches_subject_and_video_leaks(tiny_sim, tmp_path):
    manifest = _copy_sim(tiny_sim, tmp_path)
    df = pd.read_csv(manifest, keep_default_na=False)
    first_video = df["video_id"].iloc[0]
    leaked = df.index[df["video_id"] == first_video][:1]  # one frame of a training video moved to test
    assert df.loc[leaked, "split"].iloc[0] != "test"
    df.loc[leaked, "split"] = "test"
    df.to_csv(manifest, index=False)
    report = check_manifest(manifest)
    assert any(e.startswith("subject leak") for e in report.errors)
    assert any(e.startswith("video leak") and first_video in e for e in report.errors)


def test_check_catches_duplicates_and_cross_domain_subjects(tiny_sim, tmp_path):
    manifest = _copy_sim(tiny_sim, tmp_path)
    df = pd.read_csv(manifest, keep_default_na=False)
    other_domain = df[df["domain"] != df["domain"].iloc[0]].index[0]
    df.loc[other_domain, "subject_id"] = df["subject_id"].iloc[0]
    df = pd.concat([df, df.iloc[[1]]])
    df.to_csv(manifest, index=False)
    errors = check_manifest(manifest).errors
    assert any("listed more than once" in e for e in errors)
    assert any(e.startswith("cross-domain subject") for e in errors)

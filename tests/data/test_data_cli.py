import json

import cv2
import numpy as np

from facetrust.cli import main
from facetrust.data import read_image, read_manifest


def test_make_sim_cli_writes_manifest_and_grid(tmp_path, capsys):
    out = tmp_path / "sim"
    code = main(["data", "make-sim", str(out), "--size", "32", "--subjects", "3", "--frames", "1",
                 "--seed", "1", "--grid", str(tmp_path / "grid.png")])
    assert code == 0
    df = read_manifest(out / "manifest.csv")
    assert len(df) == 4 * 3 * 4 * 1  # domains x subjects x (2 live + print + replay videos) x frames
    assert read_image(df["abs_path"][0]).shape == (32, 32, 3)
    assert read_image(tmp_path / "grid.png").shape[0] > 100
    assert "fas-sim written" in capsys.readouterr().out


def test_prepare_videos_cli_from_a_folder_of_videos(tmp_path, capsys):
    for kind, level in (("live", 60), ("spoof/replay", 180)):
        folder = tmp_path / "videos" / "cam" / kind
        folder.mkdir(parents=True)
        writer = cv2.VideoWriter(str(folder / "clip.avi"), cv2.VideoWriter_fourcc(*"MJPG"), 10, (40, 30))
        for _ in range(12):
            writer.write(np.full((30, 40, 3), level, np.uint8))
        writer.release()
    code = main(["data", "prepare-videos", str(tmp_path / "videos"), str(tmp_path / "out"),
                 "--detector", "none", "--size", "24"])
    assert code == 0
    df = read_manifest(tmp_path / "out" / "manifest.csv")
    assert sorted(df["attack_type"]) == ["none", "none", "replay", "replay"]  # 2 FLIP frames per video
    assert df.groupby("attack_type")["frame"].apply(list).to_dict() == {"none": [6, 11], "replay": [6, 11]}
    summary = json.loads(capsys.readouterr().out.split("manifest written")[0])
    assert summary["frames_written"] == 4 and summary["videos_failed"] == 0


def test_data_without_action_prints_help(capsys):
    assert main(["data"]) == 1
    assert "make-sim" in capsys.readouterr().out

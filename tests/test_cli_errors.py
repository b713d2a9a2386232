"""The CLI's answers to bad input, as a table: input -> exit status and the message's key words.

Every case runs ``facetrust.cli.main`` in-process (an exception escaping it would be the traceback a
user sees, and fails the test) and checks that stderr carries no traceback. One case also runs the
installed ``facetrust`` executable, to see what really reaches a terminal.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

import facetrust
from facetrust.cli import main
from facetrust.models import create_model

ROOT = Path(__file__).resolve().parents[1]
CONFIG = str(ROOT / "configs" / "demo" / "flip_it_tiny.yaml")
HAS_GPU = torch.cuda.is_available()


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cli-errors")
    torch.manual_seed(0)
    facetrust.save(create_model("resnet8", image_size=32), folder / "ckpt", threshold=0.5, threshold_strategy="fixed:0.5")
    cv2.imwrite(str(folder / "face.png"), np.full((60, 80, 3), 128, np.uint8))
    (folder / "videos" / "phone" / "live").mkdir(parents=True)
    (folder / "videos" / "phone" / "live" / "bad.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42 not a video")
    # an 8-frame video of which only the first frames survive
    writer = cv2.VideoWriter(str(folder / "full.avi"), cv2.VideoWriter_fourcc(*"MJPG"), 10, (64, 64))
    rng = np.random.default_rng(0)
    for _ in range(8):
        writer.write(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8))
    writer.release()
    data = (folder / "full.avi").read_bytes()
    (folder / "short.avi").write_bytes(data[: len(data) // 4])
    header = "path,label,domain,split,video_id,subject_id,attack_type\n"
    rows = ["face.png,1,d,train,v0,s0,none", "face.png,2,d,train,v1,s1,none", "face.png,0,d,train,v2,s2,none",
            "face.png,1,d,training,v3,s3,none"]
    (folder / "bad.csv").write_text(header + "\n".join(rows) + "\n")
    return folder


def _(*argv):
    return list(argv)


# (id, argv with {d} = the fixture folder, exit status, words the message must contain)
CASES = [
    ("no-command", _(), 2, ["usage: facetrust", "give a COMMAND"]),
    ("clip-unknown", _("train", CONFIG, "--set", "model.clip=clip-huge"), 2,
     ["--set model.clip=clip-huge", "not a known CLIP", "clip-tiny", "clip-small", "ViT-B-16"]),
    ("pretrained-tag-offline", _("train", CONFIG, "--set", "model.pretrained=openai"), 2,
     ["--set model.pretrained=openai", "no such pretrained tag", "clip-tiny", ".safetensors"]),
    ("set-typo", _("train", CONFIG, "--set", "train.iteratons=5"), 2,
     ["--set train.iteratons=5", "did you mean 'iterations'"]),
    ("set-syntax", _("train", CONFIG, "--set", "train.iterations"), 2, ["expected KEY=VALUE"]),
    ("config-missing", _("train", "{d}/nope.yaml"), 2, ["nope.yaml does not exist"]),
    ("device-gpu", _("predict", "{d}/ckpt", "{d}/face.png", "--device", "gpu"), 2,
     ["--device gpu", "no CUDA GPU", "--device cpu"]),
    ("device-cuda", _("predict", "{d}/ckpt", "{d}/face.png", "--device", "cuda"), 2, ["--device cuda", "no CUDA GPU"]),
    ("device-unknown", _("predict", "{d}/ckpt", "{d}/face.png", "--device", "tpu"), 2,
     ["'tpu' is not a device", "auto | cpu | gpu | cuda"]),
    ("eval-device", _("eval", "{d}/ckpt", "{d}/bad.csv", "--device", "gpu"), 2, ["--device gpu", "no CUDA GPU"]),
    ("threshold-range", _("predict", "{d}/ckpt", "{d}/face.png", "--threshold", "1.5"), 2, ["not a probability"]),
    ("max-pixels", _("predict", "{d}/ckpt", "{d}/face.png", "--max-pixels", "100"), 1,
     ["above the limit of 100", "--max-pixels N"]),
    ("predict-missing", _("predict", "{d}/ckpt", "{d}/nope.png"), 1, ["nope.png: error: file not found", "1 failed"]),
    ("predict-short-video", _("predict", "{d}/ckpt", "{d}/short.avi", "--detector", "cascade"), 1,
     ["stopped after", "of 8 frames"]),
    ("prepare-videos-corrupt", _("data", "prepare-videos", "{d}/videos", "{d}/prepared"), 2,
     ["bad.mp4", "corrupt"]),
    ("prepare-videos-file", _("data", "prepare-videos", "{d}/videos/phone/live/bad.mp4", "{d}/prepared"), 2,
     ["is a video file", "takes a manifest"]),
    ("data-check-all-rows", _("data", "check", "{d}/bad.csv"), 1,
     ["line 3, row 1: label '2'", "line 4, row 2: label 0 with attack_type 'none'", "line 5, row 3: split 'training'",
      "FAILED: 3 error(s)"]),
    ("models-no-match", _("models", "zzz*"), 1, ["no model matches 'zzz*'"]),
    ("checkpoint-missing", _("predict", "{d}/no-such-ckpt", "{d}/face.png"), 2, ["no-such-ckpt"]),
]


@pytest.mark.parametrize(("argv", "code", "words"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_cli_error_table(files, argv, code, words, capsys, monkeypatch):
    if HAS_GPU and any(a.startswith(("gpu", "cuda")) for a in argv):
        pytest.skip("this machine has a GPU")
    monkeypatch.setenv("FACETRUST_MAX_PIXELS", "50000000")  # --max-pixels sets it; restored after the test
    monkeypatch.chdir(files)
    argv = [a.replace("{d}", str(files)) for a in argv]
    assert main(argv) == code
    captured = capsys.readouterr()
    text = captured.out + captured.err
    assert "Traceback" not in captured.err
    for word in words:
        assert word in text, (word, text)


def test_data_check_lists_no_empty_table(files, capsys):
    main(["data", "check", str(files / "bad.csv")])
    out = capsys.readouterr().out
    assert "rows)" not in out and "domain" not in out  # no "(0 rows)" and no empty table before the errors


def test_protocol_targets(files):
    import pandas as pd

    from facetrust.config import load_config
    from facetrust.errors import ConfigError
    from facetrust.tasks.fas_config import FasExperiment
    from facetrust.tasks.folds import protocols as _protocols

    config = load_config(CONFIG, FasExperiment, ["protocol.targets=cctv"])  # a single name is a list of one
    assert config.protocol.targets == ["cctv"]
    df = pd.DataFrame({"domain": ["cctv", "kiosk", "phone", "webcam"]})
    assert [f.target for f in _protocols(config, df)] == ["cctv"]
    config = load_config(CONFIG, FasExperiment, ["protocol.targets=[ctv]"])
    with pytest.raises(ConfigError, match="its target domains: cctv, kiosk, phone, webcam"):
        _protocols(config, df)


def test_set_blamed_only_for_its_own_error(tmp_path):
    from facetrust.config import load_config
    from facetrust.errors import ConfigError
    from facetrust.tasks.fas_config import FasExperiment

    broken = tmp_path / "broken.yaml"
    broken.write_text(Path(CONFIG).read_text() + "\ntrainn: {}\n")
    with pytest.raises(ConfigError) as err:
        load_config(broken, FasExperiment, ["train.iterations=5"])
    assert str(err.value).startswith(f"{broken}: unknown key 'trainn'")  # the file's own typo: the file
    with pytest.raises(ConfigError) as err:
        load_config(CONFIG, FasExperiment, ["train.iterations=5", "train.lr=fast"])
    assert str(err.value).startswith("--set train.lr=fast: train.lr = 'fast' must be a number")


def test_os_errors_on_user_paths_are_messages_and_bugs_keep_tracebacks(monkeypatch, capsys):
    import facetrust.commands.version as version

    def missing(args):
        raise FileNotFoundError(2, "No such file or directory", "some/input.txt")

    def bug(args):
        raise ZeroDivisionError("a real bug")

    monkeypatch.setattr(version, "run", missing)  # register() reads it when the parser is built
    assert main(["version"]) == 2
    assert "facetrust version: error: some/input.txt: No such file or directory" in capsys.readouterr().err
    monkeypatch.setattr(version, "run", bug)
    with pytest.raises(ZeroDivisionError):  # a bug is never hidden behind a message
        main(["version"])


@pytest.mark.skipif(HAS_GPU, reason="this machine has a GPU")
def test_the_real_executable_prints_no_traceback(files):
    exe = Path(sys.executable).with_name("facetrust")
    command = [str(exe)] if exe.exists() else [sys.executable, "-m", "facetrust.cli"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    run = subprocess.run(command + ["predict", str(files / "ckpt"), str(files / "face.png"), "--device", "gpu"],
                         capture_output=True, text=True, env=env, timeout=300)
    assert run.returncode == 2 and "no CUDA GPU" in run.stderr and "Traceback" not in run.stderr
    run = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    assert run.returncode == 2 and "usage: facetrust" in run.stderr


def test_eval_states_its_split_and_never_overwrites(files, capsys, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    header = "path,label,domain,split,video_id,subject_id,attack_type\n"
    rows = [f"{files / 'face.png'},{label},{domain},{split},v{i},s{i},{'none' if label else 'print'}"
            for i, (label, domain, split) in enumerate([(1, "a", "test"), (0, "a", "test"), (1, "a", "train"),
                                                        (0, "a", "train"), (1, "b", "test"), (0, "b", "val")])]
    (tmp_path / "m.csv").write_text(header + "\n".join(rows) + "\n")
    argv = ["eval", str(files / "ckpt"), "m.csv", "--threshold", "fixed:0.5", "--bootstrap", "0", "--no-figures",
            "--quiet"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "evaluated 3 images of" in out and "split test" in out  # no --domain: the test rows
    assert "split `test` (3 images)" in (tmp_path / "eval-ckpt-test" / "report.md").read_text()
    assert main(argv) == 2
    assert "eval-ckpt-test already exists; pass --force" in capsys.readouterr().err
    assert main(argv + ["--force"]) == 0
    capsys.readouterr()
    # --domain a: every row of the held-out domain, as the training summary scores a fold
    assert main(argv + ["--domain", "a"]) == 0
    assert "evaluated 4 images" in capsys.readouterr().out and (tmp_path / "eval-ckpt-a").is_dir()


def test_configs_by_name_from_any_folder_and_env_overrides(monkeypatch, tmp_path):
    from facetrust.config import load_config
    from facetrust.errors import ConfigError
    from facetrust.tasks import read_task
    from facetrust.tasks.fas_config import FasExperiment

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("FACETRUST_SET", "train.iterations=3; protocol.targets=cctv")
    config = load_config("demo/flip_it_tiny", FasExperiment, ["train.val_every=1"])
    assert (config.name, config.train.iterations, config.train.val_every) == ("flip_it_tiny", 3, 1)
    assert config.protocol.targets == ["cctv"] and read_task("demo/flip_it_tiny.yaml") == "fas"
    with pytest.raises(ConfigError, match=r"config file demo/nope does not exist \(config names are also looked up in: .*configs"):
        load_config("demo/nope", FasExperiment)

"""Crash-safe writes: atomic files and folders, and a checkpoint writer SIGKILLed mid-write."""

import os
import random
import signal
import subprocess
import sys
import textwrap
import time

import pytest
import torch
from torch import nn

import facetrust
from facetrust import atomic
from facetrust.errors import CheckpointError
from facetrust.registry import MODELS


class AtomicNet(nn.Module):
    """A model whose every float tensor holds one value, so a mixed or partial state is visible."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 16, 3)
        self.fc = nn.Linear(16, 1024)  # 64 KB of weights: a write takes many chunks
        self.head = nn.Linear(1024, 2)
        self.preprocess = {"input_size": (3, 8, 8), "mean": (0.5, 0.5, 0.5), "std": (0.25, 0.25, 0.25)}


if "test_atomic_net" not in MODELS:
    MODELS.register("test_atomic_net")(AtomicNet)


def test_write_text_replaces_and_a_failed_write_keeps_the_old_file(tmp_path):
    path = tmp_path / "a" / "report.json"
    atomic.write_text(path, "old")
    with pytest.raises(RuntimeError):
        with atomic.atomic_path(path) as tmp:
            tmp.write_text("half")
            raise RuntimeError("killed")
    assert path.read_text() == "old"
    atomic.write_text(path, "new")
    assert path.read_text() == "new"
    assert sorted(p.name for p in path.parent.iterdir()) == ["report.json"]  # no temporary left


def test_atomic_folder_swaps_whole_and_keeps_other_files(tmp_path):
    folder = tmp_path / "ckpt"
    folder.mkdir()
    (folder / "model.safetensors").write_text("old weights")
    (folder / "notes.txt").write_text("mine")
    with pytest.raises(ValueError):
        with atomic.atomic_folder(folder) as building:
            (building / "model.safetensors").write_text("half")
            raise ValueError
    assert (folder / "model.safetensors").read_text() == "old weights"
    with atomic.atomic_folder(folder) as building:
        (building / "model.safetensors").write_text("new weights")
    assert (folder / "model.safetensors").read_text() == "new weights"
    assert (folder / "notes.txt").read_text() == "mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt"]


# The child saves checkpoints in a loop (save k: every float tensor = k), with the weights file written
# slowly in small chunks (a hook around safetensors' writer), until it is SIGKILLed.
CHILD = textwrap.dedent("""
    import sys, time
    import torch
    from torch import nn
    import safetensors.torch as st
    from facetrust.checkpoint import save

    real_save = st.save_model

    def slow_save(model, filename, *args, **kwargs):
        real_save(model, filename, *args, **kwargs)
        data = open(filename, "rb").read()
        with open(filename, "wb") as f:  # rewrite it slowly: a kill lands mid-write
            for i in range(0, len(data), 1024):
                f.write(data[i:i + 1024]); f.flush(); time.sleep(0.002)

    st.save_model = slow_save

    class AtomicNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 16, 3)
            self.fc = nn.Linear(16, 1024)
            self.head = nn.Linear(1024, 2)

    model = AtomicNet()
    model.architecture = {"name": "test_atomic_net", "kwargs": {}}
    model.preprocess = {"input_size": [3, 8, 8], "mean": [0.5] * 3, "std": [0.25] * 3}
    folder = sys.argv[1]
    k = 1
    while True:
        with torch.no_grad():
            for t in model.state_dict().values():
                t.fill_(k)
        save(model, folder, metadata={"k": k})
        print(k, flush=True)
        k += 1
""")


def _values(model) -> set[float]:
    return {float(v) for t in model.state_dict().values() for v in t.flatten().unique()}


def test_sigkill_mid_checkpoint_write_leaves_old_state_or_none(tmp_path):
    script = tmp_path / "writer.py"
    script.write_text(CHILD)
    rng = random.Random(0)
    children = []
    for i in range(4):  # four writers at once, each killed at its own random moment
        folder = tmp_path / f"run{i}" / "checkpoint"
        model = facetrust.create_model("test_atomic_net")
        with torch.no_grad():
            for t in model.state_dict().values():
                t.fill_(0)
        facetrust.save(model, folder, metadata={"k": 0})  # the old state
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        proc = subprocess.Popen([sys.executable, str(script), str(folder)], stdout=subprocess.PIPE, text=True,
                                env=env)
        children.append((proc, folder))
    for proc, _folder in children:
        assert proc.stdout.readline().strip() == "1", "the writer did not start"  # one full save done
        time.sleep(rng.uniform(0.0, 0.6))
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    loaded_states = 0
    for _proc, folder in children:
        try:
            model = facetrust.load_model(folder)
        except CheckpointError:
            continue  # killed between the two renames: no checkpoint at the path (old one beside it)
        values = _values(model)
        assert len(values) == 1, f"{folder} loads a mixed state {values}"
        assert model.metadata["k"] == int(values.pop()), "config and weights come from different saves"
        loaded_states += 1
    assert loaded_states >= 3  # the swap window is tiny: most kills land mid-write, leaving the old state
    leftovers = [p for proc, folder in children for p in folder.parent.iterdir() if p.name.endswith(".tmp")]
    assert leftovers, "no kill landed mid-write (no temporary folder left behind); the test proved nothing"


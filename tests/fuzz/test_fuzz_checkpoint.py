"""The checkpoint loader on randomly corrupted folders: CheckpointError (or the model, when the
damage is harmless), never another exception and never an unpickle (property-based, hypothesis)."""

import copy
import json
import pickle
import shutil

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

import facetrust
from facetrust.checkpoint import CONFIG, WEIGHTS, file_sha256
from facetrust.errors import CheckpointError
from facetrust.registry import MODELS


class FuzzNet(nn.Module):
    def __init__(self, width: int = 4) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, width, 3)
        self.head = nn.Linear(width, 2)
        self.preprocess = {"input_size": (3, 8, 8), "mean": (0.5,) * 3, "std": (0.25,) * 3}

    def forward(self, x):
        return self.head(self.conv(x).mean((2, 3)))


if "test_fuzz_net" not in MODELS:
    MODELS.register("test_fuzz_net")(FuzzNet)

_ORIGINAL = {}


def _original(tmp_path_factory):
    if "path" not in _ORIGINAL:
        folder = tmp_path_factory.mktemp("fuzz_ckpt") / "ckpt"
        facetrust.save(facetrust.create_model("test_fuzz_net", width=4), folder, threshold=0.5)
        _ORIGINAL["path"] = folder
    return _ORIGINAL["path"]


@pytest.fixture
def no_unpickle(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("the checkpoint loader unpickled something")

    monkeypatch.setattr(pickle, "loads", refuse)
    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "Unpickler", refuse)
    monkeypatch.setattr(torch, "load", refuse)


def _copy(tmp_path_factory, original):
    folder = tmp_path_factory.mktemp("case") / "ckpt"
    shutil.copytree(original, folder)
    return folder


def _load_or_checkpoint_error(folder):
    try:
        model = facetrust.load_model(folder)
    except CheckpointError as err:
        assert str(folder) in str(err) or folder.name in str(err), f"the error does not name the checkpoint: {err}"
        return None
    assert isinstance(model, nn.Module)
    return model


@given(st.sampled_from([CONFIG, WEIGHTS]), st.lists(st.tuples(st.floats(0, 0.999), st.integers(0, 255)),
                                                      min_size=1, max_size=8), st.booleans())
def test_flipped_bytes(tmp_path_factory, no_unpickle, name, flips, rehash):  # kind 18 (rehash: past the SHA check)
    folder = _copy(tmp_path_factory, _original(tmp_path_factory))
    data = bytearray((folder / name).read_bytes())
    for where, value in flips:
        data[int(where * len(data))] = value
    (folder / name).write_bytes(bytes(data))
    if rehash and name == WEIGHTS:  # a consistent hash: the safetensors parser itself must refuse
        config = json.loads((folder / CONFIG).read_text())
        config["files"][WEIGHTS] = {"bytes": len(data), "sha256": file_sha256(folder / WEIGHTS)}
        (folder / CONFIG).write_text(json.dumps(config))
    _load_or_checkpoint_error(folder)


@given(st.sampled_from([CONFIG, WEIGHTS]), st.floats(0, 0.999))
def test_truncated(tmp_path_factory, no_unpickle, name, keep):  # kind 19
    folder = _copy(tmp_path_factory, _original(tmp_path_factory))
    data = (folder / name).read_bytes()
    (folder / name).write_bytes(data[: min(int(len(data) * keep), len(data) - 2)])  # past the final '}\n'
    assert _load_or_checkpoint_error(folder) is None


json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
                           max_leaves=6)


@given(st.lists(st.sampled_from(["format", "format_version", "architecture", "preprocess", "class_names", "files",
                                 "threshold", "task", "extra", "metadata", "crop", "architecture.name",
                                 "architecture.kwargs", "files.model.safetensors", "preprocess.input_size",
                                 "preprocess.mean"]), min_size=1, max_size=3), json_values)
def test_wrong_config_values(tmp_path_factory, no_unpickle, keys, value):  # kind 20: valid JSON, wrong values
    folder = _copy(tmp_path_factory, _original(tmp_path_factory))
    config = json.loads((folder / CONFIG).read_text())
    for key in keys:
        node = config
        parts = key.split(".", 1) if not key.startswith("files.") else ["files", WEIGHTS]
        for part in parts[:-1]:
            node = node.setdefault(part, {}) if isinstance(node, dict) else {}
        if isinstance(node, dict):
            node[parts[-1]] = copy.deepcopy(value)
    (folder / CONFIG).write_text(json.dumps(config))
    _load_or_checkpoint_error(folder)


@given(st.sampled_from(["pickle", "config_random", "weights_missing", "extra_pickle"]), st.binary(max_size=300))
def test_replaced_files(tmp_path_factory, no_unpickle, kind, junk):  # kind 21
    folder = _copy(tmp_path_factory, _original(tmp_path_factory))
    if kind == "pickle":
        (folder / WEIGHTS).write_bytes(pickle.dumps({"w": [1, 2, 3]}) + junk)
    elif kind == "config_random":
        (folder / CONFIG).write_bytes(junk)
    elif kind == "weights_missing":
        (folder / WEIGHTS).unlink()
    else:
        (folder / "model.pt").write_bytes(pickle.dumps(junk))
    assert _load_or_checkpoint_error(folder) is None

import json
import pickle

import pytest
import torch
from torch import nn

import facetrust
from facetrust.checkpoint import CONFIG, WEIGHTS, read_config
from facetrust.errors import CheckpointError
from facetrust.registry import MODELS


class TinyNet(nn.Module):
    def __init__(self, width: int = 4, size: int = 16) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, width, 3, padding=1)
        self.bn = nn.BatchNorm2d(width)
        self.head = nn.Linear(width, 2)
        self.register_buffer("class_text_embeddings", torch.randn(2, width))
        self.preprocess = {"input_size": (3, size, size), "mean": (0.5, 0.5, 0.5), "std": (0.25, 0.25, 0.25)}

    def forward(self, x):
        return self.head(self.bn(self.conv(x)).relu().mean((2, 3)))


if "test_tiny_net" not in MODELS:
    MODELS.register("test_tiny_net")(TinyNet)


@pytest.fixture
def saved(tmp_path):
    torch.manual_seed(0)
    model = facetrust.create_model("test_tiny_net", width=6)
    model.train()
    model(torch.randn(8, 3, 16, 16))  # move BatchNorm running stats away from their defaults
    model.eval()
    folder = facetrust.save(model, tmp_path / "ckpt", threshold=0.42, threshold_strategy="eer@val",
                            metadata={"seed": 3})
    return model, folder


def test_round_trip_is_bit_identical(saved):
    model, folder = saved
    loaded = facetrust.load_model(folder)
    x = torch.randn(5, 3, 16, 16)
    with torch.no_grad():
        assert torch.equal(model(x), loaded(x))
    for (name, a), (_, b) in zip(model.state_dict().items(), loaded.state_dict().items(), strict=True):
        assert torch.equal(a, b), name
    assert loaded.threshold == 0.42 and loaded.threshold_strategy == "eer@val"
    assert loaded.metadata["seed"] == 3 and "torch" in loaded.metadata["versions"]
    assert loaded.preprocess["input_size"] == (3, 16, 16) and not loaded.training
    assert loaded.architecture == {"name": "test_tiny_net", "kwargs": {"width": 6}}


def test_predictor_scores_match_softmax(saved):
    import numpy as np

    model, folder = saved
    predictor = facetrust.load(folder)
    images = [np.random.default_rng(i).integers(0, 256, (16, 16, 3), dtype=np.uint8) for i in range(3)]
    scores = predictor.scores(images)
    batch = np.stack([(im / 255.0 - 0.5) / 0.25 for im in images]).transpose(0, 3, 1, 2)
    with torch.no_grad():
        reference = model(torch.tensor(batch, dtype=torch.float32)).softmax(1)[:, 1].numpy()
    np.testing.assert_allclose(scores, reference, rtol=1e-5, atol=1e-6)
    assert predictor.decide(scores).tolist() == (reference >= 0.42).tolist()


def test_config_records_checksum(saved):
    _, folder = saved
    config = read_config(folder)
    assert config["files"][WEIGHTS]["bytes"] == (folder / WEIGHTS).stat().st_size
    assert config["architecture"]["name"] == "test_tiny_net"


def test_missing_weights(saved):
    _, folder = saved
    (folder / WEIGHTS).unlink()
    with pytest.raises(CheckpointError, match=r"model.safetensors is missing"):
        facetrust.load_model(folder)


def test_missing_config(saved):
    _, folder = saved
    (folder / CONFIG).unlink()
    with pytest.raises(CheckpointError, match=r"config.json is missing"):
        facetrust.load_model(folder)


def test_truncated_weights(saved):
    _, folder = saved
    data = (folder / WEIGHTS).read_bytes()
    (folder / WEIGHTS).write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match=r"truncated"):
        facetrust.load_model(folder)


def test_corrupted_weights_same_size(saved):
    _, folder = saved
    data = bytearray((folder / WEIGHTS).read_bytes())
    data[-10] ^= 0xFF
    (folder / WEIGHTS).write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match=r"SHA-256.*corrupted"):
        facetrust.load_model(folder)


def test_corrupted_config(saved):
    _, folder = saved
    text = (folder / CONFIG).read_text()
    (folder / CONFIG).write_text(text[: len(text) // 2])
    with pytest.raises(CheckpointError, match=r"not valid JSON"):
        facetrust.load_model(folder)


def test_config_without_format(saved):
    _, folder = saved
    (folder / CONFIG).write_text(json.dumps({"architecture": {}}))
    with pytest.raises(CheckpointError, match=r"not a facetrust checkpoint"):
        facetrust.load_model(folder)


class Boom:
    def __reduce__(self):
        return (exec, ("raise SystemExit('unpickled!')",))


def test_pickle_file_is_refused_without_unpickling(tmp_path):
    bad = tmp_path / "model.pt"
    bad.write_bytes(pickle.dumps(Boom()))
    with pytest.raises(CheckpointError, match=r"never unpickles"):
        facetrust.load_model(bad)


def test_pickle_beside_weights_is_refused(saved):
    _, folder = saved
    (folder / "extra.pth").write_bytes(pickle.dumps(Boom()))
    with pytest.raises(CheckpointError, match=r"pickle files \['extra.pth'\]"):
        facetrust.load_model(folder)


def test_nonexistent_and_file_paths(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        facetrust.load_model(tmp_path / "nope")
    (tmp_path / "f.json").write_text("{}")
    with pytest.raises(CheckpointError, match="is a file"):
        facetrust.load_model(tmp_path / "f.json")


def test_unknown_architecture(saved):
    _, folder = saved
    config = json.loads((folder / CONFIG).read_text())
    config["architecture"]["name"] = "no_such_model"
    (folder / CONFIG).write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match=r"unknown model 'no_such_model'"):
        facetrust.load_model(folder)


def test_weights_of_another_shape(saved, tmp_path):
    _, folder = saved
    config = json.loads((folder / CONFIG).read_text())
    config["architecture"]["kwargs"]["width"] = 7
    (folder / CONFIG).write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match=r"could not be read as weights"):
        facetrust.load_model(folder)


def test_save_requires_factory_model(tmp_path):
    with pytest.raises(CheckpointError, match="create_model"):
        facetrust.save(nn.Linear(2, 2), tmp_path / "x")

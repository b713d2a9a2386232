from dataclasses import dataclass, field
from typing import Literal

import pytest

from facetrust.config import apply_overrides, dump_config, from_dict, load_config, parse_override
from facetrust.errors import ConfigError


@dataclass
class Optim:
    lr: float = 1e-3
    weight_decay: float = 0.0
    name: Literal["adam", "adamw", "sgd"] = "adamw"


@dataclass
class Experiment:
    name: str
    seed: int = 0
    steps: int = 100
    amp: bool = False
    sources: list[str] = field(default_factory=list)
    image_size: tuple[int, int] = (64, 64)
    optim: Optim = field(default_factory=Optim)
    losses: dict[str, float] = field(default_factory=dict)
    threshold: float | None = None


def write(tmp_path, text):
    path = tmp_path / "exp.yaml"
    path.write_text(text)
    return path


def test_valid_config_with_overrides(tmp_path):
    path = write(tmp_path, "name: a\noptim:\n  lr: 1\nsources: [M, C]\nlosses: {ce: 1, kd: 0.5}\n")
    cfg = load_config(path, Experiment, ["optim.lr=3e-4", "steps=7", "threshold=0.25", "image_size=[32, 48]"])
    assert cfg.optim.lr == pytest.approx(3e-4) and isinstance(cfg.optim.lr, float)
    assert cfg.steps == 7 and cfg.sources == ["M", "C"] and cfg.losses == {"ce": 1.0, "kd": 0.5}
    assert cfg.image_size == (32, 48) and cfg.threshold == 0.25


def test_unknown_key_names_key_and_file(tmp_path):
    path = write(tmp_path, "name: a\noptim:\n  lrr: 0.1\n")
    with pytest.raises(ConfigError) as err:
        load_config(path, Experiment)
    message = str(err.value)
    assert "optim.lrr" in message and str(path) in message and "did you mean 'lr'" in message


def test_unknown_top_level_key(tmp_path):
    with pytest.raises(ConfigError, match=r"unknown key 'sed'.*did you mean 'seed'"):
        load_config(write(tmp_path, "name: a\nsed: 3\n"), Experiment)


@pytest.mark.parametrize(
    "text, pattern",
    [
        ("name: a\nseed: three\n", r"seed = 'three' must be an integer"),
        ("name: a\nseed: 1.5\n", r"seed = 1.5 must be an integer"),
        ("name: a\namp: 1\n", r"amp = 1 must be true or false"),
        ("name: a\noptim: {lr: fast}\n", r"optim.lr = 'fast' must be a number"),
        ("name: a\noptim: {name: rmsprop}\n", r"optim.name = 'rmsprop' must be one of"),
        ("name: a\nsources: M\n", r"sources = 'M' must be a list"),
        ("name: a\nimage_size: [1, 2, 3]\n", r"image_size needs 2 values"),
        ("name: a\noptim: 3\n", r"optim must be a mapping"),
        ("seed: 1\n", r"required key 'name' is missing"),
        ("- 1\n- 2\n", r"top level must be a mapping"),
        ("name: [unclosed\n", r"not valid YAML"),
    ],
)
def test_wrong_values_are_errors(tmp_path, text, pattern):
    with pytest.raises(ConfigError, match=pattern):
        load_config(write(tmp_path, text), Experiment)


@pytest.mark.parametrize(
    "override, pattern",
    [
        ("optim.lr", r"expected KEY=VALUE"),
        ("=3", r"expected KEY=VALUE"),
        ("optim..lr=3", r"expected KEY=VALUE"),
        ("optim.lrr=3", r"unknown key 'optim.lrr'"),
        ("seed.x=3", r"seed = \{'x': 3\} must be an integer"),
        ("steps=[1", r"not valid YAML"),
        ("steps=abc", r"steps = 'abc' must be an integer"),
    ],
)
def test_bad_set_overrides(tmp_path, override, pattern):
    with pytest.raises(ConfigError, match=pattern):
        load_config(write(tmp_path, "name: a\n"), Experiment, [override])


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.yaml", Experiment)


def test_override_into_a_value_is_an_error():
    with pytest.raises(ConfigError, match="seed is a value, not a section"):
        apply_overrides({"seed": 1}, ["seed.x=3"])


def test_exponent_floats_in_yaml(tmp_path):
    cfg = load_config(write(tmp_path, "name: a\noptim: {lr: 1e-6, weight_decay: 5E-4}\n"), Experiment)
    assert cfg.optim.lr == 1e-6 and cfg.optim.weight_decay == 5e-4


def test_parse_override_types():
    assert parse_override("a.b=1e-4") == (["a", "b"], 1e-4)
    assert parse_override("a=true") == (["a"], True)
    assert parse_override("a=null") == (["a"], None)
    assert parse_override("a=x=y") == (["a"], "x=y")
    assert apply_overrides({"a": {"b": 1}}, ["a.c=2"]) == {"a": {"b": 1, "c": 2}}


def test_resolved_config_round_trips(tmp_path):
    cfg = from_dict(Experiment, {"name": "x", "optim": {"lr": 0.5}, "image_size": [8, 16]})
    out = dump_config(cfg, tmp_path / "run")
    assert out.name == "config.yaml"
    assert load_config(out, Experiment) == cfg

"""facetrust verify-claims: JSON in order, HTML report, calibration with provenance (never on judged images),
bad input (empty claims, non-image file, face claim on a face-less image), plug-ins present and absent."""

import json
import sys

import numpy as np
import pytest
import torch

from facetrust.cli import main
from facetrust.data.io import write_image


@pytest.fixture(scope="module")
def tiny_clip(tmp_path_factory):
    """A random clip-tiny saved as CLIP pretraining saves it (.safetensors with the model name in its metadata)."""
    from safetensors.torch import save_file

    from facetrust.models.clip import create_clip

    torch.manual_seed(0)
    model, _, _ = create_clip("clip-tiny")
    path = tmp_path_factory.mktemp("clip") / "clip.safetensors"
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path),
              metadata={"open_clip_model": "clip-tiny"})
    return path


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    folder = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(0)
    paths = []
    for i, colour in enumerate([(200, 30, 30), (30, 30, 200), (30, 180, 30), (220, 220, 40)]):
        image = np.clip(np.array(colour) + rng.normal(0, 20, (48, 48, 3)), 0, 255).astype(np.uint8)
        write_image(folder / f"plain{i}.png", image)
        paths.append(folder / f"plain{i}.png")
    return paths


def _json(capsys, argv):
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


def test_json_one_entry_per_claim_in_order_and_a_batch_keeps_going(tiny_clip, images, capsys):
    out = _json(capsys, ["verify-claims", str(tiny_clip), str(images[0]), "--claim", "The background is red",
                         "--claim", "", "--claim", "The person wears glasses", "--claim", "The photo is dark",
                         "--detector", "blazeface", "--no-heatmaps", "--json"])
    claims = out["claims"]
    assert [c["text"] for c in claims] == ["The background is red", "", "The person wears glasses", "The photo is dark"]
    assert {"text", "clip_score", "p_supported", "decision"} <= set(claims[0])
    first = claims[0]
    assert 0.0 <= first["clip_score"] <= 2.5 and 0.0 < first["p_supported"] < 1.0
    assert first["decision"] is None and "no claims calibration" in first["reason"]  # never a guess
    assert "The background is not red" in first["alternatives"] and "The background is blue" in first["alternatives"]
    assert claims[1]["error"].startswith("empty claim")
    assert claims[2]["scope"] == "face" and "no face was found" in claims[2]["error"]
    assert claims[3]["clip_score"] is not None  # the claims after the bad ones were still scored
    assert out["calibration"] is None


def test_answer_file_is_split_and_the_report_is_self_contained(tiny_clip, images, tmp_path, capsys):
    answer = tmp_path / "answer.txt"
    answer.write_text("The background is blue and the photo is sharp. The face is real.")
    report = tmp_path / "report.html"
    out = _json(capsys, ["verify-claims", str(tiny_clip), str(images[1]), "--answer-file", str(answer), "--json",
                         "--report", str(report), "--steps", "4", "--detector", "blazeface"])
    assert [c["text"] for c in out["claims"]] == ["The background is blue", "The photo is sharp", "The face is real"]
    for claim in out["claims"]:
        f = claim["faithfulness"]
        assert set(f) >= {"deletion_auc", "insertion_auc", "random_deletion_auc", "random_insertion_auc"}
    html = report.read_text()
    assert html.count("data:image/png;base64,") == 1 + 3 and "The photo is sharp" in html
    assert "http://" not in html and "https://" not in html  # nothing fetched when opened


def test_bad_input_is_a_clear_error(tiny_clip, images, tmp_path, capsys):
    not_image = tmp_path / "notes.png"
    not_image.write_text("this is text, not pixels")
    assert main(["verify-claims", str(tiny_clip), str(not_image), "--claim", "The photo is dark"]) == 2
    assert str(not_image) in capsys.readouterr().err
    assert main(["verify-claims", str(tiny_clip), str(images[0])]) == 2
    assert "no claims to verify" in capsys.readouterr().err
    empty = tmp_path / "empty.txt"
    empty.write_text("  \n ")
    assert main(["verify-claims", str(tiny_clip), str(images[0]), "--answer-file", str(empty)]) == 2
    assert "holds no claim" in capsys.readouterr().err
    assert main(["verify-claims", str(tmp_path / "missing.safetensors"), str(images[0]), "--claim", "x"]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_calibration_is_stored_with_provenance_and_never_judges_its_own_images(tiny_clip, images, tmp_path, capsys):
    rows = ["path,claim,label"]
    for path, colour in zip(images[:3], ["red", "blue", "green"], strict=True):
        rows += [f"{path.name},The background is {colour},1", f"{path.name},The background is purple,0",
                 f"{path.name},The background is yellow,0", f"{path.name},The photo is bright,1"]
    rows.append("missing.png,The background is red,1")  # a bad row is skipped, the others go on
    table = images[0].parent / "labelled.csv"
    table.write_text("\n".join(rows) + "\n")
    assert main(["verify-claims", str(tiny_clip), "--calibrate", str(table), "--detector", "blazeface"]) == 0
    captured = capsys.readouterr()
    assert "missing.png" in captured.err and "calibrated on 12 claims of 3 images" in captured.out
    stored = tiny_clip.with_name("clip.claims_calibration.json")
    record = json.loads(stored.read_text())
    assert record["provenance"]["source"] == str(table) and record["provenance"]["n_images"] == 3
    assert len(record["provenance"]["image_sha256"]) == 3 and record["model"].startswith("sha256:")
    # a calibration image is never judged with the thresholds fitted on it
    own = _json(capsys, ["verify-claims", str(tiny_clip), str(images[0]), "--claim", "The background is red",
                         "--no-heatmaps", "--json"])["claims"][0]
    assert own["decision"] is None and "calibrated on" in own["reason"]
    fresh = _json(capsys, ["verify-claims", str(tiny_clip), str(images[3]), "--claim", "The background is yellow",
                           "--no-heatmaps", "--json"])
    assert fresh["claims"][0]["decision"] in ("supported", "unsupported", "uncertain")
    assert fresh["claims"][0]["calibrated"] is True
    assert fresh["calibration"]["provenance"]["n_claims"] == 12 and "image_sha256" not in fresh["calibration"]["provenance"]
    assert main(["verify-claims", str(tiny_clip), str(images[3]), "--claim", "x", "--no-contrast"]) == 2
    assert "calibration is for 'contrast'" in capsys.readouterr().err
    stored.unlink()


def test_object_detector_plugin_absent_and_refusing_pickles(tiny_clip, images, tmp_path, capsys, monkeypatch):
    from facetrust.claims.plugins import PluginMissing, load_object_detector

    onnx = tmp_path / "yolov8n.onnx"
    onnx.write_bytes(b"not read")
    monkeypatch.setitem(sys.modules, "ultralytics", None)  # absent, whether installed or not
    with pytest.raises(PluginMissing, match="pip install ultralytics"):
        load_object_detector(onnx)
    pt = tmp_path / "yolov8n.pt"
    pt.write_bytes(b"pickle")
    assert main(["verify-claims", str(tiny_clip), str(images[0]), "--claim", "A red car", "--objects", str(pt)]) == 2
    assert "never unpickles" in capsys.readouterr().err


def test_object_regions_through_the_plugin_interface(tiny_clip, images):
    from facetrust.claims.model import load_clip
    from facetrust.claims.regions import Region
    from facetrust.claims.verify import ClaimVerifier
    from facetrust.data import read_image

    class TwoBoxes:  # a local double with the plug-in's interface
        def detect(self, image):
            return [Region("object", (2, 2, 20, 20), "car", 0.9), Region("object", (20, 20, 24, 24), "dog", 0.8)]

    verifier = ClaimVerifier(load_clip(tiny_clip), face_detector=None, object_detector=TwoBoxes())
    result, other = verifier.verify(read_image(images[0]), ["A red car is parked", "The photo is dark"])
    assert [r["kind"] for r in result.regions] == ["image", "object"] and result.regions[1]["label"] == "car"
    assert result.region["index"] in (0, 1)
    assert [r["kind"] for r in other.regions] == ["image"]  # no object named: the whole image only
    (face,) = verifier.verify(read_image(images[0]), ["The person wears glasses"])
    assert "no face detector is set" in face.error and face.decision is None


def _tiny_captioner(folder):
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import (
        GPT2Config,
        PreTrainedTokenizerFast,
        VisionEncoderDecoderConfig,
        VisionEncoderDecoderModel,
        ViTConfig,
        ViTImageProcessor,
    )

    words = ["[PAD]", "[BOS]", "[EOS]", "[UNK]", "the", "background", "is", "blue", "red", "and", "photo", "dark", "."]
    tokenizer = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    fast = PreTrainedTokenizerFast(tokenizer_object=tokenizer, pad_token="[PAD]", bos_token="[BOS]",
                                   eos_token="[EOS]", unk_token="[UNK]")
    torch.manual_seed(0)
    encoder = ViTConfig(image_size=32, patch_size=8, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=64)
    decoder = GPT2Config(vocab_size=len(words), n_positions=64, n_embd=32, n_layer=1, n_head=2, bos_token_id=1,
                         eos_token_id=2, pad_token_id=0, add_cross_attention=True, is_decoder=True)
    model = VisionEncoderDecoderModel(config=VisionEncoderDecoderConfig.from_encoder_decoder_configs(encoder, decoder))
    for config in (model.config, model.generation_config):
        config.decoder_start_token_id, config.pad_token_id, config.eos_token_id = 1, 0, 2
    model.generation_config.suppress_tokens = [0, 1, 3]  # words or the end, never padding or unknown
    model.generation_config.max_new_tokens = 12
    model.save_pretrained(folder)
    fast.save_pretrained(folder)
    ViTImageProcessor(size={"height": 32, "width": 32}).save_pretrained(folder)
    return set(words)


def test_captioner_plugin_with_a_tiny_local_model(tiny_clip, images, tmp_path, capsys):
    pytest.importorskip("transformers")
    from facetrust.claims.plugins import load_captioner

    vocabulary = _tiny_captioner(tmp_path / "captioner")
    from facetrust.data import read_image

    caption = load_captioner(tmp_path / "captioner").caption(read_image(images[0]))
    assert caption and set(caption.replace(".", " . ").split()) <= vocabulary  # words of the local model only
    assert main(["verify-claims", str(tiny_clip), str(images[0]), "--caption", str(tmp_path / "captioner"),
                 "--no-heatmaps", "--json"]) == 0
    captured = capsys.readouterr()
    out = json.loads(captured.out)
    assert out["claims"] and all(c["text"] for c in out["claims"])
    assert f"caption: {caption}" in captured.err  # the same local model, the same caption, its claims verified


def test_captioner_plugin_absent(tmp_path, monkeypatch):
    from facetrust.claims.plugins import PluginMissing, load_captioner

    monkeypatch.setitem(sys.modules, "transformers", None)
    with pytest.raises(PluginMissing, match=r"pip install 'facetrust\[captioner\]'"):
        load_captioner(tmp_path)


def test_served_claims_model_for_facetrust_serve(tiny_clip, images):
    from facetrust.claims.serving import default_calibration_path, load_claims_model
    from facetrust.data import read_image

    served = load_claims_model(tiny_clip)
    assert served.name == str(tiny_clip)
    out = served.verify(read_image(images[2]), ["The background is green", ""])
    assert [c["text"] for c in out] == ["The background is green", ""] and out[1]["error"]
    json.dumps(out)  # what the service returns as JSON
    assert default_calibration_path(tiny_clip) == tiny_clip.with_name("clip.claims_calibration.json")
    assert default_calibration_path("ViT-B-16") is None

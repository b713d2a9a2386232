"""open_clip wrapper: clip-tiny registered in open_clip, weights by path (safetensors only, never unpickled)."""

import pytest
import torch

from facetrust.errors import CheckpointError
from facetrust.models import create_model
from facetrust.models.clip import create_clip


def test_clip_tiny_is_an_open_clip_config_with_the_real_tokenizer():
    import open_clip

    model, tokenizer, preprocess = create_clip("clip-tiny")
    assert "clip-tiny" in open_clip.list_models()
    assert preprocess["input_size"] == (3, 64, 64)
    assert preprocess["mean"] == pytest.approx(open_clip.OPENAI_DATASET_MEAN)
    tokens = tokenizer(["a photo of a real face"])
    assert tokens.shape == (1, 32)
    # BPE tokenizer: start-of-text 49406, then real word pieces, end-of-text 49407
    assert tokens[0, 0].item() == 49406 and 49407 in tokens[0].tolist()
    assert model.encode_image(torch.zeros(2, 3, 64, 64)).shape == (2, 64)


def test_unknown_clip_name_is_a_clear_error():
    with pytest.raises(KeyError, match="unknown CLIP model 'ViT-Nope'"):
        create_clip("ViT-Nope")


def test_weights_by_path_give_identical_outputs(tmp_path, monkeypatch):
    from safetensors.torch import save_file

    torch.manual_seed(0)
    source, tokenizer, _ = create_clip("clip-tiny")
    source.eval()
    path = tmp_path / "tiny.safetensors"
    save_file({k: v.contiguous() for k, v in source.state_dict().items()}, str(path))

    def no_unpickling(*args, **kwargs):
        raise AssertionError("torch.load must not be used for .safetensors weights")

    monkeypatch.setattr(torch, "load", no_unpickling)
    torch.manual_seed(123)  # a different random init, so equality can only come from the file
    model = create_model("flip_it", clip="clip-tiny", pretrained=str(path)).eval()
    images = torch.randn(3, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(model.encode_image(images), source.encode_image(images))
        texts = tokenizer(["This is a real face"])
        assert torch.equal(model.clip.encode_text(texts), source.encode_text(texts))
    fresh = create_model("flip_it", clip="clip-tiny").eval()
    with torch.no_grad():
        assert not torch.allclose(fresh.encode_image(images), source.encode_image(images))


def test_pickle_weights_are_refused(tmp_path):
    path = tmp_path / "weights.pt"
    path.write_bytes(b"not read at all")
    with pytest.raises(CheckpointError, match="never unpickles"):
        create_clip("clip-tiny", pretrained=str(path))
    with pytest.raises(CheckpointError, match="does not exist"):
        create_clip("clip-tiny", pretrained=str(tmp_path / "missing.safetensors"))

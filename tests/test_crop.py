"""The crop that travels with a model (facetrust.faces.crop) and the preprocessing keys it relies on:
hand-computed Silent-Face patch boxes, stacked crops, BGR / pixel_scale preprocessing against a naive
NumPy computation, Predictor.score_faces and the checkpoint round trip of "crop"."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import facetrust
from facetrust.data.faces import Box, crop_face
from facetrust.errors import ConfigError, DataError
from facetrust.faces.crop import (
    checkpoint_crop,
    crop_for_model,
    default_crop,
    face_images_as_inputs,
    scale_box,
    validate_crop,
)
from facetrust.predictor import TorchPredictor, preprocess_images

SCALE_27 = {"method": "scale", "scale": 2.7, "size": [80, 80]}


@pytest.mark.parametrize(
    ("hw", "box", "scale", "expected"),
    [
        # Inside: 20x20 box at centre (100, 50) scaled 2.7 -> 54x54: [73, 127] x [23, 77].
        ((100, 200), (90, 40, 20, 20), 2.7, (73, 23, 127, 77)),
        # Top-left corner: 80x80 around (10, 10) shifted right/down by 30: [0, 80] x [0, 80].
        ((100, 200), (0, 0, 20, 20), 4.0, (0, 0, 80, 80)),
        # Bottom-right: 40x40 around (190, 90) = [170, 210] x [70, 110] shifted back to end at 199 / 99.
        ((100, 200), (180, 80, 20, 20), 2.0, (159, 59, 199, 99)),
        # Too tall: scale shrinks to (100 - 1) / 50 = 1.98; 99x99 around (50, 50) = [0.5, 99.5] -> shifted
        # up by 0.5 to [0, 99]; x [0.5, 99.5] is inside and truncates to [0, 99].
        ((100, 200), (25, 25, 50, 50), 4.0, (0, 0, 99, 99)),
        # Fractional corners truncate: 10x10 box at (10.6, 20.2) scale 1 -> [10.6, 20.6] x [20.2, 30.2].
        ((100, 200), (10.6, 20.2, 10, 10), 1.0, (10, 20, 20, 30)),
    ],
)
def test_scale_box_matches_hand_computed_corners(hw, box, scale, expected):
    assert scale_box(hw, Box(*box), scale) == expected


def test_scale_crop_is_the_resized_inclusive_region_and_none_is_the_whole_image(rng):
    import cv2

    image = rng.integers(0, 256, size=(100, 200, 3), dtype=np.uint8)
    patch = crop_for_model(image, Box(90, 40, 20, 20), {"crops": [SCALE_27]})
    assert patch.shape == (80, 80, 3) and patch.dtype == np.uint8
    assert np.array_equal(patch, cv2.resize(image[23:78, 73:128], (80, 80), interpolation=cv2.INTER_LINEAR))
    whole = crop_for_model(image, None, {"crops": [{**SCALE_27, "size": [40, 60]}]})  # [height, width]
    assert whole.shape == (40, 60, 3)
    assert np.array_equal(whole, cv2.resize(image, (60, 40)))


def test_margin_crop_is_crop_face_and_crops_stack_on_channels(rng):
    image = rng.integers(0, 256, size=(120, 90, 3), dtype=np.uint8)
    box = Box(30, 40, 30, 36)
    margin = {"method": "margin", "margin": 0.3, "size": 48}
    assert np.array_equal(crop_for_model(image, box, {"crops": [margin]}), crop_face(image, box, 48, 0.3))
    stacked = crop_for_model(image, box, {"crops": [margin, {**SCALE_27, "size": 48}]})
    assert stacked.shape == (48, 48, 6)
    assert np.array_equal(stacked[..., :3], crop_face(image, box, 48, 0.3))
    assert np.array_equal(stacked[..., 3:], crop_for_model(image, box, {"crops": [{**SCALE_27, "size": 48}]}))


def test_default_crop_and_bad_crop_configs():
    crop = default_crop({"input_size": (3, 64, 64), "mean": (0,) * 3, "std": (1,) * 3})
    assert crop["crops"] == [{"method": "margin", "margin": 0.2, "size": [64, 64]}]
    with pytest.raises(ConfigError, match="records no 'crop'"):
        default_crop({"input_size": (6, 80, 80)})
    for bad, message in [
        ({"crops": []}, "expected"),
        ({"crops": [{"method": "affine", "size": 8}]}, "method"),
        ({"crops": [{"method": "scale", "scale": -1, "size": 8}]}, "scale"),
        ({"crops": [{"method": "scale", "scale": 2.7, "size": "80"}]}, "size"),
        ({"crops": [{"method": "margin", "margin": 0.2, "size": [64, 48]}]}, "square"),
    ]:
        with pytest.raises(ConfigError, match=message):
            validate_crop(bad)
    with pytest.raises(ConfigError, match="takes 6"):
        checkpoint_crop({"crop": {"crops": [SCALE_27]}}, {"input_size": (6, 80, 80)})
    with pytest.raises(DataError, match="RGB uint8"):
        crop_for_model(np.zeros((8, 8), np.uint8), None, {"crops": [SCALE_27]})


def test_preprocess_bgr_pixel_scale_and_stacked_crops_match_naive_numpy(rng):
    images = [rng.integers(0, 256, size=(16, 16, 6), dtype=np.uint8) for _ in range(2)]
    mean, std = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6), (0.5, 1.0, 2.0, 0.5, 1.0, 2.0)
    batch = preprocess_images(images, {"input_size": (6, 16, 16), "mean": mean, "std": std,
                                       "channel_order": "bgr", "pixel_scale": 1.0})
    for image, out in zip(images, batch, strict=True):
        swapped = image[..., [2, 1, 0, 5, 4, 3]].astype(np.float64)  # each crop's channels reversed
        expected = ((swapped - np.array(mean)) / np.array(std)).transpose(2, 0, 1)
        assert np.allclose(out, expected, atol=1e-5)
    rgb = preprocess_images(images[:1], {"input_size": (6, 16, 16), "mean": (0,) * 6, "std": (1,) * 6})
    assert np.allclose(rgb[0], images[0].transpose(2, 0, 1) / 255.0, atol=1e-7)  # default rgb, /255
    with pytest.raises(ConfigError, match="channel_order"):
        preprocess_images(images, {"input_size": (6, 16, 16), "mean": (0,) * 6, "std": (1,) * 6, "channel_order": "hsv"})
    # A stacked image of another size is resized per 3-channel crop, like two separate resizes.
    big = rng.integers(0, 256, size=(40, 40, 6), dtype=np.uint8)
    out = preprocess_images([big], {"input_size": (6, 16, 16), "mean": (0,) * 6, "std": (1,) * 6, "pixel_scale": 1.0})
    halves = [preprocess_images([np.ascontiguousarray(big[..., c : c + 3])],
                                {"input_size": (3, 16, 16), "mean": (0,) * 3, "std": (1,) * 3, "pixel_scale": 1.0})
              for c in (0, 3)]
    assert np.array_equal(out, np.concatenate(halves, axis=1))


@pytest.fixture(scope="module")
def fusion():
    torch.manual_seed(0)
    model = facetrust.create_model("silent_face_fusion").eval()
    model.checkpoint_crop = {"detector": "mtcnn", "crops": [SCALE_27, {**SCALE_27, "scale": 4.0}]}
    return model


def test_stacked_model_scores_plain_crops_with_a_clear_error_and_score_faces_crops(fusion, tmp_path, rng):
    folder = facetrust.save(fusion, tmp_path / "ckpt")
    predictor = facetrust.load(folder)
    assert predictor.config["crop"] == validate_crop(fusion.checkpoint_crop)
    assert predictor.config["preprocess"]["channel_order"] == "bgr"
    assert predictor.config["preprocess"]["pixel_scale"] == 1.0
    image = rng.integers(0, 256, size=(120, 100, 3), dtype=np.uint8)
    with pytest.raises(DataError, match="score_faces"):
        predictor.scores([image])
    boxes = [Box(30, 30, 40, 50), Box(0, 0, 20, 20)]
    scores = predictor.score_faces(image, boxes)
    stacked = [crop_for_model(image, b, predictor.crop) for b in boxes]
    assert np.allclose(scores, predictor.scores(stacked), atol=0)
    assert predictor.score_faces(image, []).shape == (0,)
    # The saved model's crop survives a reload and a second save.
    again = facetrust.save(facetrust.checkpoint.load_model(folder), tmp_path / "again")
    assert facetrust.checkpoint.read_config(again)["crop"] == predictor.config["crop"]


def test_score_faces_on_a_3_channel_model_uses_the_default_margin_crop(rng):
    torch.manual_seed(0)
    model = facetrust.create_model("resnet8", embed_dim=8, image_size=32)
    predictor = TorchPredictor(model)
    image = rng.integers(0, 256, size=(90, 70, 3), dtype=np.uint8)
    box = Box(20, 25, 24, 30)
    assert np.allclose(predictor.score_faces(image, [box]), predictor.scores([crop_face(image, box, 32, 0.2)]))


def test_face_images_as_inputs_keeps_3_channel_models_unchanged(rng):
    images = [rng.integers(0, 256, size=(32, 32, 3), dtype=np.uint8)]
    assert face_images_as_inputs(images, {"crops": [SCALE_27]}, 3) is images
    stacked = face_images_as_inputs(images, {"crops": [SCALE_27, SCALE_27]}, 6)
    assert stacked[0].shape == (80, 80, 6)

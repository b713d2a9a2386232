"""eval_transform (= preprocess_images) against an explicit reference: cv2.resize (area filter when
shrinking, bilinear when enlarging) and per-channel normalisation written out by hand, for non-square
inputs larger and smaller than the model size, RGB and BGR, pixel scale 255 and 1."""

import cv2
import numpy as np
import pytest

from facetrust.data.transforms import eval_transform

PRE = {"input_size": (3, 32, 40), "mean": (0.40, 0.45, 0.50), "std": (0.20, 0.25, 0.30)}


def reference(image, pre):
    _, height, width = pre["input_size"]
    interpolation = cv2.INTER_AREA if image.shape[0] > height else cv2.INTER_LINEAR
    resized = cv2.resize(image, (width, height), interpolation=interpolation)  # cv2 takes (width, height)
    if pre.get("channel_order", "rgb") == "bgr":
        resized = resized[:, :, ::-1]
    scale = pre.get("pixel_scale", 255.0)
    out = np.zeros((3, height, width), dtype=np.float64)
    for c in range(3):
        out[c] = (resized[:, :, c].astype(np.float64) / scale - pre["mean"][c]) / pre["std"][c]
    return out


@pytest.mark.parametrize("shape", [(64, 90), (50, 41), (17, 23), (24, 12), (32, 40)])
@pytest.mark.parametrize("extra", [{}, {"channel_order": "bgr"}, {"pixel_scale": 1.0}])
def test_eval_transform_matches_cv2_resize_and_hand_normalisation(shape, extra):
    rng = np.random.default_rng(sum(shape))
    image = rng.integers(0, 256, size=(*shape, 3), dtype=np.uint8)
    image[: shape[0] // 3] = (250, 10, 120)  # structure, so a wrong axis or filter shows
    pre = {**PRE, **extra}
    got = eval_transform(pre)(image).numpy()
    assert got.shape == (3, 32, 40) and got.dtype == np.float32
    expected = reference(image, pre)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-4 * (255.0 if extra.get("pixel_scale") == 1.0 else 1.0))


"""Large images are searched on a shrunk copy (``max_side``), boxes and landmarks mapped back to the
original's pixels; an image that fits is searched as it is."""

import cv2
import numpy as np
import pytest
import skimage.data

from facetrust.faces import DETECT_MAX_SIDE, Box, box_iou, create_detector, downscaled


def recording(detector):
    """Wrap ``detector.detect_at`` (the search on the image as given) to record the arrays it gets."""
    seen, search = [], detector.detect_at

    def detect_at(image):
        seen.append(image)
        return search(image)

    detector.detect_at = detect_at
    return seen


def test_downscaled_sizes_and_factors_per_axis():
    image = np.zeros((333, 1001, 3), np.uint8)
    image[100:250, 200:600] = 255  # a white rectangle at known original pixels
    small, sx, sy = downscaled(image, 100)
    assert small.shape == (33, 100, 3) and (sx, sy) == (1001 / 100, 333 / 33)
    rows, cols = np.nonzero(small[..., 0] > 127)
    found = Box(cols.min(), rows.min(), cols.max() + 1 - cols.min(), rows.max() + 1 - rows.min()).rescaled(sx, sy)
    # the rectangle found in the shrunk copy, mapped back, is the original one to within one shrunk pixel
    assert abs(found.x - 200) <= sx and abs(found.x + found.w - 600) <= sx
    assert abs(found.y - 100) <= sy and abs(found.y + found.h - 250) <= sy
    portrait = np.zeros((4000, 3000, 3), np.uint8)
    small, sx, sy = downscaled(portrait, DETECT_MAX_SIDE)
    assert small.shape == (1280, 960, 3) and sx == sy == 3.125
    for fits, limit in ((image, 1001), (image, None), (image, 0)):
        same, sx, sy = downscaled(fits, limit)
        assert same is fits and (sx, sy) == (1.0, 1.0)


def test_rescaled_maps_box_and_landmarks_per_axis():
    box = Box(10, 20, 30, 40, 0.9, ((1, 2), (3, 4), (5, 6), (7, 8), (9, 10))).rescaled(2.0, 3.0)
    assert (box.x, box.y, box.w, box.h, box.score) == (20, 60, 60, 120, 0.9)
    assert box.landmarks == ((2, 6), (6, 12), (10, 18), (14, 24), (18, 30))
    assert Box(1, 2, 3, 4).rescaled(2, 2).landmarks is None


@pytest.fixture(scope="module")
def photo(upright_photos):
    return upright_photos["image_T1.jpg"]  # 480 x 640, upright through read_image


def test_mtcnn_on_a_5x_photo_searches_1280_px_and_maps_back(photo):
    detector = create_detector("mtcnn")
    assert detector.max_side == DETECT_MAX_SIDE == 1280
    seen = recording(detector)
    original = detector.detect(photo)[0]
    assert seen[-1] is photo  # 640 px: searched as it is
    h, w = photo.shape[:2]
    big = cv2.resize(photo, (5 * w, 5 * h), interpolation=cv2.INTER_LINEAR)  # a 12-megapixel-class photo
    boxes = detector.detect(big)
    assert seen[-1].shape == (1280, 960, 3)  # MTCNN ran on the shrunk copy, not on 3200 x 2400
    assert len(boxes) == 1
    expected = original.scaled(5)
    assert box_iou(boxes[0], expected) >= 0.9
    # landmarks come back in the big image's pixels too: each within 5% of the face width of 5x the original's
    tolerance = 0.05 * expected.w
    for (x, y), (ex, ey) in zip(boxes[0].landmarks, expected.landmarks, strict=True):
        assert abs(x - ex) <= tolerance and abs(y - ey) <= tolerance


def test_mtcnn_small_image_unchanged_and_exact_mapping(photo, silent_face_reference):
    limited, unlimited = create_detector("mtcnn"), create_detector("mtcnn", max_side=None)
    boxes = limited.detect(photo)
    assert boxes == unlimited.detect(photo)  # 640 <= 1280: identical boxes, scores and landmarks
    b = boxes[0]  # and still the reference box of the original Silent-Face run
    assert [int(b.x), int(b.y), int(b.w + 1), int(b.h + 1)] == silent_face_reference["images"]["image_T1.jpg"][
        "face_box_xywh"]
    # a 2x nearest-neighbour copy shrunk back to 640 px is the photo itself: the boxes are exactly 2x
    h, w = photo.shape[:2]
    double = cv2.resize(photo, (2 * w, 2 * h), interpolation=cv2.INTER_NEAREST)
    mapped = create_detector("mtcnn", max_side=640).detect(double)
    assert len(mapped) == len(boxes)
    for got, want in zip(mapped, boxes, strict=True):
        want = want.rescaled(2, 2)
        assert np.allclose([got.x, got.y, got.w, got.h], [want.x, want.y, want.w, want.h])
        assert np.allclose(got.landmarks, want.landmarks) and got.score == pytest.approx(want.score)


@pytest.mark.parametrize("name", ["cascade", "dlib"])
def test_cascade_and_dlib_map_boxes_back_exactly(name):
    if name == "dlib":
        pytest.importorskip("dlib", reason="dlib not installed (pip install 'facetrust[dlib]')")
    astronaut = skimage.data.astronaut()  # 512 x 512
    detector = create_detector(name, max_side=512)
    assert create_detector(name).max_side == (320 if name == "cascade" else DETECT_MAX_SIDE)
    seen = recording(detector)
    boxes = detector.detect(astronaut)
    assert boxes and seen[-1] is astronaut
    big = cv2.resize(astronaut, (2048, 2048), interpolation=cv2.INTER_NEAREST)
    mapped = detector.detect(big)
    assert seen[-1].shape == (512, 512, 3) and np.array_equal(seen[-1], astronaut)
    assert np.allclose([(b.x, b.y, b.w, b.h, b.score) for b in mapped],
                       [(4 * b.x, 4 * b.y, 4 * b.w, 4 * b.h, b.score) for b in boxes])

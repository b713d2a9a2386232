"""MTCNN (facenet-pytorch 2.5.3) reproduces the face boxes the original Silent-Face run recorded."""

import pytest

from facetrust.faces import Box, box_iou, create_detector

PHOTOS = ("image_T1.jpg", "image_F1.jpg", "image_F2.jpg")


@pytest.fixture(scope="module")
def mtcnn():
    return create_detector("mtcnn")


@pytest.mark.parametrize("photo", PHOTOS)
def test_mtcnn_box_matches_reference_json(photo, mtcnn, upright_photos, silent_face_reference):
    boxes = mtcnn.detect(upright_photos[photo])
    assert len(boxes) == 1  # one person in each photo
    best, expected = boxes[0], silent_face_reference["images"][photo]["face_box_xywh"]
    assert box_iou(best, Box(*expected)) >= 0.5
    # facenet-pytorch's defaults on the upright RGB image, and the original crop code's integer box
    # [int(x1), int(y1), int(x2 - x1 + 1), int(y2 - y1 + 1)], give exactly the recorded box.
    x1, y1, x2, y2 = best.x, best.y, best.x + best.w, best.y + best.h
    assert [int(x1), int(y1), int(x2 - x1 + 1), int(y2 - y1 + 1)] == expected
    assert best.score > 0.99


def test_mtcnn_rejects_a_non_rgb_array(mtcnn):
    import numpy as np

    from facetrust.errors import DataError

    with pytest.raises(DataError, match="RGB uint8"):
        mtcnn.detect(np.zeros((40, 40), np.uint8))

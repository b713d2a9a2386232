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


def test_mtcnn_rejects_a_non_rgb_array_and_accepts_a_tiny_image(mtcnn):
    import numpy as np

    from facetrust.errors import DataError

    with pytest.raises(DataError, match="RGB uint8"):
        mtcnn.detect(np.zeros((40, 40), np.uint8))
    assert mtcnn.detect(np.zeros((19, 300, 3), np.uint8)) == []  # smaller than the minimum face: none


def _astronaut_face_in_a_frame(face_width: int):
    """The astronaut scaled so that her face (about 90 px wide at (224, 117) in the photo) is
    ``face_width`` px wide, centred in a grey 640x480 frame."""
    import cv2
    import numpy as np
    import skimage.data

    side = round(512 * face_width / 90)
    photo = cv2.resize(skimage.data.astronaut(), (side, side), interpolation=cv2.INTER_AREA)
    shift = np.array([[1.0, 0.0, 320 - 224 * side / 512], [0.0, 1.0, 240 - 117 * side / 512]])
    return cv2.warpAffine(photo, shift, (640, 480), borderMode=cv2.BORDER_CONSTANT, borderValue=(118, 118, 118))


def test_small_faces_mtcnn_finds_and_blazeface_short_range_does_not(mtcnn):
    """Why MTCNN is the default: a 32 px face in a 640x480 frame (BlazeFace short range needs ~80 px)."""
    small = _astronaut_face_in_a_frame(32)
    boxes = mtcnn.detect(small)
    assert boxes and abs(boxes[0].x + boxes[0].w / 2 - 320) < 16 and abs(boxes[0].y + boxes[0].h / 2 - 240) < 16
    assert 20 < boxes[0].w < 48
    blazeface = create_detector("blazeface")
    def on_the_face(box, width):
        return abs(box.x + box.w / 2 - 320) < width / 2 and abs(box.y + box.h / 2 - 240) < width / 2

    assert not any(on_the_face(b, 32) for b in blazeface.detect(small))  # (it may fire elsewhere)
    assert any(on_the_face(b, 120) for b in blazeface.detect(_astronaut_face_in_a_frame(120)))

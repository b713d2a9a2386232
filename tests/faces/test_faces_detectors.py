"""Every detector finds the face in the astronaut and in the three shared phone photos; the Box contract."""

import numpy as np
import pytest
import skimage.data

import facetrust.data.faces as old_faces
import facetrust.faces as faces
from facetrust.errors import DataError
from facetrust.faces import Box, box_iou, create_detector, five_landmarks

DETECTORS = ["mtcnn", "blazeface", "cascade", "dlib"]
WITH_LANDMARKS = ["mtcnn", "blazeface"]

# The LBP cascade's only hit on image_T1 sits on the lower half of the face (IoU 0.43 with MTCNN's box):
# the 2001-era frontal cascade this issue replaces as default. Strict, so an improvement is noticed.
KNOWN_MISSES = {("cascade", "image_T1.jpg"): "LBP cascade box covers only the lower face (IoU 0.43)"}


@pytest.fixture(scope="module")
def detectors():
    built = {}

    def get(name):
        if name == "dlib":
            pytest.importorskip("dlib", reason="dlib not installed (pip install 'facetrust[dlib]')")
        if name not in built:
            built[name] = create_detector(name)
        return built[name]

    return get


def test_box_contract_and_old_imports():
    assert old_faces.Box is faces.Box and old_faces.create_detector is faces.create_detector
    assert old_faces.CascadeDetector is faces.CascadeDetector and old_faces.group_boxes is faces.group_boxes
    box = Box(10, 20, 30, 40)
    assert box.landmarks is None and box.score == 1.0
    marked = Box(10, 20, 30, 40, 0.9, ((1, 2), (3, 4), (5, 6), (7, 8), (9, 10))).scaled(2)
    assert (marked.x, marked.y, marked.w, marked.h) == (20, 40, 60, 80)
    assert marked.landmarks[4] == (18, 20)
    assert box_iou(Box(0, 0, 10, 10), Box(5, 0, 10, 10)) == pytest.approx(50 / 150)


def test_five_landmarks_orders_each_pair_by_x():
    # a detector's semantic order (person's right eye first) is turned into the image's left first
    points = five_landmarks([(60, 40), (20, 41), (40, 60), (55, 80), (25, 81)])
    assert points == ((20, 41), (60, 40), (40, 60), (25, 81), (55, 80))


def test_create_detector_names_and_default():
    assert faces.DEFAULT_DETECTOR in faces.detectors.DETECTORS.names()
    assert {"mtcnn", "blazeface", "cascade", "dlib", "yunet"} <= set(faces.detectors.DETECTORS.names())
    with pytest.raises(DataError, match="unknown face detector 'mtcn'.*Did you mean 'mtcnn'"):
        create_detector("mtcn")
    with pytest.raises(DataError, match="yunet.*ONNX"):
        create_detector("yunet")


@pytest.mark.parametrize("name", DETECTORS)
def test_detector_finds_the_astronaut_and_nothing_in_a_blank_image(name, detectors):
    detector = detectors(name)
    boxes = detector.detect(skimage.data.astronaut())
    assert boxes
    best = boxes[0]
    cx, cy = best.x + best.w / 2, best.y + best.h / 2
    # Eileen Collins' face lies around columns 175-275, rows 60-165 of the 512 x 512 photo
    assert 180 < cx < 270 and 65 < cy < 160 and 60 < best.w < 160, best
    assert [b.score for b in boxes] == sorted((b.score for b in boxes), reverse=True)  # best first
    assert detector.detect(np.full((240, 320, 3), 128, np.uint8)) == []


@pytest.mark.parametrize("photo", ["image_T1.jpg", "image_F1.jpg", "image_F2.jpg"])
@pytest.mark.parametrize("name", DETECTORS)
def test_detector_finds_the_face_in_the_shared_photos(name, photo, detectors, upright_photos,
                                                      silent_face_reference, request):
    if (name, photo) in KNOWN_MISSES:
        request.applymarker(pytest.mark.xfail(reason=KNOWN_MISSES[name, photo], strict=True))
    boxes = detectors(name).detect(upright_photos[photo])
    reference = Box(*silent_face_reference["images"][photo]["face_box_xywh"])
    assert boxes, f"{name} found no face in {photo}"
    assert box_iou(boxes[0], reference) >= 0.5, (boxes[0], reference)


@pytest.mark.parametrize("name", WITH_LANDMARKS)
def test_landmarks_are_inside_the_box_in_contract_order(name, detectors, upright_photos):
    images = dict(upright_photos, astronaut=skimage.data.astronaut())
    for image_name, image in images.items():
        box = detectors(name).detect(image)[0]
        points = np.array(box.landmarks)
        assert points.shape == (5, 2), image_name
        assert (points[:, 0] >= box.x).all() and (points[:, 0] <= box.x + box.w).all(), (image_name, box)
        assert (points[:, 1] >= box.y).all() and (points[:, 1] <= box.y + box.h).all(), (image_name, box)
        left_eye, right_eye, nose, left_mouth, right_mouth = points
        assert left_eye[0] < right_eye[0] and left_mouth[0] < right_mouth[0]
        assert max(left_eye[1], right_eye[1]) < nose[1] < min(left_mouth[1], right_mouth[1]), image_name


def test_blazeface_landmarks_agree_with_mtcnn(detectors, upright_photos):
    """Two independent detectors put the 5 points within 0.35 eye-distances of each other (measured: <= 0.27)."""
    images = dict(upright_photos, astronaut=skimage.data.astronaut())
    for image_name, image in images.items():
        mtcnn = np.array(detectors("mtcnn").detect(image)[0].landmarks)
        blaze = np.array(detectors("blazeface").detect(image)[0].landmarks)
        eye_distance = np.linalg.norm(mtcnn[1] - mtcnn[0])
        assert (np.linalg.norm(mtcnn - blaze, axis=1) < 0.35 * eye_distance).all(), image_name

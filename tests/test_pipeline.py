"""The per-image pipeline (faces largest first, too small, no face) and the tracker (IoU, smoothing, hysteresis)."""

import dataclasses

import numpy as np
import pytest
import skimage.data
import torch

import facetrust
from facetrust.data.faces import Box, crop_face
from facetrust.errors import ConfigError, DataError
from facetrust.faces.track import FaceTracker, Hysteresis, ScoreSmoother, iou
from facetrust.models import create_model
from facetrust.pipeline import MIN_FACE, StageTimes, analyze_image, check_box_inside, create_detector

ASTRONAUT_FACE = Box(170, 50, 110, 120)  # hand-labelled in skimage's astronaut (512x512)


class StubPredictor:
    """score_faces returns a preset score per box width, and records what it was asked."""

    def __init__(self, scores_by_width=None, threshold=0.5):
        self.scores_by_width = scores_by_width or {}
        self.threshold, self.config, self.calls = threshold, {}, []

    def score_faces(self, image, boxes):
        self.calls.append([b.w for b in boxes])
        return np.array([self.scores_by_width.get(b.w, 0.9) for b in boxes])


class StubDetector:
    def __init__(self, frames):
        self.frames, self.index = frames, 0

    def detect(self, image):
        boxes = self.frames[self.index] if self.index < len(self.frames) else []
        self.index += 1
        return boxes


@pytest.fixture(scope="module")
def predictor(tmp_path_factory):
    torch.manual_seed(0)
    model = create_model("resnet8", image_size=64)
    return facetrust.load(facetrust.save(model, tmp_path_factory.mktemp("ckpt") / "r8", threshold=0.5))


def test_faces_largest_first_too_small_not_scored():
    small, big, tiny = Box(0, 0, 30, 30, 0.99), Box(50, 50, 100, 90, 0.5), Box(5, 5, 10, 10, 0.8)
    stub = StubPredictor({30: 0.2, 100: 0.7})
    image = np.zeros((200, 200, 3), np.uint8)
    times = StageTimes()
    faces = analyze_image(stub, image, detector=StubDetector([[small, big, tiny]]), timings=times)
    assert [f.box for f in faces] == [big, small, tiny]
    assert stub.calls == [[100, 30]]  # the 10 px face is never cropped or scored
    assert [f.score for f in faces] == [0.7, 0.2, None]
    assert [f.label for f in faces] == ["live", "spoof", "too small"]
    assert [f.decision for f in faces] == [True, False, None]
    assert faces[2].to_dict()["decision"] == "too small" and faces[0].to_dict()["box"] == [50, 50, 100, 90]
    assert times.frames == 1 and times.detect_ms >= 0 and set(times.per_frame()) >= {"detect_ms", "total_ms"}
    # the threshold argument overrides the stored one; no face = empty list, nothing scored
    assert [f.decision for f in analyze_image(stub, image, boxes=[big], threshold=0.8)] == [False]
    stub.calls.clear()
    assert analyze_image(stub, image, detector=StubDetector([[]])) == [] and stub.calls == []
    assert MIN_FACE == 24 and analyze_image(stub, image, boxes=[tiny], min_face=8)[0].score == 0.9


def test_user_box_checks():
    check_box_inside(Box(0, 0, 64, 48), (48, 64, 3))
    with pytest.raises(DataError, match="outside the 64x48 image"):
        check_box_inside(Box(10, 0, 64, 48), (48, 64, 3), "photo.jpg")
    with pytest.raises(DataError, match="no area"):
        check_box_inside(Box(1, 1, 0, 5), (48, 64, 3))


def test_real_detector_on_the_astronaut_scores_the_default_crop(predictor):
    image = skimage.data.astronaut()
    faces = analyze_image(predictor, image, detector=create_detector("cascade"))
    assert len(faces) >= 1 and iou(faces[0].box, ASTRONAUT_FACE) >= 0.5
    # independent path: the documented default crop (margin 0.2, model input size) scored whole
    expected = predictor.scores([crop_face(image, faces[0].box, 64, 0.2)])[0]
    assert faces[0].score == pytest.approx(float(expected), abs=1e-6)
    assert faces[0].decision == (expected >= 0.5)
    # a picture without a face: no face, never a whole-image score
    assert analyze_image(predictor, np.full((120, 160, 3), 128, np.uint8), detector=create_detector("cascade")) == []


def test_smoothing_and_hysteresis_hand_computed():
    scores = [0.9, 0.1, 0.1, 0.9, 0.9, 0.2]
    ema = ScoreSmoother("ema", alpha=0.5)
    assert [ema.update(s) for s in scores] == pytest.approx([0.9, 0.5, 0.3, 0.6, 0.75, 0.475])
    window = ScoreSmoother("window", window=3)
    assert [window.update(s) for s in scores] == pytest.approx([0.9, 0.5, 1.1 / 3, 1.1 / 3, 1.9 / 3, 2.0 / 3])
    band = Hysteresis(lo=0.4, hi=0.6)
    assert [band.update(s) for s in [0.9, 0.5, 0.3, 0.6, 0.75, 0.475]] == [True, True, False, True, True, True]
    plain = Hysteresis(lo=0.5, hi=0.5)
    assert [plain.update(s) for s in [0.9, 0.5, 0.3, 0.6, 0.75, 0.475]] == [True, True, False, True, True, False]
    undecided = Hysteresis(lo=0.4, hi=0.6)
    assert undecided.update(0.5) is None and undecided.update(0.39) is False
    with pytest.raises(ConfigError):
        ScoreSmoother("median")
    with pytest.raises(ConfigError):
        Hysteresis(0.7, 0.3)


def test_tracker_ids_smoothing_and_decisions_over_a_sequence():
    # face A moves right 5 px per frame; face B (smaller) appears at frame 2; A vanishes after frame 3
    a = [Box(20 + 5 * t, 30, 60, 60) for t in range(6)]
    b = Box(150, 40, 40, 40)
    frames = [[a[0]], [a[1]], [b, a[2]], [a[3], b], [b], [b]]
    stub = StubPredictor(threshold=0.5)
    sequence = iter([0.9, 0.8, 0.1, 0.2, 0.1, 0.2, 0.1, 0.1])  # in call order, largest face first

    def score_faces(image, boxes):
        return np.array([next(sequence) for _ in boxes])

    stub.score_faces = score_faces
    tracker = FaceTracker(stub, StubDetector(frames), alpha=0.5, band=0.1, max_missed=1)
    image = np.zeros((120, 240, 3), np.uint8)
    out = [tracker.update(image) for _ in frames]
    ids = [[r.track_id for r in frame] for frame in out]
    assert ids == [[0], [0], [0, 1], [0, 1], [1], [1]]
    a_smoothed = [frame[0].smoothed_score for frame in out[:4]]
    # A: 0.9, 0.8, 0.1, 0.1 -> EMA 0.9, 0.85, 0.475, 0.2875; hysteresis 0.4/0.6: live, live, live, spoof
    assert a_smoothed == pytest.approx([0.9, 0.85, 0.475, 0.2875])
    assert [frame[0].label for frame in out[:4]] == ["live", "live", "live", "spoof"]
    # B: 0.2, 0.2, 0.1, 0.1 -> 0.2, 0.2, 0.15, 0.125, always spoof
    assert [r.smoothed_score for frame in out[2:] for r in frame if r.track_id == 1] == pytest.approx(
        [0.2, 0.2, 0.15, 0.125])
    assert all(r.detected for frame in out for r in frame)
    assert [t["track_id"] for t in tracker.summary()] == [0, 1] and tracker.summary()[0]["frames"] == 4
    assert len(tracker.tracks) == 1  # A dropped after max_missed frames unseen


def test_tracker_follows_between_detections():
    rng = np.random.default_rng(0)
    texture = rng.integers(0, 255, (40, 40, 3), dtype=np.uint8)
    frames = []
    for t in range(5):
        frame = np.full((100, 200, 3), 60, np.uint8)
        frame[30:70, 20 + 7 * t: 60 + 7 * t] = texture
        frames.append(frame)
    first = Box(20, 30, 40, 40)
    stub = StubPredictor(threshold=0.5)
    tracker = FaceTracker(stub, StubDetector([[first]] + [[]] * 10), detect_every=10)
    results = [tracker.update(frame) for frame in frames]
    assert [r[0].face.box.x for r in results] == [20, 27, 34, 41, 48]
    assert [r[0].detected for r in results] == [True, False, False, False, False]
    assert {r[0].track_id for r in results} == {0}
    moved = dataclasses.replace(first, x=48)
    assert results[-1][0].face.box == moved

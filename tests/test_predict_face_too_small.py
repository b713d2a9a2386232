"""``facetrust predict``: a face smaller than ``--min-face`` is a clear result naming the input, not a score.

(A ``--box`` outside the frame and an unreadable camera index are in tests/test_predict.py.)"""

import json

import cv2
import pytest
import skimage.data
import torch

import facetrust
from facetrust.cli import main
from facetrust.models import create_model


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("small")
    torch.manual_seed(0)
    checkpoint = facetrust.save(create_model("resnet8", image_size=64), folder / "r8", threshold=0.5,
                                threshold_strategy="fixed:0.5")
    photo = folder / "astronaut.png"
    cv2.imwrite(str(photo), cv2.cvtColor(skimage.data.astronaut(), cv2.COLOR_RGB2BGR))
    return checkpoint, photo


@pytest.mark.parametrize(("options", "limit"), [(["--box", "10,10,12,30"], "24"),
                                                 (["--box", "170,50,110,120", "--min-face", "200"], "200")])
def test_face_smaller_than_min_face_names_the_input(files, options, limit, capsys):
    checkpoint, photo = files
    assert main(["predict", str(checkpoint), str(photo), *options, "--json"]) == 1
    captured = capsys.readouterr()
    record = json.loads(captured.out.splitlines()[-1])["results"][0]
    assert record["path"] == str(photo) and record["status"] == "face too small"
    assert record["score"] is None and record["decision"] is None
    assert record["faces"][0]["decision"] == "too small" and record["faces"][0]["score"] is None
    message = f"every face is smaller than {limit} px (shorter side); move closer or use a larger image " \
              "(--min-face lowers the limit)"
    assert record["message"] == message
    assert f"{photo}: face too small: {message}" in captured.err and "Traceback" not in captured.err
    # the same face with a lower limit is scored: the limit, not the face, decided
    assert main(["predict", str(checkpoint), str(photo), *options[:2], "--min-face", "8", "--json"]) == 0
    assert json.loads(capsys.readouterr().out.splitlines()[-1])["results"][0]["status"] == "ok"

"""``facetrust explain``: overlay PNG for one image, faithfulness table on a folder, clear errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from facetrust.cli import main
from facetrust.explain.overlay import overlay


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    from facetrust.checkpoint import save
    from facetrust.models import create_model

    torch.manual_seed(0)
    model = create_model("vit_tiny_patch16_224", embed_dim=16, image_size=32,
                         backbone_kwargs={"depth": 1, "embed_dim": 32, "num_heads": 2, "patch_size": 8})
    folder = tmp_path_factory.mktemp("ckpt")
    save(model, folder, threshold=0.5, threshold_strategy="fixed")
    return folder


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    from facetrust.data import write_image

    folder = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(0)
    for i in range(3):
        write_image(folder / f"face{i}.png", rng.integers(0, 256, size=(40, 56, 3), dtype=np.uint8))
    (folder / "broken.png").write_bytes(b"not a png")
    return folder


def test_overlay_writes_a_png_of_the_image_size(checkpoint, images, tmp_path):
    from facetrust.data import read_image

    out = tmp_path / "map.png"
    assert main(["explain", str(checkpoint), str(images / "face0.png"), "--method", "rollout", "--out", str(out),
                 "--crops"]) == 0
    written = read_image(out)
    assert written.shape == (40, 56, 3)
    assert not np.array_equal(written, read_image(images / "face0.png"))  # the heatmap is drawn


def test_faithfulness_table_skips_and_records_bad_files(checkpoint, images, tmp_path, capsys):
    report = tmp_path / "faith.md"
    plot = tmp_path / "curves.png"
    code = main(["explain", str(checkpoint), "--faithfulness", str(images), "--methods", "gradcam", "random",
                 "--steps", "4", "--out", str(report), "--plot", str(plot)])
    assert code == 0
    text = report.read_text()
    assert "| gradcam | 3 |" in text and "| random | 3 |" in text
    assert "broken.png" in text  # the unreadable file is reported, not fatal
    assert plot.stat().st_size > 1000


def test_errors_exit_2_with_a_message(checkpoint, images, tmp_path, capsys):
    assert main(["explain", str(checkpoint), "--method", "gradcam"]) == 2
    assert "IMAGE" in capsys.readouterr().err
    assert main(["explain", str(checkpoint), str(images / "face0.png"), "--method", "rollout",
                 "--prompt", "a printout", "--out", str(tmp_path / "x.png"), "--crops"]) == 2
    assert "text tower" in capsys.readouterr().err
    assert main(["explain", str(checkpoint), str(images / "missing.png"), "--out", str(tmp_path / "y.png")]) == 2


def test_overlay_blend_is_exact():
    image = np.full((2, 3, 3), 100, dtype=np.uint8)
    heatmap = np.zeros((2, 3), dtype=np.float32)  # JET(0) is pure blue (0, 0, 128) in RGB
    blended = overlay(image, heatmap, alpha=0.5)
    np.testing.assert_array_equal(blended[0, 0], [50, 50, 114])
    with pytest.raises(ValueError, match="uint8"):
        overlay(image.astype(np.float32), heatmap)


def test_flip_checkpoint_explains_a_prompt(images, tmp_path):
    """A FLIP checkpoint keeps its text tower: --prompt works end to end from the saved folder."""
    from facetrust.checkpoint import save
    from facetrust.data import read_image
    from facetrust.models import create_model

    torch.manual_seed(0)
    folder = tmp_path / "flip"
    save(create_model("flip_it", clip="clip-tiny"), folder)
    out = tmp_path / "printout.png"
    code = main(["explain", str(folder), str(images / "face1.png"), "--method", "clip-relevance",
                 "--prompt", "a printout shown to be a spoof face", "--out", str(out), "--crops"])
    assert code == 0 and read_image(out).shape == (40, 56, 3)


def test_a_photo_is_explained_on_the_face_predict_scores(tmp_path, capsys):
    """Upright photo -> detected face -> the checkpoint's crop: score and decision are predict's own."""
    import json

    import cv2
    import skimage.data

    import facetrust
    from facetrust.checkpoint import save
    from facetrust.data import read_image
    from facetrust.models import create_model

    torch.manual_seed(0)
    folder = save(create_model("resnet8", image_size=48), tmp_path / "r8", threshold=0.5)
    photo = tmp_path / "astronaut.jpg"
    cv2.imwrite(str(photo), cv2.cvtColor(skimage.data.astronaut(), cv2.COLOR_RGB2BGR))
    out = tmp_path / "map.png"
    assert main(["explain", str(folder), str(photo), "--method", "gradcam", "--detector", "cascade",
                 "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert main(["predict", str(folder), str(photo), "--detector", "cascade", "--json"]) == 0
    face = json.loads(capsys.readouterr().out.splitlines()[-1])["results"][0]["faces"][0]
    assert f"score {face['score']:.3f}" in text and f"decision {face['decision']}" in text
    assert f"the map explains class {face['decision']!r}" in text and "the predicted class" in text
    assert read_image(out).shape == (48, 48, 3)  # the model's input crop, not the whole photo
    assert main(["explain", str(folder), str(photo), "--target", "live", "--box", "0,0,10,10",
                 "--out", str(out)]) == 2
    assert "too small" in capsys.readouterr().err
    blank = tmp_path / "wall.png"
    cv2.imwrite(str(blank), np.full((100, 100, 3), 128, np.uint8))
    assert main(["explain", str(folder), str(blank), "--detector", "cascade", "--out", str(out)]) == 2
    assert "no face found" in capsys.readouterr().err
    assert facetrust.load(folder).threshold == 0.5
    # inputs explain cannot take: named, with what to give instead
    video = tmp_path / "clip.mp4"
    video.write_bytes(b"not decoded")
    assert main(["explain", str(folder), str(video), "--out", str(out)]) == 2
    assert "not a video" in capsys.readouterr().err
    assert main(["explain", str(folder), str(photo), "--target", "foo", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "use spoof or live" in err and "callable" not in err
    onnx = tmp_path / "onnx"
    onnx.mkdir()
    (onnx / "model.onnx").write_bytes(b"x")
    (onnx / "config.json").write_text(json.dumps({"export": {"source_checkpoint": str(folder)}}))
    assert main(["explain", str(onnx), str(photo), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "exported ONNX folder" in err and str(folder) in err

import cv2
import numpy as np
import pytest

from facetrust.data import read_image
from facetrust.data.io import write_image
from facetrust.errors import DataError


@pytest.fixture
def picture():
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (20, 30, 3), dtype=np.uint8)


def test_rgb_round_trip_keeps_channel_order(tmp_path, picture):
    write_image(tmp_path / "a.png", picture)
    np.testing.assert_array_equal(read_image(tmp_path / "a.png"), picture)


def test_grayscale_becomes_three_equal_channels(tmp_path, picture):
    gray = picture[..., 0]
    cv2.imwrite(str(tmp_path / "g.png"), gray)
    out = read_image(tmp_path / "g.png")
    assert out.shape == (20, 30, 3) and out.dtype == np.uint8
    for c in range(3):
        np.testing.assert_array_equal(out[..., c], gray)


def test_rgba_drops_alpha(tmp_path, picture):
    alpha = np.full((20, 30, 1), 7, np.uint8)
    bgra = np.concatenate([picture[..., ::-1], alpha], axis=2)
    cv2.imwrite(str(tmp_path / "a.png"), bgra)
    np.testing.assert_array_equal(read_image(tmp_path / "a.png"), picture)


def test_16_bit_is_scaled_to_8_bit(tmp_path, picture):
    wide = picture.astype(np.uint16) * 257  # 255 -> 65535
    cv2.imwrite(str(tmp_path / "w.png"), wide[..., ::-1])
    out = read_image(tmp_path / "w.png")
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(out, picture)


def test_missing_and_empty_files(tmp_path):
    with pytest.raises(DataError, match="not found"):
        read_image(tmp_path / "nope.png")
    (tmp_path / "empty.png").write_bytes(b"")
    with pytest.raises(DataError, match="empty"):
        read_image(tmp_path / "empty.png")


@pytest.mark.parametrize("suffix", [".png", ".jpg"])
def test_truncated_file_is_refused(tmp_path, picture, suffix):
    big = cv2.resize(picture, (120, 80))
    write_image(tmp_path / f"full{suffix}", big)
    data = (tmp_path / f"full{suffix}").read_bytes()
    (tmp_path / f"cut{suffix}").write_bytes(data[: len(data) * 2 // 3])
    with pytest.raises(DataError, match=r"cut\.(png|jpg)"):
        read_image(tmp_path / f"cut{suffix}")


def test_corrupt_and_non_image_files(tmp_path, picture):
    write_image(tmp_path / "ok.png", picture)
    data = bytearray((tmp_path / "ok.png").read_bytes())
    data[40:200] = b"\x00" * 160  # garbage in the middle of the IHDR/IDAT chunks
    (tmp_path / "corrupt.png").write_bytes(bytes(data))
    with pytest.raises(DataError, match="corrupt.png"):
        read_image(tmp_path / "corrupt.png")
    (tmp_path / "notes.png").write_text("this is a text file, not a picture")
    with pytest.raises(DataError, match="notes.png.*not an image"):
        read_image(tmp_path / "notes.png")


def test_huge_dimensions_are_refused_before_decoding(tmp_path):
    big = np.zeros((400, 500, 3), np.uint8)
    write_image(tmp_path / "big.png", big)
    with pytest.raises(DataError, match="big.png.*500x400.*limit of 199,999.*max_pixels"):
        read_image(tmp_path / "big.png", max_pixels=199_999)
    assert read_image(tmp_path / "big.png", max_pixels=200_000).shape == (400, 500, 3)


def test_directory_is_not_an_image(tmp_path):
    with pytest.raises(DataError, match="not a regular file"):
        read_image(tmp_path)

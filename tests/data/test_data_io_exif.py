"""EXIF orientation: read_image/decode_image return the image upright, for all 8 orientation values."""

import io
import warnings
from pathlib import Path

import numpy as np
import pytest

from facetrust.data.io import ExifWarning, decode_image, read_image
from facetrust.errors import DataError

SILENT_FACE = Path(__file__).resolve().parents[2] / ".." / "shared" / "real" / "silent-face"
PHOTOS = ("image_T1.jpg", "image_F1.jpg", "image_F2.jpg")


def _upright() -> np.ndarray:
    """An asymmetric 30 (high) x 44 (wide) image: every flip or rotation of it is a different array."""
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (30, 44, 3), dtype=np.uint8)
    image[:6, :10] = (255, 0, 0)  # a red block in the top-left corner
    return image


# How a camera stores the upright picture U for each EXIF orientation (EXIF 2.3, tag 274: the value
# says where the stored row 0 / column 0 lie in the upright picture). Written out per value, not
# derived from the implementation: e.g. 6 = "rotate 90 degrees clockwise to display", so the stored
# image is U turned 90 degrees counter-clockwise (np.rot90 with k=1).
STORED = {
    1: lambda u: u,
    2: lambda u: u[:, ::-1],
    3: lambda u: u[::-1, ::-1],
    4: lambda u: u[::-1, :],
    5: lambda u: np.swapaxes(u, 0, 1),  # stored[r, c] = U[c, r]
    6: lambda u: np.rot90(u, 1),  # stored[r, c] = U[c, W-1-r]
    7: lambda u: np.swapaxes(u, 0, 1)[::-1, ::-1],  # stored[r, c] = U[H-1-c, W-1-r]
    8: lambda u: np.rot90(u, -1),  # stored[r, c] = U[H-1-c, r]
}


def _encode(stored: np.ndarray, orientation, fmt: str = "PNG") -> bytes:
    from PIL import Image

    exif = Image.Exif()
    exif[0x0112] = orientation
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(stored)).save(buffer, fmt, exif=exif)
    return buffer.getvalue()


@pytest.mark.parametrize("orientation", range(1, 9))
def test_each_orientation_comes_out_upright(orientation, tmp_path):
    upright = _upright()
    data = _encode(STORED[orientation](upright), orientation)
    path = tmp_path / f"o{orientation}.png"
    path.write_bytes(data)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a well-formed EXIF raises no warning
        np.testing.assert_array_equal(read_image(path), upright)
        np.testing.assert_array_equal(decode_image(data, source="upload.png"), upright)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_tiff_orientation_is_applied_once(orientation):
    """OpenCV's TIFF decoder turns the image upright itself; read_image must not turn it again."""
    from PIL import Image

    upright = _upright()
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(STORED[orientation](upright))).save(buffer, "TIFF",
                                                                             tiffinfo={0x0112: orientation})
    np.testing.assert_array_equal(decode_image(buffer.getvalue(), source="x.tif"), upright)


def test_orientation_matches_pillow_exif_transpose_on_jpeg():
    """Cross-check against Pillow's own ImageOps.exif_transpose on a JPEG (lossy, so compare decoded pixels)."""
    from PIL import Image, ImageOps

    upright = _upright()
    for orientation in range(1, 9):
        data = _encode(STORED[orientation](upright), orientation, fmt="JPEG")
        expected = np.asarray(ImageOps.exif_transpose(Image.open(io.BytesIO(data))).convert("RGB"))
        ours = decode_image(data)
        assert ours.shape == expected.shape == upright.shape
        assert np.abs(ours.astype(int) - expected).max() <= 2, orientation  # decoders differ by rounding


@pytest.mark.skipif(not SILENT_FACE.is_dir(), reason=f"shared real photos not found at {SILENT_FACE}")
@pytest.mark.parametrize("name", PHOTOS)
def test_shared_phone_photos_come_out_upright(name):
    import cv2

    path = SILENT_FACE / name
    from PIL import Image

    with Image.open(path) as img:
        assert img.size == (640, 480) and img.getexif()[0x0112] == 6  # stored sideways
    image = read_image(path)
    assert image.shape == (640, 480, 3)  # upright: 480 wide, 640 high
    # OpenCV's imread (IMREAD_COLOR) applies the EXIF orientation itself: an independent reference.
    reference = cv2.cvtColor(cv2.imread(str(path), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    np.testing.assert_array_equal(image, reference)
    np.testing.assert_array_equal(decode_image(path.read_bytes(), source=name), image)


def _corrupt_exif(data: bytes) -> bytes:
    at = data.find(b"Exif\x00\x00")
    assert at > 0
    broken = bytearray(data)
    broken[at + 6 : at + 8] = b"XX"  # the TIFF byte-order mark ("II"/"MM") is gone
    return bytes(broken)


def test_malformed_exif_is_read_as_stored_with_a_warning(tmp_path):
    upright = _upright()
    stored = STORED[6](upright)
    path = tmp_path / "broken_exif.jpg"
    path.write_bytes(_corrupt_exif(_encode(stored, 6, fmt="JPEG")))
    with pytest.warns(ExifWarning, match="broken_exif.jpg.*malformed EXIF.*as stored"):
        image = read_image(path)
    assert image.shape == stored.shape  # not rotated, not refused
    with pytest.warns(ExifWarning, match="camera-upload.*malformed EXIF"):
        assert decode_image(path.read_bytes(), source="camera-upload").shape == stored.shape


def test_out_of_range_orientation_is_read_as_stored_with_a_warning():
    stored = STORED[1](_upright())
    with pytest.warns(ExifWarning, match="orientation value 9"):
        np.testing.assert_array_equal(decode_image(_encode(stored, 9), source="x.png"), stored)


def test_decode_image_has_read_image_errors():
    with pytest.raises(DataError, match="upload: file is empty"):
        decode_image(b"")
    with pytest.raises(DataError, match="form field 'image': not an image"):
        decode_image(b"hello, not an image" * 10, source="form field 'image'")
    data = _encode(_upright(), 1)
    with pytest.raises(DataError, match="upload: .*truncated"):
        decode_image(data[:-20])
    with pytest.raises(DataError, match="^upload: image is 44x30 = 1,320 pixels, above the limit of 1,000"):
        decode_image(data, max_pixels=1000)
    with pytest.raises(DataError, match="expected the image's bytes"):
        decode_image("photo.jpg")  # a path is not bytes


def test_pixel_limit_is_checked_before_decoding(monkeypatch):
    """A decompression bomb is refused from its header: cv2.imdecode is never called."""
    import cv2

    calls = []
    monkeypatch.setattr(cv2, "imdecode", lambda *a: calls.append(a))
    with pytest.raises(DataError, match="above the limit"):
        decode_image(_encode(_upright(), 6), max_pixels=100)
    assert calls == []

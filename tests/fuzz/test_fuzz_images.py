"""read_image / decode_image on hostile input: an upright uint8 RGB array or a DataError naming the
source, never another exception (property-based, hypothesis)."""

import io
import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image, ImageOps

from facetrust.data.io import ExifWarning, decode_image, read_image
from facetrust.errors import DataError

FORMATS = {"JPEG": ".jpg", "PNG": ".png", "WEBP": ".webp", "TIFF": ".tif"}


def _encode(image: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format=fmt, **kw)
    return buf.getvalue()


def _picture(w: int, h: int, seed: int) -> Image.Image:
    """A smooth image (so JPEG round trips stay close) with an asymmetric feature (so rotations show)."""
    y, x = np.mgrid[0:h, 0:w]
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 200, size=3)
    array = np.stack([(base[0] + 50 * x / max(w, 1)), (base[1] + 50 * y / max(h, 1)),
                      np.full((h, w), base[2])], axis=-1).astype(np.uint8)
    array[: max(1, h // 4), : max(1, w // 4)] = 255
    return Image.fromarray(array)


def _check(data: bytes, tmp_path, suffix: str):
    """Both entry points: a valid uint8 RGB array, or a DataError naming the source."""
    path = tmp_path / f"fuzz{suffix}"
    path.write_bytes(data)
    results = []
    for call, source in ((lambda: read_image(path), str(path)), (lambda: decode_image(data, "upload.bin"), "upload.bin")):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ExifWarning)
            try:
                image = call()
            except DataError as err:
                assert source in str(err), f"the error does not name {source}: {err}"
                results.append(None)
                continue
        assert isinstance(image, np.ndarray) and image.dtype == np.uint8
        assert image.ndim == 3 and image.shape[2] == 3 and image.shape[0] > 0 and image.shape[1] > 0
        results.append(image)
    if results[0] is None or results[1] is None:
        assert results[0] is None and results[1] is None, "read_image and decode_image disagree"
    else:
        assert np.array_equal(results[0], results[1])
    return results[0]


@given(st.binary(max_size=2048))
def test_random_bytes(tmp_path, data):  # kind 1
    _check(data, tmp_path, ".jpg")


@given(st.sampled_from(sorted(FORMATS)), st.integers(1, 48), st.integers(1, 48), st.floats(0.0, 0.999))
def test_truncated_files(tmp_path, fmt, w, h, keep):  # kinds 2-5: truncated JPEG, PNG, WebP, TIFF
    data = _encode(_picture(w, h, 0), fmt)
    _check(data[: int(len(data) * keep)], tmp_path, FORMATS[fmt])


@given(st.sampled_from(sorted(FORMATS)), st.integers(1, 64), st.integers(1, 64), st.integers(0, 9))
def test_random_dimensions_round_trip(tmp_path, fmt, w, h, seed):  # kind 6
    picture = _picture(w, h, seed)
    lossless = fmt in ("PNG", "TIFF")
    data = _encode(picture, fmt, **({"lossless": True} if fmt == "WEBP" else {}))
    image = _check(data, tmp_path, FORMATS[fmt])
    assert image is not None and image.shape == (h, w, 3)
    if lossless or fmt == "WEBP":
        assert np.array_equal(image, np.asarray(picture))


@given(st.sampled_from(["PNG", "TIFF"]), st.integers(1, 32), st.integers(2, 32), st.integers(0, 65535))
def test_16_bit(tmp_path, fmt, w, h, value):  # kind 7
    array = np.full((h, w), value, dtype=np.uint16)
    array[0, 0] = 65535 - value
    data = _encode(Image.fromarray(array), fmt)
    image = _check(data, tmp_path, FORMATS[fmt])
    assert image is not None and image.shape == (h, w, 3)
    assert abs(int(image[-1, -1, 0]) - value / 257) <= 1  # 16-bit scaled to 8-bit, not clipped


@given(st.integers(1, 40), st.integers(1, 40), st.integers(2, 256), st.sampled_from(["PNG", "TIFF"]))
def test_palette(tmp_path, w, h, colours, fmt):  # kind 8
    picture = _picture(w, h, 1).quantize(colors=colours)
    image = _check(_encode(picture, fmt), tmp_path, FORMATS[fmt])
    assert image is not None
    assert np.array_equal(image, np.asarray(picture.convert("RGB")))


@given(st.integers(1, 40), st.integers(1, 40), st.sampled_from(["JPEG", "TIFF"]))
def test_cmyk(tmp_path, w, h, fmt):  # kind 9
    picture = _picture(w, h, 2)
    data = _encode(picture.convert("CMYK"), fmt)
    image = _check(data, tmp_path, FORMATS[fmt])
    assert image is not None and image.shape == (h, w, 3)
    reference = np.asarray(Image.open(io.BytesIO(data)).convert("RGB")).astype(int)
    assert np.abs(image.astype(int) - reference).mean() < 12  # CMYK -> RGB as Pillow does it (roughly)


@given(st.integers(1, 8), st.integers(2, 40), st.integers(2, 40))
def test_exif_orientation_upright(tmp_path, orientation, w, h):  # kind 10
    picture = _picture(w, h, 3)
    exif = Image.Exif()
    exif[0x0112] = orientation
    data = _encode(picture, "JPEG", quality=95, exif=exif.tobytes())
    image = _check(data, tmp_path, ".jpg")
    reference = np.asarray(ImageOps.exif_transpose(Image.open(io.BytesIO(data))).convert("RGB"))
    assert image.shape == reference.shape
    assert np.abs(image.astype(int) - reference.astype(int)).mean() < 4


@given(st.binary(min_size=0, max_size=200), st.integers(1, 32), st.integers(1, 32))
def test_broken_exif(tmp_path, junk, w, h):  # kind 11: a random EXIF block (any orientation or none)
    data = _encode(_picture(w, h, 4), "JPEG", exif=b"Exif\x00\x00" + junk)
    image = _check(data, tmp_path, ".jpg")
    assert image is None or sorted(image.shape[:2]) == sorted((h, w))


@given(st.sampled_from(sorted(FORMATS)), st.lists(st.tuples(st.floats(0, 0.999), st.integers(0, 255)),
                                                   min_size=1, max_size=12))
def test_corrupted_bytes(tmp_path, fmt, flips):  # kind 12: bytes overwritten anywhere in a valid file
    data = bytearray(_encode(_picture(24, 20, 5), fmt))
    for where, value in flips:
        data[int(where * len(data))] = value
    _check(bytes(data), tmp_path, FORMATS[fmt])


@given(st.sampled_from([(".png", b"\x89PNG\r\n\x1a\n"), (".jpg", b"\xff\xd8\xff"), (".webp", b"RIFF\x00\x00\x00\x00WEBP"),
                        (".tif", b"II*\x00")]), st.binary(max_size=512))
def test_magic_then_garbage(tmp_path, magic, tail):  # kind 13: a right signature with garbage after it
    suffix, head = magic
    _check(head + tail, tmp_path, suffix)


@pytest.mark.parametrize("mode", ["L", "LA", "RGBA", "I;16", "1", "P"])
def test_other_modes(tmp_path, mode):  # kind 14 (fixed cases): grayscale, alpha, 1-bit
    picture = _picture(17, 11, 6).convert(mode if mode != "I;16" else "I").convert(mode) if mode != "P" \
        else _picture(17, 11, 6).convert("P")
    image = _check(_encode(picture, "PNG"), tmp_path, ".png")
    assert image is not None and image.shape == (11, 17, 3)

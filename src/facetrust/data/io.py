"""Image reading that never lets a bad file through silently, and always returns the image upright.

``read_image(path)`` returns uint8 RGB (H, W, 3) whatever the file holds (grayscale, RGBA, 16-bit,
palette) and raises ``DataError`` naming the path and the reason for a missing, empty, truncated,
corrupt, non-image or absurdly large file. ``decode_image(data, source)`` does the same for bytes in
memory (an upload), naming ``source`` in its errors.

The EXIF orientation (tag 274, values 1-8) is applied, so a phone photo stored sideways comes out
upright. A malformed EXIF block, or an orientation outside 1-8, is not a reason to refuse the image:
it is read as stored, with an ``ExifWarning`` naming the source. Decoding is done by OpenCV; the
header is read with Pillow first so that a huge image is refused before any pixel memory is allocated.
"""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path

import numpy as np

from facetrust.errors import DataError

# 50 megapixels: far above any face crop or camera frame, far below a decompression bomb.
DEFAULT_MAX_PIXELS = 50_000_000
# the process-wide limit when a caller passes none: set by the CLI's --max-pixels (inherited by
# DataLoader workers through the environment)
MAX_PIXELS_ENV = "FACETRUST_MAX_PIXELS"


def max_pixels_limit(max_pixels: int | None = None) -> int:
    """``max_pixels`` if given, else ``$FACETRUST_MAX_PIXELS``, else ``DEFAULT_MAX_PIXELS``."""
    if max_pixels is not None:
        return int(max_pixels)
    raw = os.environ.get(MAX_PIXELS_ENV, "").strip()
    if not raw:
        return DEFAULT_MAX_PIXELS
    try:
        value = int(float(raw))
    except ValueError:
        raise DataError(f"${MAX_PIXELS_ENV}={raw!r} is not a number of pixels") from None
    if value <= 0:
        raise DataError(f"${MAX_PIXELS_ENV}={raw!r} must be positive")
    return value


def set_max_pixels(value: int) -> None:
    """Raise or lower the limit for this process and its workers (the CLI's ``--max-pixels``)."""
    if value <= 0:
        raise DataError(f"--max-pixels {value} must be positive")
    os.environ[MAX_PIXELS_ENV] = str(int(value))

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm")

ORIENTATION_TAG = 0x0112


class ExifWarning(UserWarning):
    """An image's EXIF block could not be used; the image was read as stored."""


def _header(data: bytes, source: str, max_pixels: int) -> tuple[tuple[int, int], int] | None:
    """((width, height), EXIF orientation 1-8) from the header, or None when Pillow does not know the format.

    The pixel limit is checked here, before anything else, so that a decompression bomb is refused
    from its header alone.
    """
    from PIL import Image, UnidentifiedImageError

    Image.MAX_IMAGE_PIXELS = None  # we apply our own limit, with a clearer message
    try:
        img = Image.open(io.BytesIO(data))
    except UnidentifiedImageError:
        return None
    except (OSError, SyntaxError, ValueError) as err:
        raise DataError(f"{source}: cannot read the image header ({err}); the file is corrupt") from err
    with img:
        width, height = img.size
        if width * height > max_pixels:
            raise DataError(
                f"{source}: image is {width}x{height} = {width * height:,} pixels, above the limit of "
                f"{max_pixels:,}; downscale it, or raise the limit with --max-pixels N (predict, explain, "
                f"data check, serve), ${MAX_PIXELS_ENV}=N (any command) or read_image(..., max_pixels=N)"
            )
        if img.format == "TIFF":  # OpenCV's TIFF decoder applies the orientation tag itself (tested)
            return img.size, 1
        return img.size, _orientation(img, source)


def _orientation(img, source: str) -> int:
    """The EXIF orientation of an open Pillow image; 1 (as stored) with a warning when the EXIF is malformed."""
    raw = img.info.get("exif")
    if img.format == "PNG" and raw is None:
        return 1  # Pillow would decode the whole PNG looking for a late eXIf chunk; cameras write it early
    problem = None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            exif = img.getexif()
        except Exception as err:  # Pillow raises many types (struct.error, SyntaxError, ...) on bad EXIF
            exif, problem = {}, f"{type(err).__name__}: {err}"
    if problem is None and caught:
        problem = "; ".join(str(w.message).strip() for w in caught)
    if problem is None and raw and len(raw) > 6 and not exif:
        problem = "EXIF block present but no tag could be read"
    value = exif.get(ORIENTATION_TAG, 1) if problem is None else 1
    if problem is None and (not isinstance(value, int) or not 1 <= value <= 8):
        problem = f"orientation value {value!r} is not one of 1-8"
    if problem is not None:
        warnings.warn(f"{source}: malformed EXIF ({problem}); the image is read as stored, without rotation",
                      ExifWarning, stacklevel=5)
        return 1
    return int(value)


def apply_orientation(image: np.ndarray, orientation: int) -> np.ndarray:
    """Turn an image stored with EXIF ``orientation`` (1-8) upright (TIFF 6.0 / EXIF 2.3 definition)."""
    if orientation in (5, 6, 7, 8):
        image = np.swapaxes(image, 0, 1)  # transpose: row 0 of the stored image becomes column 0
    flips = {2: (1,), 3: (0, 1), 4: (0,), 5: (), 6: (1,), 7: (0, 1), 8: (0,)}.get(orientation, ())
    for axis in flips:
        image = np.flip(image, axis=axis)
    return np.ascontiguousarray(image)


def to_rgb_uint8(image: np.ndarray, source: str = "image") -> np.ndarray:
    """Any OpenCV-decoded array (gray, BGR, BGRA; uint8/uint16/float) -> contiguous uint8 RGB."""
    import cv2

    if image.dtype == np.uint16:
        image = (image.astype(np.float32) / 257.0 + 0.5).astype(np.uint8)  # 65535 -> 255 exactly
    elif image.dtype in (np.float32, np.float64):
        image = np.clip(np.nan_to_num(image) * 255.0 + 0.5, 0, 255).astype(np.uint8)
    elif image.dtype != np.uint8:
        raise DataError(f"{source}: unsupported pixel type {image.dtype}; save it as 8- or 16-bit")
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
    if image.ndim == 3 and image.shape[2] == 1:
        return cv2.cvtColor(image[:, :, 0], cv2.COLOR_GRAY2RGB)
    if image.ndim == 3 and image.shape[2] == 3:
        return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    if image.ndim == 3 and image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2RGB)  # alpha dropped
    raise DataError(f"{source}: unsupported image shape {image.shape}")


def read_image(path: str | os.PathLike, max_pixels: int | None = None) -> np.ndarray:
    """Read an image file as upright uint8 RGB (H, W, 3); ``DataError`` naming the path if it is unusable."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: file not found")
    if not path.is_file():
        raise DataError(f"{path}: not a regular file")
    if path.stat().st_size == 0:
        raise DataError(f"{path}: file is empty (0 bytes)")
    return _decode(path.read_bytes(), str(path), max_pixels)


def decode_image(data: bytes, source: str = "upload", max_pixels: int | None = None) -> np.ndarray:
    """Decode image bytes in memory (an upload) as upright uint8 RGB, with ``read_image``'s checks and errors."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise DataError(f"{source}: expected the image's bytes, got {type(data).__name__}")
    if len(data) == 0:
        raise DataError(f"{source}: file is empty (0 bytes)")
    return _decode(bytes(data), source, max_pixels)


def _decode(data: bytes, source: str, max_pixels: int | None) -> np.ndarray:
    import cv2

    max_pixels = max_pixels_limit(max_pixels)
    header = _header(data, source, max_pixels)
    size, orientation = header if header is not None else (None, 1)
    buffer = np.frombuffer(data, dtype=np.uint8)
    image = cv2.imdecode(buffer, cv2.IMREAD_UNCHANGED)  # UNCHANGED: OpenCV does not rotate; we do, once
    if image is None:
        what = "a corrupt or truncated image" if size is not None else "not an image OpenCV can decode"
        raise DataError(f"{source}: {what}")
    if size is None and image.shape[0] * image.shape[1] > max_pixels:
        raise DataError(f"{source}: image is {image.shape[1]}x{image.shape[0]}, above the limit of {max_pixels:,} pixels")
    if size is not None:
        _check_complete(source, buffer)
    return apply_orientation(to_rgb_uint8(image, source=source), orientation)


def _check_complete(source: str, data: np.ndarray) -> None:
    """OpenCV decodes a truncated PNG/JPEG with grey filler; refuse it by checking the end marker."""
    tail = data[-12:].tobytes()
    head = data[:8].tobytes()
    if head.startswith(b"\x89PNG") and b"IEND" not in tail:
        raise DataError(f"{source}: truncated PNG (no IEND chunk at the end of the file)")
    if head.startswith(b"\xff\xd8") and b"\xff\xd9" not in data[-64:].tobytes():
        raise DataError(f"{source}: truncated JPEG (no end-of-image marker)")


def write_image(path: str | os.PathLike, image: np.ndarray, jpeg_quality: int = 95) -> None:
    """Write a uint8 RGB image (PNG unless the suffix says JPEG); parents are created."""
    import cv2

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    params = [cv2.IMWRITE_JPEG_QUALITY, jpeg_quality] if path.suffix.lower() in (".jpg", ".jpeg") else []
    ok, buffer = cv2.imencode(path.suffix or ".png", cv2.cvtColor(image, cv2.COLOR_RGB2BGR), params)
    if not ok:
        raise DataError(f"{path}: OpenCV could not encode the image")
    buffer.tofile(path)

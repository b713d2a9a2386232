"""Image reading that never lets a bad file through silently.

``read_image(path)`` returns uint8 RGB (H, W, 3) whatever the file holds (grayscale, RGBA, 16-bit,
palette) and raises ``DataError`` naming the path and the reason for a missing, empty, truncated,
corrupt, non-image or absurdly large file. Decoding is done by OpenCV; the header is read with
Pillow first so that a huge image is refused before any pixel memory is allocated.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from facetrust.errors import DataError

# 50 megapixels: far above any face crop or camera frame, far below a decompression bomb.
DEFAULT_MAX_PIXELS = 50_000_000

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm")


def _header_size(path: Path) -> tuple[int, int] | None:
    """(width, height) from the file header, or None when Pillow does not know the format."""
    from PIL import Image, UnidentifiedImageError

    Image.MAX_IMAGE_PIXELS = None  # we apply our own limit, with a clearer message
    try:
        with Image.open(path) as img:
            return img.size
    except UnidentifiedImageError:
        return None
    except (OSError, SyntaxError, ValueError) as err:
        raise DataError(f"{path}: cannot read the image header ({err}); the file is corrupt") from err


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


def read_image(path: str | os.PathLike, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Read an image file as uint8 RGB (H, W, 3); ``DataError`` naming the path if it is unusable."""
    import cv2

    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: file not found")
    if not path.is_file():
        raise DataError(f"{path}: not a regular file")
    if path.stat().st_size == 0:
        raise DataError(f"{path}: file is empty (0 bytes)")
    size = _header_size(path)
    if size is not None and size[0] * size[1] > max_pixels:
        raise DataError(
            f"{path}: image is {size[0]}x{size[1]} = {size[0] * size[1]:,} pixels, above the limit of "
            f"{max_pixels:,}; downscale it or raise max_pixels"
        )
    data = np.fromfile(path, dtype=np.uint8)
    image = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    if image is None:
        what = "a corrupt or truncated image" if size is not None else "not an image OpenCV can decode"
        raise DataError(f"{path}: {what}")
    if size is None and image.shape[0] * image.shape[1] > max_pixels:
        raise DataError(f"{path}: image is {image.shape[1]}x{image.shape[0]}, above the limit of {max_pixels:,} pixels")
    if size is not None:
        _check_complete(path, data)
    return to_rgb_uint8(image, source=str(path))


def _check_complete(path: Path, data: np.ndarray) -> None:
    """OpenCV decodes a truncated PNG/JPEG with grey filler; refuse it by checking the end marker."""
    tail = data[-12:].tobytes()
    head = data[:8].tobytes()
    if head.startswith(b"\x89PNG") and b"IEND" not in tail:
        raise DataError(f"{path}: truncated PNG (no IEND chunk at the end of the file)")
    if head.startswith(b"\xff\xd8") and b"\xff\xd9" not in data[-64:].tobytes():
        raise DataError(f"{path}: truncated JPEG (no end-of-image marker)")


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

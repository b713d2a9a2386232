"""What a request may cost the service: bytes, pixels, time and a place in the queue.

Everything here runs before any pixel is decoded: the type is sniffed from the first bytes (never
from a file name or a client's Content-Type), the image's width and height are read from its header
so that a decompression bomb is refused without allocating it, and a slot in the bounded queue is
taken or a 503 with ``Retry-After`` is returned at once.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")

# Magic numbers of the formats OpenCV decodes here; anything else is refused with 415.
SIGNATURES: tuple[tuple[str, Callable[[bytes], bool]], ...] = (
    ("image/jpeg", lambda b: b.startswith(b"\xff\xd8\xff")),
    ("image/png", lambda b: b.startswith(b"\x89PNG\r\n\x1a\n")),
    ("image/webp", lambda b: len(b) >= 12 and b[:4] == b"RIFF" and b[8:12] == b"WEBP"),
    ("image/bmp", lambda b: b.startswith(b"BM")),
    ("image/tiff", lambda b: b[:4] in (b"II*\x00", b"MM\x00*")),
)


class RequestRefused(Exception):
    """A request that breaks a limit: carries the HTTP status, a message and optional headers."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.headers = status, message, headers or {}


@dataclass(frozen=True)
class Limits:
    """Per-request limits; defaults fit a phone photo and a 2-core machine."""

    max_bytes: int = 10 * 1024 * 1024
    max_pixels: int = 40_000_000
    timeout_s: float = 30.0
    max_concurrency: int = 2  # inferences running at once (thread-pool size)
    max_queue: int = 64  # requests waiting for a slot; one more gets 503
    retry_after_s: int = 1
    max_claims: int = 32


def sniff_image_type(data: bytes) -> str:
    """The MIME type read from the content's magic number; 415 when it is no supported image."""
    if not data:
        raise RequestRefused(422, "the upload is empty (0 bytes); send an image file")
    for mime, matches in SIGNATURES:
        if matches(data[:16]):
            return mime
    raise RequestRefused(
        415, "unsupported media type: the content is not a JPEG, PNG, WebP, BMP or TIFF image "
        "(checked from its first bytes, not its name)"
    )


def check_pixels(data: bytes, max_pixels: int) -> tuple[int, int]:
    """(width, height) from the header alone; 413 above ``max_pixels``, 422 for an unreadable header."""
    from PIL import Image, UnidentifiedImageError

    Image.MAX_IMAGE_PIXELS = None  # our own limit below, with a clearer message
    try:
        with Image.open(io.BytesIO(data)) as img:  # lazy: reads the header, decodes nothing
            width, height = img.size
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as err:
        raise RequestRefused(422, f"corrupt image: its header cannot be read ({err})") from err
    if width * height > max_pixels:
        raise RequestRefused(
            413, f"image is {width}x{height} = {width * height:,} pixels, above this service's limit of "
            f"{max_pixels:,}; downscale it before sending"
        )
    return width, height


def check_image_bytes(data: bytes, limits: Limits) -> tuple[str, int, int]:
    """Size, type and pixel checks in that order: (mime, width, height) or ``RequestRefused``."""
    if len(data) > limits.max_bytes:
        raise RequestRefused(413, too_large_message(limits.max_bytes))
    mime = sniff_image_type(data)
    width, height = check_pixels(data, limits.max_pixels)
    return mime, width, height


def too_large_message(max_bytes: int) -> str:
    return f"upload too large: the limit is {max_bytes:,} bytes ({max_bytes / 2**20:.1f} MiB)"


class InferenceGate:
    """Bounded concurrency: ``max_concurrency`` jobs in a thread pool, ``max_queue`` waiting, 503 beyond.

    A job that passes its timeout gets 504, but keeps its slot until its thread really finishes, so
    timed-out work can never pile up more threads than the limit allows.
    """

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.pool = ThreadPoolExecutor(max_workers=limits.max_concurrency, thread_name_prefix="facetrust-infer")
        self._slots: asyncio.Semaphore | None = None
        self.admitted = 0  # running + waiting
        self.running = 0

    @property
    def waiting(self) -> int:
        return self.admitted - self.running

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(*args)`` in the pool under the limits; ``RequestRefused`` 503/504 otherwise."""
        if self._slots is None:  # created inside the running event loop
            self._slots = asyncio.Semaphore(self.limits.max_concurrency)
        if self.admitted >= self.limits.max_concurrency + self.limits.max_queue:
            raise RequestRefused(
                503, f"the service is busy ({self.admitted} requests running or queued); retry shortly",
                {"Retry-After": str(self.limits.retry_after_s)},
            )
        self.admitted += 1
        slots = self._slots
        acquired = False
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.limits.timeout_s
        try:
            await asyncio.wait_for(slots.acquire(), self.limits.timeout_s)
            acquired = True
            self.running += 1
            future = loop.run_in_executor(self.pool, fn, *args)
        except TimeoutError as err:
            self.admitted -= 1
            raise self._timed_out() from err
        except BaseException:
            if acquired:
                self.running -= 1
                slots.release()
            self.admitted -= 1
            raise

        def release(_: asyncio.Future) -> None:
            self.running -= 1
            self.admitted -= 1
            slots.release()

        future.add_done_callback(release)
        try:
            return await asyncio.wait_for(asyncio.shield(future), max(0.0, deadline - loop.time()))
        except TimeoutError as err:
            raise self._timed_out() from err

    def _timed_out(self) -> RequestRefused:
        return RequestRefused(504, f"the request took longer than this service's limit of {self.limits.timeout_s:g} s")

    def close(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)

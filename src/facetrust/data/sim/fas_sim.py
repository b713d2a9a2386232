"""fas-sim: an embedded face anti-spoofing benchmark generated from real photos, with no download.

Faces are the 100 real face crops of scikit-image's ``lfw_subset`` (25x25 grayscale), colourised
with a per-subject skin tone (one tone measured on ``astronaut()``'s face) and shaded; the 100
non-face crops of the same set become backgrounds. Each subject records a few short "videos" (frames
with small head or hand motion) live and under each attack species:

* print: colour gamut loss, CMY halftone screen, paper texture and tint, visible paper edges;
* replay: RGB sub-pixel grid (moire after camera sampling), backlight black level, glare, banding,
  screen bezel.

Each capture domain is one camera (white balance, gamma, optical blur, sensor noise, resolution,
JPEG quality) and also has its own printer and screen (halftone period, paper tint, screen pitch,
glare), as the public FAS data sets each use their own devices, so attack cues differ across domains.
Subjects are disjoint across domains and, within a domain, across train/val/test splits.
Everything is drawn from a ``numpy`` generator seeded per (seed, domain, subject, video), so a seed
gives the same files byte for byte.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from facetrust.errors import DataError


@dataclass(frozen=True)
class Camera:
    """One capture domain: the camera and the attack devices used with it."""

    name: str
    wb_gains: tuple[float, float, float]  # R, G, B multipliers
    gamma: float
    blur_sigma: float  # optical blur, in output pixels
    noise_sigma: float  # read noise, on [0, 1]
    resolution: float  # sensor resolution relative to the output size
    jpeg_quality: int
    saturation: float
    halftone_period: float  # printer screen period, in render pixels
    paper_tint: tuple[float, float, float]
    screen_pitch: float  # replay screen pixel pitch, in render pixels
    screen_tint: tuple[float, float, float]


CAMERAS: dict[str, Camera] = {
    c.name: c
    for c in (
        Camera("phone", (1.08, 1.0, 0.90), 1.0, 0.5, 0.018, 0.85, 85, 1.05, 4.0, (1.0, 0.98, 0.92), 3.0, (0.92, 0.97, 1.08)),
        Camera("webcam", (0.90, 1.0, 1.12), 0.9, 0.6, 0.022, 0.62, 65, 0.90, 5.5, (0.97, 1.0, 1.0), 2.4, (1.0, 1.0, 1.0)),
        Camera("kiosk", (0.98, 1.08, 0.95), 0.85, 0.55, 0.020, 0.80, 80, 1.00, 4.8, (1.0, 1.0, 0.95), 3.6, (0.95, 1.02, 1.05)),
        Camera("cctv", (1.0, 1.0, 1.0), 1.05, 0.6, 0.032, 0.55, 55, 0.45, 6.5, (1.0, 0.97, 0.94), 2.7, (1.05, 1.0, 0.95)),
        Camera("laptop", (1.04, 1.0, 1.04), 0.95, 0.8, 0.028, 0.70, 72, 1.05, 4.4, (0.98, 0.98, 1.0), 3.2, (0.96, 0.99, 1.06)),
        Camera("doorbell", (1.1, 1.02, 0.85), 1.1, 0.9, 0.030, 0.60, 60, 0.80, 6.0, (1.0, 0.96, 0.90), 2.2, (1.0, 1.0, 1.1)),
    )
}
DEFAULT_DOMAINS = ("phone", "webcam", "kiosk", "cctv")
ATTACK_SPECIES = ("print", "replay")
# Skin tones (linear-ish RGB on [0, 1]); the astronaut's measured tone is appended at run time.
SKIN_TONES = np.array([
    [0.93, 0.74, 0.62], [0.86, 0.64, 0.50], [0.78, 0.56, 0.42], [0.66, 0.46, 0.33],
    [0.54, 0.37, 0.27], [0.42, 0.29, 0.21], [0.90, 0.70, 0.60], [0.72, 0.52, 0.38],
])


def _load_sources() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(faces (100, 25, 25), non-faces (100, 25, 25), skin tones (K, 3)) from scikit-image."""
    import skimage.data

    lfw = skimage.data.lfw_subset()
    astronaut = skimage.data.astronaut().astype(np.float64) / 255.0
    cheek = astronaut[110:140, 200:250].reshape(-1, 3)  # her cheeks and nose: skin only
    tone = cheek.mean(axis=0) / cheek.mean(axis=0).max() * 0.9
    return lfw[:100], lfw[100:200], np.vstack([SKIN_TONES, tone])


def _resize(image: np.ndarray, size: int, interpolation: int | None = None) -> np.ndarray:
    import cv2

    interpolation = cv2.INTER_CUBIC if interpolation is None else interpolation
    return cv2.resize(image.astype(np.float32), (size, size), interpolation=interpolation)


def _colourise_face(gray: np.ndarray, tone: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """Grayscale face -> plausible RGB: skin tone scaled by shading, warmer in the mid-tones."""
    shade = np.clip(_resize(gray, size), 0, 1)
    shade = (shade - shade.min()) / max(shade.max() - shade.min(), 1e-6)
    lift = rng.uniform(0.85, 1.15)
    rgb = (0.12 + 1.05 * shade[..., None] ** lift) * tone[None, None, :]
    # a little redness in mid-tones (cheeks, lips) and cooler shadows
    mid = np.exp(-((shade - 0.55) ** 2) / 0.03)[..., None]
    rgb = rgb + mid * np.array([0.05, -0.01, -0.02]) * rng.uniform(0.5, 1.5)
    return np.clip(rgb, 0, 1).astype(np.float32)


def _background(patch: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    import cv2

    tint = rng.uniform(0.35, 1.0, size=3)
    base = _resize(patch, size)
    base = cv2.GaussianBlur(base, (0, 0), size / 40)
    return np.clip((0.25 + 0.6 * base[..., None]) * tint, 0, 1).astype(np.float32)


def _warp(image: np.ndarray, angle: float, scale: float, shift: tuple[float, float],
          border: np.ndarray | None) -> np.ndarray:
    import cv2

    h, w = image.shape[:2]
    matrix = cv2.getRotationMatrix2D((w / 2, h / 2), angle, scale)
    matrix[:, 2] += shift
    if isinstance(border, np.ndarray):  # composite over a background
        mask = cv2.warpAffine(np.ones((h, w), np.float32), matrix, (w, h), flags=cv2.INTER_LINEAR)
        warped = cv2.warpAffine(image, matrix, (w, h), flags=cv2.INTER_LINEAR)
        return warped * mask[..., None] + border * (1 - mask[..., None])
    return cv2.warpAffine(image, matrix, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)


def _scene(face: np.ndarray, background: np.ndarray, face_frac: float, light: np.ndarray) -> np.ndarray:
    """Face (already coloured) over a background, with a soft oval mask and directional light."""
    import cv2

    size = background.shape[0]
    fs = int(round(size * face_frac))
    face = _resize(face, fs)
    yy, xx = np.mgrid[0:fs, 0:fs].astype(np.float32) / fs - 0.5
    mask = np.clip((0.5 - np.sqrt((xx / 0.95) ** 2 + (yy / 1.08) ** 2)) * 12, 0, 1)
    mask = cv2.GaussianBlur(mask, (0, 0), fs / 30)[..., None]
    shade = 1 + light[0] * xx[..., None] + light[1] * yy[..., None]  # 3-D lighting on the face only
    out = background.copy()
    o = (size - fs) // 2
    out[o : o + fs, o : o + fs] = face * shade * mask + out[o : o + fs, o : o + fs] * (1 - mask)
    return np.clip(out, 0, 1)


def _print_medium(content: np.ndarray, cam: Camera, rng: np.random.Generator, strength: float) -> np.ndarray:
    """A printed photo: gamut loss, CMY halftone, paper tint and texture (content on [0, 1])."""
    import cv2

    size = content.shape[0]
    gray = content.mean(axis=2, keepdims=True)
    sat = rng.uniform(0.4, 0.65)
    img = gray + (content - gray) * sat  # gamut loss
    black, white = rng.uniform(0.1, 0.2), rng.uniform(0.75, 0.88)
    img = black + (white - black) * img
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    period = cam.halftone_period * rng.uniform(0.9, 1.1)
    cmy = 1 - img
    for c, angle in enumerate(np.deg2rad([15.0, 75.0, 0.0]) + rng.uniform(0, np.pi / 2)):
        u = (xx * np.cos(angle) + yy * np.sin(angle)) * 2 * np.pi / period
        v = (-xx * np.sin(angle) + yy * np.cos(angle)) * 2 * np.pi / period
        screen = 0.5 + 0.25 * (np.cos(u) + np.cos(v))  # dot screen on [0, 1]
        dots = 1 / (1 + np.exp(-(cmy[..., c] - screen) * 10))
        cmy[..., c] = (1 - strength) * cmy[..., c] + strength * dots
    img = 1 - cmy
    fibres = cv2.GaussianBlur(rng.normal(0, 1, (size, size)).astype(np.float32), (0, 0), 0.7)
    blotch = cv2.GaussianBlur(rng.normal(0, 1, (size, size)).astype(np.float32), (0, 0), size / 12)
    texture = 1 + strength * (0.04 * fibres + 0.6 * blotch)[..., None]
    # a sheet held in the hand bends: smooth shading across the paper (linear + quadratic)
    yy, xx = yy / size - 0.5, xx / size - 0.5
    gx, gy, bend = rng.uniform(-0.3, 0.3), rng.uniform(-0.3, 0.3), rng.uniform(-0.8, 0.8)
    shading = 1 + strength * (gx * xx + gy * yy + bend * (xx**2 - 1 / 12))
    return np.clip(img * texture * shading[..., None] * np.array(cam.paper_tint, np.float32), 0, 1)


def _replay_medium(content: np.ndarray, cam: Camera, rng: np.random.Generator, strength: float) -> np.ndarray:
    """A screen showing the content: backlight, sub-pixel grid, banding, interference, glare."""
    size = content.shape[0]
    levels = rng.integers(12, 40)
    img = np.round(content * levels) / levels * strength + content * (1 - strength)  # banding
    backlight = rng.uniform(0.08, 0.18)
    img = (backlight + (1 - backlight) * img ** rng.uniform(0.8, 1.0)) * np.array(cam.screen_tint, np.float32)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    pitch = cam.screen_pitch * rng.uniform(0.92, 1.08)
    angle = rng.uniform(-0.08, 0.08)
    u = (xx * np.cos(angle) + yy * np.sin(angle)) / pitch
    v = (-xx * np.sin(angle) + yy * np.cos(angle)) / pitch
    grid = np.empty_like(img)
    for c in range(3):  # RGB stripes, one third of the pixel each, and dark gaps between rows
        phase = (u - c / 3.0) % 1.0
        grid[..., c] = 0.45 + 0.55 * (phase < 0.42)
    grid *= (0.7 + 0.3 * ((v % 1.0) < 0.8))[..., None]
    img = img * (1 - strength + strength * grid) * 1.25
    refresh = 1 + 0.05 * strength * np.sin(2 * np.pi * yy / rng.uniform(size / 6, size / 2) + rng.uniform(0, 6.3))
    img = img * refresh[..., None]
    # moire: the beat between screen pixels and camera pixels, coloured bands a few pixels apart
    theta, period = rng.uniform(0, np.pi), rng.uniform(0.1, 0.25) * size
    beat = 2 * np.pi * (xx * np.cos(theta) + yy * np.sin(theta)) / period
    amplitude = rng.uniform(0.06, 0.14) * strength
    moire = np.stack([np.sin(beat + phase) for phase in (0.0, 2.1, 4.2)], axis=-1)
    img = img * (1 + amplitude * moire)
    cy, cx = rng.uniform(0.1, 0.9, size=2) * size
    radius = rng.uniform(0.12, 0.35) * size
    glare = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * radius**2)) * rng.uniform(0.15, 0.5) * strength
    return np.clip(img + glare[..., None], 0, 1)


def _place_medium(medium: np.ndarray, scene_bg: np.ndarray, rng: np.random.Generator, frame_color) -> np.ndarray:
    """Put the paper / screen into the camera's view, slightly smaller, so edges or bezel show."""
    size = medium.shape[0]
    border = int(size * rng.uniform(0.01, 0.06)) if rng.random() < 0.5 else 0
    framed = medium.copy()
    if border:
        framed[:border], framed[-border:], framed[:, :border], framed[:, -border:] = (frame_color,) * 4
    scale = rng.uniform(0.85, 1.12)  # above 1 the medium fills the view: no edge visible
    shift = tuple(rng.uniform(-0.06, 0.06, size=2) * size)
    return _warp(framed, rng.uniform(-6, 6), scale, shift, scene_bg)


def _jitter(cam: Camera, rng: np.random.Generator) -> Camera:
    """Per-video variation of a domain's camera (white balance, gamma, noise, resolution)."""
    from dataclasses import replace

    return replace(cam, wb_gains=tuple(np.array(cam.wb_gains) * rng.uniform(0.95, 1.05, size=3)),
                   gamma=cam.gamma * rng.uniform(0.9, 1.1), noise_sigma=cam.noise_sigma * rng.uniform(0.7, 1.3),
                   resolution=cam.resolution * rng.uniform(0.9, 1.1))


def _camera(scene: np.ndarray, cam: Camera, out_size: int, rng: np.random.Generator) -> np.ndarray:
    """Capture a scene (float RGB, render resolution) with a domain's camera -> uint8 RGB."""
    import cv2

    img = scene * np.array(cam.wb_gains, np.float32)
    gray = img.mean(axis=2, keepdims=True)
    img = np.clip(gray + (img - gray) * cam.saturation, 0, 1) ** cam.gamma
    render = scene.shape[0]
    sigma = cam.blur_sigma * render / out_size * rng.uniform(0.8, 1.2)
    img = cv2.GaussianBlur(img.astype(np.float32), (0, 0), sigma)
    sensor = max(8, int(round(out_size * cam.resolution)))
    img = cv2.resize(img, (sensor, sensor), interpolation=cv2.INTER_LINEAR)  # aliasing -> moire
    shot = np.sqrt(np.clip(img, 0, 1)) * cam.noise_sigma * 0.8
    img = img + rng.normal(0, 1, img.shape).astype(np.float32) * (cam.noise_sigma + shot)
    img = cv2.resize(np.clip(img, 0, 1), (out_size, out_size), interpolation=cv2.INTER_LINEAR)
    bgr = cv2.cvtColor((img * 255 + 0.5).astype(np.uint8), cv2.COLOR_RGB2BGR)
    ok, jpeg = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, cam.jpeg_quality])
    return cv2.cvtColor(cv2.imdecode(jpeg, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def render_video(face: np.ndarray, tone: np.ndarray, backgrounds: tuple[np.ndarray, np.ndarray], cam: Camera,
                 kind: str, frames: int, image_size: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Frames (uint8 RGB) of one subject in front of one camera, live or under an attack species."""
    render = 2 * image_size
    coloured = _colourise_face(face, tone, render, rng)
    scene_bg = _background(backgrounds[0], render, rng)
    light = rng.uniform(-0.35, 0.35, size=2)
    face_frac = rng.uniform(0.72, 0.86)
    strength = rng.uniform(0.75, 1.0)
    cam = _jitter(cam, rng)  # each video: the same camera model, a slightly different unit and setting
    if kind != "none":  # the attack medium shows the photo with its own (other) background
        content = _scene(coloured, _background(backgrounds[1], render, rng), face_frac, light * 0.3)
        if kind == "print":
            medium = _print_medium(content, cam, rng, strength)
            frame_color = np.array(cam.paper_tint, np.float32) * rng.uniform(0.85, 0.98)
        elif kind == "replay":
            medium = _replay_medium(content, cam, rng, strength)
            frame_color = np.full(3, rng.uniform(0.02, 0.12), np.float32)
        else:
            raise DataError(f"fas-sim: unknown attack species {kind!r}; known: {ATTACK_SPECIES}")
        placed = _place_medium(medium, scene_bg, rng, frame_color)
    out = []
    for _ in range(frames):
        angle, scale = rng.uniform(-3, 3), rng.uniform(0.97, 1.03)
        shift = tuple(rng.uniform(-0.025, 0.025, size=2) * render)
        if kind == "none":
            frame = _warp(_scene(coloured, scene_bg, face_frac, light), angle, scale, shift, None)
        else:
            frame = _warp(placed, angle, scale, shift, None)
        out.append(_camera(frame, cam, image_size, rng))
    return out


def make_fas_sim(
    out_dir: str | os.PathLike,
    seed: int = 0,
    image_size: int = 64,
    domains: tuple[str, ...] = DEFAULT_DOMAINS,
    subjects_per_domain: int = 12,
    live_videos: int = 2,
    attack_videos: int = 1,
    frames_per_video: int = 4,
    species: tuple[str, ...] = ATTACK_SPECIES,
    split_fractions: tuple[float, float, float] = (0.6, 0.2, 0.2),
) -> Path:
    """Generate fas-sim into ``out_dir``; returns the path of its ``manifest.csv``.

    Per subject: ``live_videos`` bona fide videos and ``attack_videos`` per attack species, each of
    ``frames_per_video`` frames. Subjects (LFW face crops) are disjoint across domains; within a domain
    they go to train / val / test in ``split_fractions`` (at least one each when possible).
    """
    import pandas as pd

    from facetrust.data.io import write_image
    from facetrust.data.manifest import write_manifest

    unknown = [d for d in domains if d not in CAMERAS]
    if unknown:
        raise DataError(f"fas-sim: unknown domain(s) {unknown}; known cameras: {sorted(CAMERAS)}")
    if len(domains) * subjects_per_domain > 100:
        raise DataError(f"fas-sim: {len(domains)} domains x {subjects_per_domain} subjects > 100 LFW faces")
    if image_size < 16:
        raise DataError(f"fas-sim: image_size {image_size} is too small (>= 16)")
    faces, non_faces, tones = _load_sources()
    order = np.random.default_rng(seed).permutation(100)
    out_dir = Path(out_dir)
    rows = []
    for d_index, domain in enumerate(domains):
        cam = CAMERAS[domain]
        subjects = order[d_index * subjects_per_domain : (d_index + 1) * subjects_per_domain]
        splits = _assign_splits(subjects_per_domain, split_fractions)
        for s_index, face_index in enumerate(subjects):
            subject_id = f"lfw{face_index:03d}"
            kinds = ["none"] * live_videos + [k for k in species for _ in range(attack_videos)]
            for v_index, kind in enumerate(kinds):
                rng = np.random.default_rng([seed, d_index, int(face_index), v_index])
                tone = tones[rng.integers(len(tones))] * rng.uniform(0.92, 1.08, size=3)
                backgrounds = (non_faces[rng.integers(100)], non_faces[rng.integers(100)])
                video_id = f"{domain}_{subject_id}_v{v_index}_{'live' if kind == 'none' else kind}"
                frames = render_video(faces[face_index], tone, backgrounds, cam, kind, frames_per_video,
                                      image_size, rng)
                for f_index, frame in enumerate(frames):
                    rel = f"{domain}/{subject_id}/{video_id}_f{f_index}.png"
                    write_image(out_dir / rel, frame)
                    rows.append({"path": rel, "label": int(kind == "none"), "domain": domain,
                                 "split": splits[s_index], "video_id": video_id, "subject_id": subject_id,
                                 "attack_type": kind, "frame": f_index})
    return write_manifest(pd.DataFrame(rows), out_dir / "manifest.csv")


def _assign_splits(n: int, fractions: tuple[float, float, float]) -> list[str]:
    """Deterministic subject -> split list, at least one val and one test subject when n >= 3."""
    n_val = max(1, int(round(n * fractions[1]))) if n >= 3 and fractions[1] > 0 else 0
    n_test = max(1, int(round(n * fractions[2]))) if n >= 3 and fractions[2] > 0 else 0
    n_train = n - n_val - n_test
    return ["train"] * n_train + ["val"] * n_val + ["test"] * n_test

"""Scenes of the captioned corpus: drawn faces with attributes, capture conditions and presentation.

Faces are drawn, not photographed: each subject is a set of face-shape parameters (skin tone, face
width, eye spacing, hair colour, ...) rendered with OpenCV primitives and smooth shading; glasses,
sunglasses, a hat and beard-like shading are drawn on top; the head is turned by shifting the inner
features and the visible ear. Backgrounds are scikit-image photos of textures (brick, grass, gravel,
...) tinted with a named colour. Presentation attacks re-use fas-sim's print and replay renderers
(``_print_medium``, ``_replay_medium``, ``_place_medium``) driven by the corpus's OWN printers and
screens (``DEVICES``), never by a fas-sim camera; capture conditions are generic degradations with
their own parameter ranges. Nothing here reads ``lfw_subset`` unless ``lfw`` faces are asked for.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from facetrust.data.sim.fas_sim import SKIN_TONES, Camera, _place_medium, _print_medium, _replay_medium

BACKGROUND_COLOURS: dict[str, tuple[float, float, float]] = {
    "red": (0.85, 0.18, 0.15), "green": (0.2, 0.7, 0.25), "blue": (0.18, 0.3, 0.85),
    "yellow": (0.9, 0.82, 0.2), "gray": (0.55, 0.55, 0.55), "purple": (0.55, 0.22, 0.7),
}
TEXTURES = ("brick", "grass", "gravel", "camera", "moon", "coins", "page", "clock")
HAIR = np.array([[0.08, 0.06, 0.05], [0.3, 0.18, 0.1], [0.55, 0.4, 0.2], [0.8, 0.7, 0.45], [0.5, 0.5, 0.5]])
HAT_COLOURS = np.array([[0.1, 0.1, 0.35], [0.6, 0.1, 0.1], [0.15, 0.35, 0.15], [0.9, 0.9, 0.85]])

# The corpus's own attack devices. Their halftone periods, tints and screen pitches differ from every
# fas-sim camera's (checked by tests/test_captions.py): the corpus teaches "printed" and "on a screen"
# without showing any device of a fas-sim capture domain.
DEVICES: dict[str, Camera] = {
    c.name: c
    for c in (
        Camera("corpus-printer-a", (1, 1, 1), 1, 0, 0, 1, 90, 1, 3.3, (0.99, 0.97, 0.9), 0, (1, 1, 1)),
        Camera("corpus-printer-b", (1, 1, 1), 1, 0, 0, 1, 90, 1, 5.1, (0.95, 0.97, 1.0), 0, (1, 1, 1)),
        Camera("corpus-printer-c", (1, 1, 1), 1, 0, 0, 1, 90, 1, 7.2, (1.0, 0.95, 0.88), 0, (1, 1, 1)),
        Camera("corpus-screen-a", (1, 1, 1), 1, 0, 0, 1, 90, 1, 0, (1, 1, 1), 2.05, (0.93, 0.98, 1.1)),
        Camera("corpus-screen-b", (1, 1, 1), 1, 0, 0, 1, 90, 1, 0, (1, 1, 1), 2.9, (1.06, 1.0, 0.93)),
        Camera("corpus-screen-c", (1, 1, 1), 1, 0, 0, 1, 90, 1, 0, (1, 1, 1), 3.9, (0.97, 1.03, 1.0)),
    )
}


@dataclass(frozen=True)
class Subject:
    """One drawn identity."""

    subject_id: str
    tone: tuple[float, float, float]
    hair: tuple[float, float, float]
    width: float  # face half-width relative to its half-height
    eye_gap: float
    eye_size: float
    mouth: float
    brow: int
    hair_style: int
    lfw: np.ndarray | None = None  # a 25x25 grayscale LFW crop (only with lfw faces)


def make_subject(subject_id: str, rng: np.random.Generator, lfw: np.ndarray | None = None) -> Subject:
    tone = SKIN_TONES[rng.integers(len(SKIN_TONES))] * rng.uniform(0.9, 1.1, size=3)
    return Subject(subject_id, tuple(np.clip(tone, 0, 1)), tuple(HAIR[rng.integers(len(HAIR))]),
                   rng.uniform(0.7, 0.85), rng.uniform(0.32, 0.42), rng.uniform(0.09, 0.13),
                   rng.uniform(0.25, 0.4), int(rng.integers(1, 4)), int(rng.integers(3)), lfw)


def load_textures() -> list[np.ndarray]:
    """Grayscale texture photos from scikit-image, on [0, 1]."""
    import skimage.data

    out = []
    for name in TEXTURES:
        image = getattr(skimage.data, name)().astype(np.float32)
        out.append(image / max(float(image.max()), 1.0))
    return out


def background(textures: list[np.ndarray], colour: str, size: int, rng: np.random.Generator) -> np.ndarray:
    """A crop of a texture photo, tinted with the named colour: (size, size, 3) float32 on [0, 1]."""
    import cv2

    texture = textures[rng.integers(len(textures))]
    side = int(rng.integers(min(texture.shape) // 3, min(texture.shape)))
    y, x = rng.integers(0, texture.shape[0] - side + 1), rng.integers(0, texture.shape[1] - side + 1)
    crop = cv2.resize(texture[y : y + side, x : x + side], (size, size), interpolation=cv2.INTER_AREA)
    shade = 0.55 + 0.45 * crop[..., None]
    return np.clip(shade * np.array(BACKGROUND_COLOURS[colour], np.float32), 0, 1).astype(np.float32)


def _ellipse(img, centre, axes, colour, angle=0.0, thickness=-1) -> None:
    import cv2

    cv2.ellipse(img, (int(round(centre[0])), int(round(centre[1]))), (max(1, int(round(axes[0]))),
                max(1, int(round(axes[1])))), angle, 0, 360, tuple(float(c) for c in colour), thickness)


def draw_face(canvas: np.ndarray, subject: Subject, cx: float, cy: float, half_height: float, pose: str,
              attrs: dict[str, str], rng: np.random.Generator) -> None:
    """Draw one face (hair, head, ears, eyes, brows, nose, mouth, then glasses / hat / beard) in place."""
    import cv2

    h = half_height
    w = h * subject.width
    turn = {"frontal": 0.0, "left": -1.0, "right": 1.0}[pose] * rng.uniform(0.15, 0.25)
    skin = np.array(subject.tone, np.float32)
    hair = np.array(subject.hair, np.float32)
    layer = canvas.copy()
    _ellipse(layer, (cx, cy - 0.15 * h), (w * 1.12, h * (0.95 + 0.1 * subject.hair_style)), hair)
    if pose == "frontal":
        ears = (-1, 1)
    else:  # the ear on the side the head turns away from shows
        ears = (1,) if turn < 0 else (-1,)
    for side in ears:
        _ellipse(layer, (cx + side * w * 0.98, cy), (w * 0.16, h * 0.2), skin * 0.9)
    if subject.lfw is not None:
        _paste_lfw(layer, subject, cx, cy, w, h)
    else:
        _ellipse(layer, (cx, cy), (w, h), skin)
    fx = cx + turn * w  # inner features shift with the head turn
    if subject.lfw is None:
        eye_y, gap = cy - 0.18 * h, subject.eye_gap * 2 * w
        for side in (-1, 1):
            ex = fx + side * gap / 2 * (1 - 0.35 * side * turn)
            _ellipse(layer, (ex, eye_y), (subject.eye_size * w * 1.6, subject.eye_size * h * 0.9), (0.95, 0.95, 0.93))
            _ellipse(layer, (ex + turn * 0.05 * w, eye_y), (subject.eye_size * w * 0.7,) * 2, (0.12, 0.08, 0.05))
            cv2.line(layer, (int(ex - 0.14 * w), int(eye_y - 0.16 * h)), (int(ex + 0.14 * w), int(eye_y - 0.18 * h)),
                     tuple(float(c) for c in hair * 0.8), subject.brow)
        cv2.line(layer, (int(fx), int(cy - 0.1 * h)), (int(fx + turn * 0.2 * w), int(cy + 0.18 * h)),
                 tuple(float(c) for c in skin * 0.7), 2)
        _ellipse(layer, (fx, cy + 0.45 * h), (subject.mouth * w, 0.07 * h), (0.7, 0.25, 0.25))
    if attrs["beard"] == "beard":
        beard = layer.copy()
        _ellipse(beard, (fx, cy + 0.55 * h), (w * 0.8, h * 0.42), hair * 0.9)
        _ellipse(beard, (fx, cy + 0.42 * h), (subject.mouth * w * 1.1, 0.09 * h), (0.7, 0.25, 0.25))
        grain = rng.uniform(0.7, 1.0, size=layer.shape[:2])[..., None].astype(np.float32)
        mask = np.zeros(layer.shape[:2], np.float32)
        _ellipse(mask, (fx, cy + 0.55 * h), (w * 0.8, h * 0.42), (1.0,))
        mask = cv2.GaussianBlur(mask, (0, 0), max(1.0, 0.05 * h))[..., None] * 0.85
        layer = layer * (1 - mask) + beard * grain * mask
    if attrs["glasses"] != "none":
        eye_y, gap = cy - 0.18 * h, subject.eye_gap * 2 * w
        frame = (0.05, 0.05, 0.05)
        for side in (-1, 1):
            ex = fx + side * gap / 2 * (1 - 0.35 * side * turn)
            if attrs["glasses"] == "sunglasses":
                _ellipse(layer, (ex, eye_y), (0.26 * w, 0.17 * h), (0.04, 0.04, 0.06))
            else:
                _ellipse(layer, (ex, eye_y), (0.26 * w, 0.17 * h), frame, thickness=max(1, int(0.03 * h)))
        cv2.line(layer, (int(fx - gap / 2 + 0.26 * w), int(eye_y)), (int(fx + gap / 2 - 0.26 * w), int(eye_y)),
                 frame, max(1, int(0.03 * h)))
    if attrs["hat"] == "hat":
        colour = tuple(float(c) for c in HAT_COLOURS[rng.integers(len(HAT_COLOURS))])
        top = cy - 0.7 * h
        cv2.rectangle(layer, (int(cx - 1.35 * w), int(top - 0.08 * h)), (int(cx + 1.35 * w), int(top + 0.06 * h)), colour, -1)
        cv2.rectangle(layer, (int(cx - 0.85 * w), int(top - 0.75 * h)), (int(cx + 0.85 * w), int(top)), colour, -1)
    # directional light over the head and features
    yy, xx = np.mgrid[0 : canvas.shape[0], 0 : canvas.shape[1]].astype(np.float32)
    light = 1 + rng.uniform(-0.25, 0.25) * (xx - cx) / (2 * w) + rng.uniform(-0.2, 0.2) * (yy - cy) / (2 * h)
    changed = np.any(np.abs(layer - canvas) > 1e-6, axis=2, keepdims=True)
    canvas[:] = np.where(changed, np.clip(layer * light[..., None], 0, 1), canvas)


def _paste_lfw(layer: np.ndarray, subject: Subject, cx: float, cy: float, w: float, h: float) -> None:
    """An LFW face crop, colourised with the subject's tone, inside the head ellipse (lfw faces only)."""
    import cv2

    size = (max(2, int(2 * w)), max(2, int(2 * h)))
    shade = cv2.resize(subject.lfw.astype(np.float32), size, interpolation=cv2.INTER_CUBIC)
    shade = (shade - shade.min()) / max(float(shade.max() - shade.min()), 1e-6)
    face = (0.15 + shade[..., None]) * np.array(subject.tone, np.float32)
    mask = np.zeros(size[::-1], np.float32)
    _ellipse(mask, (w, h), (w, h), (1.0,))
    x0, y0 = int(round(cx - w)), int(round(cy - h))
    ys, xs = slice(max(0, y0), min(layer.shape[0], y0 + size[1])), slice(max(0, x0), min(layer.shape[1], x0 + size[0]))
    fy, fx = slice(ys.start - y0, ys.stop - y0), slice(xs.start - x0, xs.stop - x0)
    m = mask[fy, fx, None]
    layer[ys, xs] = np.clip(face[fy, fx], 0, 1) * m + layer[ys, xs] * (1 - m)


def paste_face(canvas: np.ndarray, donor: np.ndarray, cx: float, cy: float, half_height: float,
               rng: np.random.Generator) -> np.ndarray:
    """A blended / pasted face: the donor's inner face (eyes to mouth) pasted with a colour mismatch
    and a soft or hard seam."""
    import cv2

    h = half_height
    mask = np.zeros(canvas.shape[:2], np.float32)
    _ellipse(mask, (cx, cy + 0.1 * h), (0.62 * h, 0.62 * h), (1.0,))
    mask = cv2.GaussianBlur(mask, (0, 0), rng.uniform(0.5, 2.5))[..., None]
    gain = rng.uniform(0.8, 1.2, size=3).astype(np.float32)
    return np.clip(donor * gain * mask + canvas * (1 - mask), 0, 1)


def present(scene: np.ndarray, kind: str, device: Camera, room: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Show ``scene`` printed on paper or on a screen (fas-sim's renderers with a corpus device), placed
    in front of ``room`` so an edge or bezel may show."""
    strength = rng.uniform(0.75, 1.0)
    if kind == "print":
        medium = _print_medium(scene, device, rng, strength)
        edge = np.array(device.paper_tint, np.float32) * rng.uniform(0.85, 0.98)
    else:
        medium = _replay_medium(scene, device, rng, strength)
        edge = np.full(3, rng.uniform(0.02, 0.12), np.float32)
    return _place_medium(medium.astype(np.float32), room, rng, edge)


def capture(scene: np.ndarray, attrs: dict[str, str], size: int, rng: np.random.Generator) -> np.ndarray:
    """Generic capture with the corpus's own degradations (not a fas-sim camera) -> uint8 RGB."""
    import cv2

    img = scene.astype(np.float32)
    if attrs["colour_cast"] != "none":
        gains = {"warm": (1.25, 1.05, 0.7), "cool": (0.75, 0.95, 1.3), "green": (0.8, 1.25, 0.8)}[attrs["colour_cast"]]
        img = img * np.array(gains, np.float32) * rng.uniform(0.95, 1.05, size=3).astype(np.float32)
    if attrs["light"] == "dark":
        img = np.clip(img, 0, 1) ** rng.uniform(1.2, 1.6) * rng.uniform(0.22, 0.4)
    if attrs["blur"] == "blurred":
        img = cv2.GaussianBlur(img, (0, 0), rng.uniform(1.6, 3.0) * scene.shape[0] / (2 * size))
    img = cv2.resize(np.clip(img, 0, 1), (size, size), interpolation=cv2.INTER_AREA)
    if attrs["resolution"] == "low":
        small = max(6, int(size * rng.uniform(0.22, 0.32)))
        img = cv2.resize(cv2.resize(img, (small, small), interpolation=cv2.INTER_AREA), (size, size),
                         interpolation=cv2.INTER_NEAREST)
    sigma = rng.uniform(0.06, 0.11) if attrs["noise"] == "noisy" else rng.uniform(0.0, 0.008)
    img = img + rng.normal(0, sigma, img.shape).astype(np.float32)
    out = (np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8)
    if attrs["jpeg"] == "jpeg":
        ok, data = cv2.imencode(".jpg", cv2.cvtColor(out, cv2.COLOR_RGB2BGR),
                                [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(4, 14))])
        out = cv2.cvtColor(cv2.imdecode(data, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    return out

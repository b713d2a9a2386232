"""deepfake-sim: an embedded deepfake benchmark generated from real face photos, with no download.

Faces are scikit-image's ``lfw_subset`` crops rendered as in fas-sim (colourised, shaded, over a
background, a few frames of small motion per "video"). Two manipulation families:

* ``sbi``, Self-Blended Images (Shiohara & Yamasaki, "Detecting Deepfakes with Self-Blended Images",
  CVPR 2022): a frame is blended with a transformed copy of itself inside a face mask. The mask is the
  convex hull of the landmarks when a detector gives them, else the fitted face ellipse; it is deformed
  (affine + elastic), eroded or dilated and its border blurred, then scaled by a blend ratio drawn from
  {0.25, 0.5, 0.75, 1, 1, 1}. The source or the target gets colour shifts (RGB, HSV, brightness and
  contrast) and a down-scale or a sharpening; the source is also slightly moved and resized.
* ``swap``, a face swap between two identities of the same split with GAN-like up-sampling artefacts:
  the donor's face is colour-matched to the target, rendered at a lower resolution and brought back
  with a nearest/"transposed convolution" up-sampling (checkerboard, spectral peaks), and blended in
  with the same kind of mask.

Both real and fake frames are saved as JPEG with a quality drawn per video from 40-100. Subjects are
split 7:2:1 (train/val/test, the seed project's split) and a swap donor comes from its target's split,
so no face is seen in two splits. Everything is drawn from generators seeded per (seed, subject,
video), so a seed gives the same files byte for byte. ``self_blend`` and ``face_swap`` return the
blend mask, so that "a fake differs from its target only inside the mask" can be tested.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from facetrust.errors import DataError

MANIPULATIONS = ("sbi", "swap")
BLEND_RATIOS = (0.25, 0.5, 0.75, 1.0, 1.0, 1.0)
DOMAIN = "deepfake-sim"


# ------------------------------------------------------------------------------------------ masks
def ellipse_mask(shape: tuple[int, int], centre: tuple[float, float], axes: tuple[float, float]) -> np.ndarray:
    """A filled ellipse (float32 0/1) with semi-axes ``axes`` = (x, y) about ``centre`` = (x, y)."""
    yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]].astype(np.float32)
    inside = ((xx - centre[0]) / axes[0]) ** 2 + ((yy - centre[1]) / axes[1]) ** 2 <= 1.0
    return inside.astype(np.float32)


def landmark_mask(shape: tuple[int, int], landmarks) -> np.ndarray:
    """Convex hull of 5 landmarks widened to the face (eyes to chin), float32 0/1.

    Five points (eyes, nose, mouth corners) span the inner face only; the hull is grown about the
    landmarks' centre by 1.5 sideways and extended below the mouth towards the chin.
    """
    import cv2

    points = np.asarray(landmarks, dtype=np.float32).reshape(-1, 2)
    centre = points.mean(axis=0)
    eye_to_mouth = float(np.abs(points[3:, 1].mean() - points[:2, 1].mean())) or 1.0
    grown = centre + (points - centre) * np.array([1.5, 1.6], np.float32)
    chin = points[3:] + np.array([0.0, 0.8 * eye_to_mouth], np.float32)
    brow = points[:2] - np.array([0.0, 0.6 * eye_to_mouth], np.float32)
    hull = cv2.convexHull(np.vstack([grown, chin, brow]).astype(np.float32))
    mask = np.zeros(shape, np.float32)
    cv2.fillConvexPoly(mask, np.round(hull).astype(np.int32), 1.0)
    return mask


def deform_mask(mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """SBI's mask augmentation: affine jitter, elastic deformation, erosion or dilation, blurred
    border; exactly 0 far from the face (values below 1e-3 are cut)."""
    import cv2

    h, w = mask.shape
    matrix = cv2.getRotationMatrix2D((w / 2, h / 2), rng.uniform(-8, 8), rng.uniform(0.9, 1.05))
    matrix[:, 2] += rng.uniform(-0.03, 0.03, size=2) * np.array([w, h])
    out = cv2.warpAffine(mask, matrix, (w, h), flags=cv2.INTER_LINEAR, borderValue=0)
    sigma = max(1.0, 0.06 * w)  # elastic: smooth random displacement field
    alpha = rng.uniform(0.02, 0.06) * w
    dx = cv2.GaussianBlur(rng.uniform(-1, 1, (h, w)).astype(np.float32), (0, 0), sigma)
    dy = cv2.GaussianBlur(rng.uniform(-1, 1, (h, w)).astype(np.float32), (0, 0), sigma)
    scale = alpha / max(float(np.abs(np.concatenate([dx, dy])).max()), 1e-6)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    out = cv2.remap(out, xx + dx * scale, yy + dy * scale, cv2.INTER_LINEAR, borderValue=0)
    k = int(rng.integers(1, max(2, w // 16)))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * k + 1, 2 * k + 1))
    out = cv2.erode(out, kernel) if rng.random() < 0.6 else cv2.dilate(out, kernel)
    out = cv2.GaussianBlur(out, (0, 0), rng.uniform(0.02, 0.06) * w)
    out = out / max(float(out.max()), 1e-6)
    out[out < 1e-3] = 0.0
    return np.clip(out, 0, 1).astype(np.float32)


# ------------------------------------------------------------------------------------ transforms
def colour_shift(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """RGB shift, HSV shift and brightness/contrast change of a float RGB image on [0, 1]."""
    import cv2

    out = image + rng.uniform(-0.08, 0.08, size=3).astype(np.float32)
    hsv = cv2.cvtColor(np.clip(out, 0, 1).astype(np.float32), cv2.COLOR_RGB2HSV)  # H in degrees
    hsv[..., 0] = (hsv[..., 0] + rng.uniform(-10, 10)) % 360
    hsv[..., 1] = np.clip(hsv[..., 1] * rng.uniform(0.75, 1.25), 0, 1)
    hsv[..., 2] = np.clip(hsv[..., 2] * rng.uniform(0.85, 1.15), 0, 1)
    out = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)
    contrast, brightness = rng.uniform(0.8, 1.2), rng.uniform(-0.08, 0.08)
    return np.clip((out - 0.5) * contrast + 0.5 + brightness, 0, 1).astype(np.float32)


def frequency_shift(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Down-scale and back (loses detail) or unsharp-mask sharpening, chosen at random."""
    import cv2

    h, w = image.shape[:2]
    if rng.random() < 0.5:
        factor = rng.uniform(0.3, 0.7)
        small = cv2.resize(image, (max(4, int(w * factor)), max(4, int(h * factor))), interpolation=cv2.INTER_AREA)
        return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
    blurred = cv2.GaussianBlur(image, (0, 0), rng.uniform(0.8, 1.6))
    return np.clip(image + rng.uniform(0.5, 1.5) * (image - blurred), 0, 1).astype(np.float32)


def _source_target_transform(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    out = colour_shift(image, rng) if rng.random() < 0.9 else image.copy()
    return frequency_shift(out, rng) if rng.random() < 0.8 else out


def _small_affine(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """SBI moves the source a little: translation up to 3 %, scale 0.95-1.05."""
    import cv2

    h, w = image.shape[:2]
    matrix = cv2.getRotationMatrix2D((w / 2, h / 2), 0.0, rng.uniform(0.95, 1.05))
    matrix[:, 2] += rng.uniform(-0.03, 0.03, size=2) * np.array([w, h])
    return cv2.warpAffine(image, matrix, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)


def blend(source: np.ndarray, target: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``mask * source + (1 - mask) * target``: exactly ``target`` where the mask is 0."""
    m = mask[..., None]
    return (source * m + target * (1.0 - m)).astype(np.float32)


def self_blend(image: np.ndarray, rng: np.random.Generator, landmarks=None,
               ellipse: tuple[tuple[float, float], tuple[float, float]] | None = None) -> dict[str, np.ndarray]:
    """One Self-Blended Image of a float RGB image on [0, 1].

    Returns ``fake``, ``target`` (the image after its own global transforms, if it got any) and
    ``mask`` (the blend weights: mask * blend ratio); ``fake == target`` wherever ``mask == 0``.
    """
    h, w = image.shape[:2]
    if landmarks is not None:
        base = landmark_mask((h, w), landmarks)
    else:
        centre, axes = ellipse or ((w / 2, h / 2), (0.4 * w, 0.45 * h))
        base = ellipse_mask((h, w), centre, axes)
    mask = deform_mask(base, rng) * float(rng.choice(BLEND_RATIOS))
    source, target = image.copy(), image.copy()
    if rng.random() < 0.5:
        source = _source_target_transform(source, rng)
    else:
        target = _source_target_transform(target, rng)
    source = _small_affine(source, rng)
    return {"fake": np.clip(blend(source, target, mask), 0, 1), "target": target, "mask": mask}


def gan_upsample(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A generator's up-sampling artefacts: render small, up-sample by nearest neighbour ("transposed
    convolution" checkerboard) and add a faint periodic grid (peaks in the spectrum)."""
    import cv2

    h, w = image.shape[:2]
    factor = int(rng.choice([2, 4]))
    small = cv2.resize(image, (max(4, w // factor), max(4, h // factor)), interpolation=cv2.INTER_AREA)
    up = cv2.resize(small, (w, h), interpolation=cv2.INTER_NEAREST)
    up = cv2.GaussianBlur(up, (0, 0), rng.uniform(0.3, 0.7))
    yy, xx = np.mgrid[0:h, 0:w]
    checker = (((yy // max(1, factor // 2)) + (xx // max(1, factor // 2))) % 2).astype(np.float32) - 0.5
    return np.clip(up + rng.uniform(0.01, 0.03) * checker[..., None], 0, 1).astype(np.float32)


def face_swap(target: np.ndarray, donor: np.ndarray, rng: np.random.Generator,
              ellipse: tuple[tuple[float, float], tuple[float, float]] | None = None) -> dict[str, np.ndarray]:
    """The donor's face (rendered at the target's pose) blended into the target with GAN-like
    up-sampling; colour matched inside the mask (Reinhard et al. 2001, partially). Same outputs as
    ``self_blend``; the target itself is unchanged."""
    h, w = target.shape[:2]
    centre, axes = ellipse or ((w / 2, h / 2), (0.4 * w, 0.45 * h))
    mask = deform_mask(ellipse_mask((h, w), centre, axes), rng) * float(rng.choice(BLEND_RATIOS[2:]))
    region = mask > 0.5
    source = donor.copy()
    if region.any():
        strength = rng.uniform(0.5, 1.0)
        for c in range(3):
            s, t = source[..., c][region], target[..., c][region]
            matched = (source[..., c] - s.mean()) / max(float(s.std()), 1e-3) * t.std() + t.mean()
            source[..., c] = strength * matched + (1 - strength) * source[..., c]
    source = gan_upsample(np.clip(source, 0, 1).astype(np.float32), rng)
    return {"fake": np.clip(blend(source, target, mask), 0, 1), "target": target, "mask": mask}


# -------------------------------------------------------------------------------------- rendering
def _render_scene(face: np.ndarray, tone: np.ndarray, background: np.ndarray, size: int,
                  rng: np.random.Generator, face_frac: float, light: np.ndarray) -> np.ndarray:
    from facetrust.data.sim.fas_sim import _background, _colourise_face, _scene

    return _scene(_colourise_face(face, tone, size, rng), _background(background, size, rng), face_frac, light)


def _downscale(image: np.ndarray, out_size: int) -> np.ndarray:
    import cv2

    return cv2.resize(image, (out_size, out_size), interpolation=cv2.INTER_AREA)


def _capture(image: np.ndarray, noise: float, quality: int, rng: np.random.Generator) -> bytes:
    """Float RGB (output size) -> sensor noise -> JPEG bytes at ``quality``."""
    import cv2

    small = np.clip(image + rng.normal(0, noise, image.shape).astype(np.float32), 0, 1)
    bgr = cv2.cvtColor((small * 255 + 0.5).astype(np.uint8), cv2.COLOR_RGB2BGR)
    ok, data = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise DataError("deepfake-sim: JPEG encoding failed")
    return data.tobytes()


def _motion(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    from facetrust.data.sim.fas_sim import _warp

    size = image.shape[0]
    return _warp(image, rng.uniform(-3, 3), rng.uniform(0.97, 1.03), tuple(rng.uniform(-0.025, 0.025, 2) * size), None)


def _splits(n: int, fractions: tuple[float, float, float], minimum: int) -> list[str]:
    """Subject -> split in ``fractions`` (train, val, test), at least ``minimum`` val and test subjects."""
    n_val = max(minimum, int(round(n * fractions[1]))) if fractions[1] > 0 else 0
    n_test = max(minimum, int(round(n * fractions[2]))) if fractions[2] > 0 else 0
    return ["train"] * (n - n_val - n_test) + ["val"] * n_val + ["test"] * n_test


def make_deepfake_sim(
    out_dir: str | os.PathLike,
    seed: int = 0,
    image_size: int = 64,
    subjects: int = 100,
    real_videos: int = 2,
    fake_videos: int = 1,
    frames_per_video: int = 3,
    manipulations: tuple[str, ...] = MANIPULATIONS,
    split_fractions: tuple[float, float, float] = (0.7, 0.2, 0.1),
) -> Path:
    """Generate deepfake-sim into ``out_dir``; returns the path of its ``manifest.csv``.

    Per subject (an LFW face): ``real_videos`` real videos and ``fake_videos`` per manipulation,
    each of ``frames_per_video`` JPEG frames. Columns: the manifest's (label 1 real, 0 fake;
    ``attack_type`` = ``manipulation`` = ``none`` | ``sbi`` | ``swap``), ``manipulation``,
    ``donor_id`` (the swap's other identity, else empty), ``source_video`` (the real video whose
    frames a fake was made from: same scene and motion, as SBI trains on real/fake pairs), ``frame``
    and ``jpeg_quality``.
    """
    import pandas as pd

    from facetrust.data.manifest import write_manifest
    from facetrust.data.sim.fas_sim import _load_sources

    unknown = [m for m in manipulations if m not in MANIPULATIONS]
    if unknown or not manipulations:
        raise DataError(f"deepfake-sim: unknown manipulation(s) {unknown or manipulations}; known: {list(MANIPULATIONS)}")
    low = 6 if "swap" in manipulations else 3  # a swap needs two identities in every split
    if not low <= subjects <= 100:
        raise DataError(f"deepfake-sim: subjects = {subjects}; choose {low}-100 (lfw_subset has 100 faces)")
    if image_size < 16 or frames_per_video < 1:
        raise DataError("deepfake-sim: image_size must be >= 16 and frames_per_video >= 1")
    faces, non_faces, tones = _load_sources()
    order = np.random.default_rng(seed).permutation(100)[:subjects]
    splits = _splits(subjects, split_fractions, 2 if "swap" in manipulations else 1)
    render = 2 * image_size
    out_dir = Path(out_dir)
    rows = []
    for s_index, face_index in enumerate(order):
        subject_id = f"lfw{int(face_index):03d}"
        same_split = [int(order[i]) for i in range(subjects) if splits[i] == splits[s_index] and i != s_index]
        kinds = ["none"] * real_videos + [m for m in manipulations for _ in range(fake_videos)]
        scenes = {}  # a fake is made from the frames of one of the subject's real videos (SBI's pairs)
        for v_index, kind in enumerate(kinds):
            base = v_index if kind == "none" else (v_index - real_videos) % real_videos
            if base not in scenes:
                scene_rng = np.random.default_rng([seed, int(face_index), base])
                tone = tones[scene_rng.integers(len(tones))] * scene_rng.uniform(0.92, 1.08, size=3)
                background = non_faces[scene_rng.integers(100)]
                face_frac, light = scene_rng.uniform(0.72, 0.86), scene_rng.uniform(-0.35, 0.35, size=2)
                scene = _render_scene(faces[face_index], tone, background, render, scene_rng, face_frac, light)
                scenes[base] = (scene, background, face_frac, light, int(scene_rng.integers(2**31)))
            scene, background, face_frac, light, motion_seed = scenes[base]
            rng = np.random.default_rng([seed, int(face_index), v_index, 1])
            donor_id = ""
            if kind == "swap":
                if not same_split:
                    raise DataError(f"deepfake-sim: split {splits[s_index]!r} has one subject; a swap needs two")
                donor = same_split[int(rng.integers(len(same_split)))]
                donor_id = f"lfw{donor:03d}"
                donor_tone = tones[rng.integers(len(tones))] * rng.uniform(0.92, 1.08, size=3)
                donor_scene = _render_scene(faces[donor], donor_tone, background, render, rng, face_frac, light)
            fs = image_size * face_frac  # manipulations happen at the output size, as on real face crops
            # the inner face (brows to chin) inside fas-sim's face oval (0.475 x 0.54 of the face): the
            # blend boundary crosses skin, as a landmark hull does on a real face
            ellipse = ((image_size / 2, image_size / 2 + 0.04 * fs), (0.36 * fs, 0.43 * fs))
            quality, noise = int(rng.integers(40, 101)), rng.uniform(0.005, 0.02)
            video_id = f"{subject_id}_v{v_index}_{'real' if kind == 'none' else kind}"
            source_video = f"{subject_id}_v{base}_real"
            manip_seed = int(rng.integers(2**31))
            for f_index in range(frames_per_video):
                frame_rng = np.random.default_rng([motion_seed, f_index])  # the source video's motion
                warp_state = frame_rng.bit_generator.state
                frame = _downscale(_motion(scene, frame_rng), image_size)
                if kind == "sbi":  # one manipulation per video: the same parameters on every frame
                    frame = self_blend(frame, np.random.default_rng(manip_seed), ellipse=ellipse)["fake"]
                elif kind == "swap":
                    donor_rng = np.random.default_rng(0)
                    donor_rng.bit_generator.state = warp_state  # the donor moves with the target
                    donor_frame = _downscale(_motion(donor_scene, donor_rng), image_size)
                    frame = face_swap(frame, donor_frame, np.random.default_rng(manip_seed), ellipse=ellipse)["fake"]
                rel = f"{subject_id}/{video_id}_f{f_index}.jpg"
                (out_dir / subject_id).mkdir(parents=True, exist_ok=True)
                (out_dir / rel).write_bytes(_capture(frame, noise, quality, np.random.default_rng([manip_seed, f_index])))
                rows.append({"path": rel, "label": int(kind == "none"), "domain": DOMAIN, "split": splits[s_index],
                             "video_id": video_id, "subject_id": subject_id, "attack_type": kind,
                             "manipulation": kind, "donor_id": donor_id, "source_video": source_video,
                             "frame": f_index, "jpeg_quality": quality})
    return write_manifest(pd.DataFrame(rows), out_dir / "manifest.csv")


def save_deepfake_grid(manifest: str | os.PathLike, out_png: str | os.PathLike, per_kind: int = 4, cell: int = 112) -> Path:
    """A PNG grid: one row per kind (real, sbi, swap), ``per_kind`` videos' first frames each."""
    import matplotlib

    matplotlib.use("Agg")
    import cv2
    import matplotlib.pyplot as plt

    from facetrust.data.io import read_image
    from facetrust.data.manifest import read_manifest

    df = read_manifest(manifest)
    kinds = ["none"] + [m for m in MANIPULATIONS if m in set(df["attack_type"])]
    subjects = list(dict.fromkeys(df["subject_id"]))[:per_kind]  # the same subjects in every row
    fig, axes = plt.subplots(len(kinds), per_kind, figsize=(1.4 * per_kind, 1.5 * len(kinds)), squeeze=False)
    for r, kind in enumerate(kinds):
        for j, subject in enumerate(subjects):
            ax = axes[r][j]
            ax.set_xticks([])
            ax.set_yticks([])
            rows = df[(df["attack_type"] == kind) & (df["subject_id"] == subject) & (df["frame"] == 0)]
            if len(rows):
                ax.imshow(cv2.resize(read_image(rows["abs_path"].iloc[0]), (cell, cell), interpolation=cv2.INTER_NEAREST))
                donor = rows["donor_id"].iloc[0] if kind == "swap" else ""
                ax.set_title(subject + (f" <- {donor}" if donor else ""), fontsize=7)
            if j == 0:
                ax.set_ylabel("real" if kind == "none" else kind, fontsize=9)
    fig.tight_layout(pad=0.3)
    out_png = Path(out_png)
    out_png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_png, dpi=100)
    plt.close(fig)
    return out_png

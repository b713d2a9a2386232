"""A captioned image corpus for language-image pretraining, generated offline (``facetrust data make-captions``).

Every image shows zero, one or two drawn faces (see ``caption_scenes``) with rendered attributes
(glasses or sunglasses, a hat, beard-like shading, head pose), a tinted texture background of a named
colour, capture conditions (blur, noise, low light, colour cast, heavy JPEG, low resolution) and a
presentation (live, printed on paper, shown on a screen, or a pasted / blended face). Each image has
several paraphrased captions that state what is present (and, sometimes, what is absent).

No-target-leak rule: the corpus holds nothing of fas-sim's capture domains, which are the cross-domain
targets of the FLIP benchmarks: no fas-sim frame, no LFW subject (faces are drawn, not taken from
``lfw_subset``), no fas-sim camera and no fas-sim printer or screen (the corpus has its own devices
and degradations). ``lfw_faces=True`` breaks the rule on purpose (half the subjects become LFW
crops, which fas-sim also uses) so a benchmark can measure what sharing base photos changes.

Splits are by subject (train / val / test); a seed gives the same files byte for byte.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd

from facetrust.errors import DataError

ATTRIBUTES = ("glasses", "hat", "beard", "background", "n_faces", "pose", "blur", "noise", "light",
              "colour_cast", "jpeg", "resolution", "presentation")
FACE_ATTRIBUTES = ("glasses", "hat", "beard", "pose")
PHRASES: dict[str, dict[str, list[str]]] = {
    "glasses": {"glasses": ["wearing glasses", "with glasses", "in spectacles"],
                "sunglasses": ["wearing sunglasses", "with dark sunglasses", "in shades"],
                "none": ["without glasses", "with no glasses"]},
    "hat": {"hat": ["wearing a hat", "with a hat on", "in a hat"], "none": ["with no hat", "bareheaded"]},
    "beard": {"beard": ["with a beard", "bearded", "with facial hair"], "none": ["clean shaven", "with no beard"]},
    "pose": {"frontal": ["facing the camera", "looking straight ahead", "in frontal view"],
             "left": ["head turned to the left", "looking left", "turned left"],
             "right": ["head turned to the right", "looking right", "turned right"]},
    "blur": {"blurred": ["blurry", "out of focus", "blurred"], "none": ["sharp", "in focus"]},
    "noise": {"noisy": ["noisy", "grainy", "with sensor noise"], "none": ["clean", "noise free"]},
    "light": {"dark": ["dark", "in low light", "underexposed"], "none": ["well lit", "brightly lit"]},
    "colour_cast": {"warm": ["with a warm orange tint", "warm toned", "with a yellow cast"],
                    "cool": ["with a cold blue tint", "blue toned", "with a blue cast"],
                    "green": ["with a green tint", "green toned", "with a green cast"],
                    "none": ["in natural colours", "with true colours"]},
    "jpeg": {"jpeg": ["heavily compressed", "with jpeg artifacts", "blocky from compression"],
             "none": ["uncompressed", "without compression artifacts"]},
    "resolution": {"low": ["low resolution", "pixelated", "tiny and upscaled"], "none": ["high resolution", "detailed"]},
    "presentation": {"none": ["a live photo of", "a real photo of", "a photo of"],
                     "print": ["a printed photo of", "a paper printout of", "a print attack of"],
                     "screen": ["a screen showing", "a display showing", "a replay on a screen of"],
                     "pasted": ["a face swap of", "a pasted face on", "a blended fake face of"]},
}
PRESENTATION_AFTER = {"none": ["a live capture", "captured live"], "print": ["printed on paper", "a paper print"],
                      "screen": ["shown on a screen", "replayed on a display"],
                      "pasted": ["with a pasted face", "a blended face"]}
SUBJECT = {0: ["an empty scene", "nobody", "a wall with no face"], 1: ["a face", "a person", "someone"],
           2: ["two faces", "two people", "a pair of people"]}
CAPTURE = ("blur", "noise", "light", "colour_cast", "jpeg", "resolution")


def sample_attributes(rng: np.random.Generator, colours: list[str]) -> dict[str, str]:
    """Draw one image's attributes (``none`` = absent)."""
    n_faces = int(rng.choice([0, 1, 2], p=[0.08, 0.75, 0.17]))
    a = {"n_faces": str(n_faces), "background": str(rng.choice(colours))}
    a["glasses"] = str(rng.choice(["none", "glasses", "sunglasses"], p=[0.55, 0.25, 0.2]))
    a["hat"] = "hat" if rng.random() < 0.3 else "none"
    a["beard"] = "beard" if rng.random() < 0.3 else "none"
    a["pose"] = str(rng.choice(["frontal", "left", "right"], p=[0.5, 0.25, 0.25]))
    a["blur"] = "blurred" if rng.random() < 0.25 else "none"
    a["noise"] = "noisy" if rng.random() < 0.25 else "none"
    a["light"] = "dark" if rng.random() < 0.2 else "none"
    a["colour_cast"] = str(rng.choice(["warm", "cool", "green"])) if rng.random() < 0.3 else "none"
    a["jpeg"] = "jpeg" if rng.random() < 0.2 else "none"
    a["resolution"] = "low" if rng.random() < 0.2 else "none"
    kinds = ["none", "print", "screen", "pasted"] if n_faces else ["none", "print", "screen"]
    a["presentation"] = str(rng.choice(kinds, p=[0.4, 0.2, 0.2, 0.2] if n_faces else [0.5, 0.25, 0.25]))
    if n_faces == 0:
        for key in FACE_ATTRIBUTES:
            a[key] = "none"
    return {k: a[k] for k in ATTRIBUTES}


def _clause(rng: np.random.Generator, attribute: str, value: str, mention_absent: float) -> str | None:
    options = PHRASES[attribute].get(value, [])
    if not options or (value == "none" and rng.random() >= mention_absent):
        return None
    return str(rng.choice(options))


def make_caption(attrs: dict[str, str], rng: np.random.Generator, mention_absent: float = 0.1) -> str:
    """One paraphrase: every present attribute is named, an absent one now and then."""
    n = int(attrs["n_faces"])
    face = [] if n == 0 else [c for k in FACE_ATTRIBUTES if (c := _clause(rng, k, attrs[k], mention_absent))]
    capture = [c for k in CAPTURE if (c := _clause(rng, k, attrs[k], mention_absent))]
    rng.shuffle(face)
    rng.shuffle(capture)
    colour = attrs["background"]
    bg = str(rng.choice([f"on a {colour} background", f"in front of a {colour} wall", f"with a {colour} backdrop"]))
    subject = str(rng.choice(SUBJECT[n]))
    joined_face = (" " + " and ".join(face)) if face else ""
    tail = (", " + ", ".join(capture)) if capture else ""
    if rng.random() < 0.5:
        pres = str(rng.choice(PHRASES["presentation"][attrs["presentation"]]))
        return f"{pres} {subject}{joined_face} {bg}{tail}"
    after = str(rng.choice(PRESENTATION_AFTER[attrs["presentation"]]))
    return f"{subject}{joined_face} {bg}, {after}{tail}"


def prompt_texts(attribute: str, value: str) -> list[str]:
    """Zero-shot classification prompts for one attribute value (frames not used by the captions)."""
    if attribute == "background":
        return [f"an image with a {value} background", f"the colour {value} behind"]
    if attribute == "n_faces":
        return [f"an image of {s}" for s in SUBJECT[int(value)]]
    if attribute == "presentation":
        return [f"this is {p} a face" for p in PHRASES["presentation"][value]] + \
               [f"a face {p}" for p in PRESENTATION_AFTER[value]]
    frame = "a person {}" if attribute in FACE_ATTRIBUTES else "an image that is {}"
    return [frame.format(p) for p in PHRASES[attribute][value]]


def attribute_values(attribute: str, colours: list[str] | None = None) -> list[str]:
    if attribute == "background":
        return list(colours or [])
    if attribute == "n_faces":
        return ["0", "1", "2"]
    return list(PHRASES[attribute])


def render_image(attrs, subject, others, textures, size: int, rng: np.random.Generator) -> tuple[np.ndarray, str]:
    """Render one image -> (uint8 RGB, device name or "none")."""
    from facetrust.data.sim import caption_scenes as S

    render = 2 * size
    bg = S.background(textures, attrs["background"], render, rng)
    n = int(attrs["n_faces"])
    layout = [(render * rng.uniform(0.45, 0.55), render * rng.uniform(0.52, 0.58), render * rng.uniform(0.27, 0.33))]
    if n == 2:
        layout = [(render * 0.28, render * 0.56, render * 0.19), (render * 0.72, render * 0.56, render * 0.19)]
    faces = [subject, others[0]] if n == 2 else [subject]
    scene = bg.copy()
    for face, (cx, cy, hh) in zip(faces[:n], layout, strict=False):
        S.draw_face(scene, face, cx, cy, hh, attrs["pose"], attrs, rng)
    if attrs["presentation"] == "pasted":
        donor = bg.copy()
        for (cx, cy, hh) in layout[:n]:
            S.draw_face(donor, others[1], cx, cy, hh, attrs["pose"], attrs, rng)
        for (cx, cy, hh) in layout[:n]:
            scene = S.paste_face(scene, donor, cx, cy, hh, rng)
    device = "none"
    if attrs["presentation"] in ("print", "screen"):
        names = [d for d in S.DEVICES if ("printer" in d) == (attrs["presentation"] == "print")]
        device = str(rng.choice(names))
        room = S.background(textures, "gray", render, rng) * rng.uniform(0.5, 0.9, size=3).astype(np.float32)
        scene = S.present(scene, attrs["presentation"], S.DEVICES[device], room, rng)
    return S.capture(scene, attrs, size, rng), device


def _split_names(n: int, fractions: tuple[float, float, float]) -> list[str]:
    n_val, n_test = (max(1, int(round(n * f))) if n >= 3 and f > 0 else 0 for f in fractions[1:])
    return ["train"] * (n - n_val - n_test) + ["val"] * n_val + ["test"] * n_test


def make_captions(
    out_dir: str | os.PathLike,
    seed: int = 0,
    n_subjects: int = 200,
    images_per_subject: int = 8,
    image_size: int = 64,
    captions_per_image: int = 4,
    split_fractions: tuple[float, float, float] = (0.8, 0.1, 0.1),
    lfw_faces: bool = False,
) -> Path:
    """Generate the corpus into ``out_dir``; returns the path of its ``manifest.csv``.

    Columns: ``path, split, subject_id, captions`` (a JSON list of paraphrases), one column per
    attribute of ``ATTRIBUTES`` (``none`` when absent), ``device`` (the corpus printer or screen) and
    ``face_source`` (``drawn`` or ``lfw``). Subjects are split train/val/test by ``split_fractions``.
    """
    from facetrust.data.io import write_image
    from facetrust.data.sim.caption_scenes import BACKGROUND_COLOURS, load_textures, make_subject

    if n_subjects < 3 or images_per_subject < 1 or captions_per_image < 1:
        raise DataError("make_captions: need n_subjects >= 3, images_per_subject >= 1, captions_per_image >= 1")
    if image_size < 16:
        raise DataError(f"make_captions: image_size {image_size} is too small (>= 16)")
    textures, colours = load_textures(), list(BACKGROUND_COLOURS)
    lfw = None
    if lfw_faces:  # shares fas-sim's base photos: for measuring the effect only
        import skimage.data

        lfw = skimage.data.lfw_subset()[:100]
    order = np.random.default_rng([seed, 7]).permutation(100)
    subjects, splits = [], {}
    names = _split_names(n_subjects, split_fractions)
    split_order = np.random.default_rng([seed, 11]).permutation(n_subjects)
    for i in range(n_subjects):
        rng = np.random.default_rng([seed, 1, i])
        if lfw is not None and i % 2 == 1 and i // 2 < 100:
            index = int(order[i // 2])
            subjects.append(make_subject(f"lfw{index:03d}", rng, lfw=lfw[index]))
        else:
            subjects.append(make_subject(f"drawn{seed:03d}-{i:04d}", rng))
        splits[i] = names[int(split_order[i])]
    by_split = {s: [i for i in range(n_subjects) if splits[i] == s] for s in ("train", "val", "test")}
    out_dir = Path(out_dir)
    rows = []
    for i, subject in enumerate(subjects):
        pool = [j for j in by_split[splits[i]] if j != i] or [i]
        for k in range(images_per_subject):
            rng = np.random.default_rng([seed, 2, i, k])
            attrs = sample_attributes(rng, colours)
            others = [subjects[int(j)] for j in rng.choice(pool, size=2)]
            image, device = render_image(attrs, subject, others, textures, image_size, rng)
            captions = list(dict.fromkeys(make_caption(attrs, rng) for _ in range(captions_per_image)))
            rel = f"{splits[i]}/{subject.subject_id}_{k:02d}.png"
            write_image(out_dir / rel, image)
            rows.append({"path": rel, "split": splits[i], "subject_id": subject.subject_id,
                         "captions": json.dumps(captions), **attrs, "device": device,
                         "face_source": "lfw" if subject.lfw is not None else "drawn"})
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "corpus.json").write_text(json.dumps({
        "generator": "facetrust.data.sim.captions", "seed": seed, "n_subjects": n_subjects,
        "images_per_subject": images_per_subject, "image_size": image_size,
        "captions_per_image": captions_per_image, "split_fractions": list(split_fractions),
        "lfw_faces": lfw_faces, "colours": colours}, indent=2))
    manifest = out_dir / "manifest.csv"
    pd.DataFrame(rows).to_csv(manifest, index=False)
    return manifest


def read_captions(manifest: str | os.PathLike) -> pd.DataFrame:
    """Read a corpus manifest: adds ``abs_path`` and parses ``captions`` into lists (clear errors)."""
    path = Path(manifest)
    if not path.is_file():
        raise DataError(f"captions manifest {path} does not exist (make one: facetrust data make-captions OUT)")
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    missing = [c for c in ("path", "split", "subject_id", "captions") if c not in df.columns]
    if missing:
        raise DataError(f"{path}: missing column(s) {missing}; a captions manifest needs path, split, subject_id, captions")
    parsed = []
    for row, text in enumerate(df["captions"], start=2):
        try:
            value = json.loads(text)
        except json.JSONDecodeError as err:
            raise DataError(f"{path}, row {row}: captions is not a JSON list ({err})") from None
        if not isinstance(value, list) or not value or not all(isinstance(c, str) and c for c in value):
            raise DataError(f"{path}, row {row}: captions must be a non-empty JSON list of strings")
        parsed.append(value)
    df["captions"] = parsed
    df["abs_path"] = [str(path.parent / p) for p in df["path"]]
    return df

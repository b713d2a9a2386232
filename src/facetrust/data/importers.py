"""Importers: folders of face images (or videos) on disk -> a manifest.

* ``import_mcio``: FLIP's benchmark-1 layout ``frame/{casia,msu,replay,oulu}/{train,test}/{real,fake}/
  <video>_frame{0,1}.png`` (+ ``celeb/{real,fake}``), split by FLIP's txt lists when present. Domains are
  FLIP's letters M, C, I, O (and ``celeba_spoof``), so ``flip_protocol1()`` applies directly.
* ``import_folders``: generic ``{domain}/[{split}/]{live|spoof}/[<attack>/]...``.
* ``import_deepfake``: ``[{split}/]{real|fake}/[<manipulation>/]...`` (label 1 real, 0 fake), e.g. the
  Kaggle 140k layout; ``import_faceforensics``: FaceForensics++ video folders (then ``prepare_videos``).

FLIP has no validation split; a held-out fraction of each source domain's training *subjects* is put
in ``val`` (``val_fraction``), so thresholds and checkpoints can be chosen without the target domain.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pandas as pd

from facetrust.data.io import IMAGE_EXTENSIONS
from facetrust.data.manifest import write_manifest
from facetrust.data.video import VIDEO_EXTENSIONS
from facetrust.errors import DataError

MCIO_DOMAINS = {"msu": "M", "casia": "C", "replay": "I", "oulu": "O", "celeb": "celeba_spoof"}
LIVE_NAMES, SPOOF_NAMES = {"live", "real", "bonafide", "bona_fide"}, {"spoof", "fake", "attack"}
SPLIT_NAMES = {"train": "train", "val": "val", "valid": "val", "validation": "val", "dev": "val", "devel": "val",
               "test": "test"}
_FRAME_SUFFIX = re.compile(r"(_frame\d+|_f\d+)$")


def _files(root: Path, extensions: tuple[str, ...]) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in extensions)


def _mcio_subject_and_attack(dataset: str, video: str, label: int) -> tuple[str, str]:
    """Subject id and attack species from each data set's file naming (documented by the data sets)."""
    if dataset == "casia":  # <subject>_<n>: 1, 2, HR_1 real; 3-6, HR_2-3 print (warped, cut); 7-8, HR_4 video
        parts = video.split("_")
        replay = parts[-1] == "4" if len(parts) > 2 and parts[1] == "HR" else parts[-1] in {"7", "8"}
        return parts[0], "none" if label else ("replay" if replay else "print")
    if dataset in {"msu", "replay"}:
        match = re.search(r"client(\d+)", video)
        attack = "print" if ("print" in video or "photo" in video) else "replay"
        return (match.group(1) if match else video), "none" if label else attack
    if dataset == "oulu":  # <phone>_<session>_<user>_<file>, file 1 real, 2-3 print, 4-5 replay
        parts = video.split("_")
        attack = "print" if parts[-1] in {"2", "3"} else "replay"
        return (parts[2] if len(parts) > 2 else video), "none" if label else attack
    return video, "none" if label else "spoof"


def _assign_val(df: pd.DataFrame, val_fraction: float, seed: int) -> pd.DataFrame:
    """Move ``val_fraction`` of each domain's training subjects (never their videos only) to ``val``."""
    if val_fraction <= 0:
        return df
    df = df.copy()
    for domain, part in df[df["split"] == "train"].groupby("domain"):
        subjects = sorted(part["subject_id"].unique())
        rng = np.random.default_rng([seed, sum(map(ord, str(domain)))])
        n_val = int(round(len(subjects) * val_fraction))
        held = set(rng.permutation(subjects)[:n_val]) if len(subjects) > 1 else set()
        df.loc[(df["domain"] == domain) & (df["split"] == "train") & df["subject_id"].isin(held), "split"] = "val"
    return df


def import_mcio(root: str | os.PathLike, out: str | os.PathLike, val_fraction: float = 0.2, seed: int = 0) -> Path:
    """FLIP's MCIO frames (``root/frame/...``, optional ``root/txt/*.txt``) -> manifest at ``out``."""
    root = Path(root)
    frame_root = root / "frame" if (root / "frame").is_dir() else root
    txt_root = root / "txt"
    in_train_list: set[str] | None = None
    if txt_root.is_dir():  # FLIP trains a source domain on *_train.txt, e.g. casia/train/fake/4_4_frame0.png
        in_train_list = set()
        for txt in sorted(txt_root.glob("*_train.txt")):
            for line in txt.read_text().split():
                in_train_list.update({line, line.replace("_frame0", "_frame1")})
    rows = []
    for path in _files(frame_root, IMAGE_EXTENSIONS):
        rel = path.relative_to(frame_root).as_posix()
        parts = rel.split("/")
        dataset = parts[0]
        if dataset not in MCIO_DOMAINS:
            continue
        classes = [p for p in parts[1:-1] if p in ("real", "fake")]
        if not classes:
            continue
        label = int(classes[0] == "real")
        if in_train_list is not None:
            split = "train" if rel in in_train_list else "test"
        else:
            split = parts[1] if parts[1] in ("train", "test") else "train"
        video = _FRAME_SUFFIX.sub("", path.stem)
        subject, attack = _mcio_subject_and_attack(dataset, video, label)
        domain = MCIO_DOMAINS[dataset]
        rows.append({"path": str(path.resolve()), "label": label, "domain": domain, "split": split,
                     "video_id": f"{domain}/{parts[1]}/{video}", "subject_id": f"{domain}/{subject}",
                     "attack_type": attack})
    if not rows:
        raise DataError(f"{frame_root}: no MCIO frames found (expected frame/{{casia,msu,replay,oulu}}/"
                        "{train,test}/{real,fake}/<video>_frame0.png)")
    return write_manifest(_assign_val(pd.DataFrame(rows), val_fraction, seed), out)


def _split_by_subject(df: pd.DataFrame, fractions: tuple[float, float, float], seed: int) -> pd.DataFrame:
    """Rows without a split from the layout get one by subject, per domain, in ``fractions``."""
    df = df.copy()
    for domain, part in df[df["split"] == ""].groupby("domain"):
        subjects = np.random.default_rng([seed, sum(map(ord, str(domain)))]).permutation(sorted(part["subject_id"].unique()))
        n = len(subjects)
        n_test = int(round(n * fractions[2])) if n >= 3 else 0
        n_val = int(round(n * fractions[1])) if n >= 3 else 0
        split_of = {s: "test" if i < n_test else "val" if i < n_test + n_val else "train" for i, s in enumerate(subjects)}
        mask = (df["domain"] == domain) & (df["split"] == "")
        df.loc[mask, "split"] = df.loc[mask, "subject_id"].map(split_of)
    return df


def _subject_pattern(subject_regex: str | None) -> re.Pattern | None:
    """The compiled ``--subject-regex``, or a DataError saying what is wrong with it."""
    if not subject_regex:
        return None
    try:
        pattern = re.compile(subject_regex)
    except re.error as err:
        raise DataError(f"subject regex {subject_regex!r} is not a valid regular expression ({err})") from err
    if pattern.groups < 1:
        raise DataError(f"subject regex {subject_regex!r} has no group; put the person's id in one, "
                        "e.g. '(client\\d+)'")
    return pattern


def _folder_subject(path: Path, root: Path, domain: str, video_id: str, pattern: re.Pattern | None) -> str:
    """``<domain>/<subject>``: the regex group, or the video id (which starts with the domain), never
    the domain twice."""
    if pattern is None:
        return video_id
    match = pattern.search(path.relative_to(root).as_posix())
    if not match or not match.group(1):
        raise DataError(f"{path}: subject regex {pattern.pattern!r} does not match its path (or its group is "
                        "empty); give a regex whose group is the person's id in every file's path below the "
                        "root, e.g. '(client\\d+)'")
    subject = match.group(1).strip("/")
    return subject if subject.startswith(f"{domain}/") else f"{domain}/{subject}"


def import_folders(root: str | os.PathLike, out: str | os.PathLike, videos: bool = False,
                   subject_regex: str | None = None, fractions: tuple[float, float, float] = (0.6, 0.2, 0.2),
                   seed: int = 0) -> Path:
    """Generic ``{domain}/[{split}/]{live|spoof}/[<attack>/]...`` -> manifest (images, or videos).

    The video id is ``<domain>/<live|spoof>/<attack>/<video>``: for images ``<video>`` is a file's folder
    below the class/attack level (frames of one video), else its stem without ``_frameN`` / ``_fN``; for
    video files it is the path below that level without the extension, so ``live/alice/1.mp4`` and
    ``live/bob/1.mp4`` are two videos. The subject id is ``<domain>/<subject>`` with ``<subject>`` the
    group of ``subject_regex`` (searched in the path below ``root``; a group that already starts with
    ``<domain>/`` is used as it is), else the video id itself (one subject per video; it starts with the
    domain, which is not repeated). Without a split folder, subjects are split per domain in
    ``fractions`` (train, val, test); the default subject ids give the same splits as the ids of earlier
    versions (``<domain>/<video id>``), whose order within a domain they keep.
    """
    root = Path(root)
    pattern = _subject_pattern(subject_regex)
    rows = []
    for path in _files(root, VIDEO_EXTENSIONS if videos else IMAGE_EXTENSIONS):
        parts = path.relative_to(root).parts
        split = SPLIT_NAMES.get(parts[1].lower(), "") if len(parts) > 2 else ""
        rest = parts[2:] if split else parts[1:]
        if len(rest) < 2 or rest[0].lower() not in LIVE_NAMES | SPOOF_NAMES:
            raise DataError(f"{path}: expected {{domain}}/[split/]{{live|spoof}}/[attack/]file under {root}")
        label = int(rest[0].lower() in LIVE_NAMES)
        attack = "none" if label else (rest[1] if len(rest) > 2 else "spoof")
        inner = rest[1:-1] if label else rest[2:-1]
        if videos:  # each file is a video: its folders below the class/attack level keep it apart
            video = "/".join([*inner, path.stem])
        else:  # frames: their folder is the video
            video = "/".join(inner) if inner else _FRAME_SUFFIX.sub("", path.stem)
        video_id = f"{parts[0]}/{rest[0]}/{attack}/{video}"
        rows.append({"path": str(path.resolve()), "label": label, "domain": parts[0], "split": split,
                     "video_id": video_id, "subject_id": _folder_subject(path, root, parts[0], video_id, pattern),
                     "attack_type": attack})
    if not rows:
        raise DataError(f"{root}: no {'video' if videos else 'image'} files found")
    return write_manifest(_split_by_subject(pd.DataFrame(rows), fractions, seed), out)


def _unreadable(path: Path) -> str | None:
    """Why an image file cannot be used (empty, not an image), from its header only; None if fine."""
    from PIL import Image, UnidentifiedImageError

    if path.stat().st_size == 0:
        return "empty file"
    try:
        with Image.open(path) as image:
            image.verify()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as err:
        return f"not a readable image ({err})"
    return None


def _need_both_classes(df: pd.DataFrame, root: Path, what: str = "real/ and fake/") -> None:
    present = set(df["label"].astype(int))
    for label, name in ((1, "real"), (0, "fake")):
        if label not in present:
            raise DataError(f"{root}: no {name!r} images found; a deepfake data set needs both classes ({what})")


def import_deepfake(root: str | os.PathLike, out: str | os.PathLike, domain: str | None = None,
                    fractions: tuple[float, float, float] = (0.7, 0.2, 0.1), seed: int = 0) -> Path:
    """``[{split}/]{real|fake}/[<manipulation>/]...`` -> manifest; label 1 real, 0 fake.

    Covers the Kaggle "140k real and fake faces" layout (``{train,valid,test}/{real,fake}/*.jpg``) the
    deepfake seed used. Below ``fake/`` a sub-folder names the manipulation (``attack_type`` and
    ``manipulation``; ``fake`` when there is none). Without split folders, subjects (the video folder,
    else the file stem) are split 7:2:1 (the seed's split). Empty or undecodable files are skipped and
    listed in ``<manifest>.skipped.json``; a layout with only one class is an error naming the other.
    """
    import json

    root = Path(root)
    domain = domain or root.name
    rows, skipped = [], []
    for path in _files(root, IMAGE_EXTENSIONS):
        parts = path.relative_to(root).parts
        split = SPLIT_NAMES.get(parts[0].lower(), "") if len(parts) > 2 else ""
        rest = parts[1:] if split else parts
        if len(rest) < 2 or rest[0].lower() not in {"real", "fake"}:
            raise DataError(f"{path}: expected [split/]{{real|fake}}/file under {root}")
        reason = _unreadable(path)
        if reason:
            skipped.append({"path": str(path), "reason": reason})
            continue
        label = int(rest[0].lower() == "real")
        manipulation = "none" if label else (rest[1] if len(rest) > 2 else "fake")
        inner = rest[1:-1] if label else rest[2:-1]
        video = "/".join(inner) or _FRAME_SUFFIX.sub("", path.stem)
        video_id = f"{rest[0]}/{manipulation}/{video}"
        rows.append({"path": str(path.resolve()), "label": label, "domain": domain, "split": split,
                     "video_id": video_id, "subject_id": video_id, "attack_type": manipulation,
                     "manipulation": manipulation})
    if not rows:
        raise DataError(f"{root}: no readable images under real/ or fake/ ({len(skipped)} skipped)")
    df = pd.DataFrame(rows)
    _need_both_classes(df, root)
    manifest = write_manifest(_split_by_subject(df, fractions, seed), out)
    report = Path(f"{manifest}.skipped.json")
    report.write_text(json.dumps({"images": len(rows), "skipped": skipped}, indent=2))
    return manifest


FF_METHODS = ("Deepfakes", "Face2Face", "FaceSwap", "NeuralTextures", "FaceShifter", "DeepFakeDetection")


def import_faceforensics(root: str | os.PathLike, out: str | os.PathLike, compression: str | None = None,
                         fractions: tuple[float, float, float] = (0.7, 0.2, 0.1), seed: int = 0) -> Path:
    """FaceForensics++ video folders -> a manifest of videos for ``prepare_videos``.

    Layout (Roessler et al., ICCV 2019): ``original_sequences/<source>/<c23|c40|raw>/videos/NNN.mp4``
    (real) and ``manipulated_sequences/<method>/<compression>/videos/NNN_MMM.mp4`` (target NNN with
    the face of MMM). The subject is the target's id, so a target's real and fake videos share a split
    (7:2:1 by subject); ``attack_type`` = ``manipulation`` = the method. ``compression`` keeps one
    level (e.g. c23).
    """
    root = Path(root)
    rows = []
    for path in _files(root, VIDEO_EXTENSIONS):
        parts = path.relative_to(root).parts
        if len(parts) < 3 or parts[0] not in ("original_sequences", "manipulated_sequences"):
            continue
        level = parts[2] if len(parts) > 3 else ""
        if compression and level != compression:
            continue
        label = int(parts[0] == "original_sequences")
        method = "none" if label else parts[1]
        subject = path.stem.split("_")[0]
        rows.append({"path": str(path.resolve()), "label": label, "domain": "ffpp", "split": "",
                     "video_id": f"{parts[1]}/{level}/{path.stem}", "subject_id": f"ffpp/{subject}",
                     "attack_type": method, "manipulation": method})
    if not rows:
        raise DataError(f"{root}: no FaceForensics++ videos (expected original_sequences/ and "
                        "manipulated_sequences/<method>/<compression>/videos/*.mp4)")
    df = pd.DataFrame(rows)
    _need_both_classes(df, root, "original_sequences/ and manipulated_sequences/")
    return write_manifest(_split_by_subject(df, fractions, seed), out)

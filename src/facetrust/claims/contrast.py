"""Alternatives for the contrast test and the region a claim is about, by deterministic rules.

For a claim the contrast set is, in this order, without duplicates:

1. its **negation** (``negate``): "is" -> "is not", "has a" -> "has no", "wears" -> "does not wear",
   and a negated claim loses its negation; otherwise "It is not true that ...";
2. the **other values of the attribute** the claim names: ``ATTRIBUTES`` maps an attribute
   (background, glasses, light, presentation, ...) to its values and the phrases that name each value;
   the longest phrase found in the claim is replaced by the phrase in the same position of every other
   value ("the background is blue" -> "... red", "... green", ...); for a negated claim those are
   negated too ("is not blurry" -> "is sharp").

A user's contrast set replaces both. ``claim_scope`` says whether a claim is about a face (it names a
face attribute or a face part: checked on face crops) or the whole image.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# attribute -> value -> phrases naming it (the first phrase is used as the replacement).
ATTRIBUTES: dict[str, dict[str, tuple[str, ...]]] = {
    "background": {c: (c, f"{c} background") for c in ("red", "green", "blue", "yellow", "gray", "purple")},
    "glasses": {"glasses": ("glasses", "eyeglasses", "spectacles"), "sunglasses": ("sunglasses", "dark glasses")},
    "hat": {"hat": ("a hat", "hat", "a cap")},
    "beard": {"beard": ("a beard", "beard", "stubble")},
    "pose": {"frontal": ("at the camera", "straight ahead", "frontal"), "left": ("to the left", "left"),
             "right": ("to the right", "right")},
    "n_faces": {"0": ("no faces", "no face", "nobody"), "1": ("one face", "a single face", "one person"),
                "2": ("two faces", "two people")},
    "blur": {"blurred": ("blurry", "blurred", "out of focus"), "sharp": ("sharp", "in focus")},
    "noise": {"noisy": ("noisy", "grainy"), "clean": ("clean", "noise-free")},
    "light": {"dark": ("dark", "dim", "underexposed"), "bright": ("bright", "well lit")},
    "colour_cast": {"warm": ("a warm tint", "warm"), "cool": ("a cool tint", "cool"), "green": ("a green tint", "greenish"),
                    "neutral": ("natural colours", "neutral colours")},
    "jpeg": {"jpeg": ("jpeg artefacts", "compression artefacts", "blocky")},
    "resolution": {"low": ("low resolution", "pixelated"), "high": ("high resolution", "detailed")},
    "presentation": {"print": ("printed on paper", "a printed photo", "a print"),
                     "screen": ("shown on a screen", "a photo of a screen", "a replay"),
                     "pasted": ("pasted", "a pasted face", "a blend"),
                     "live": ("real", "a real face", "a live person")},
}
FACE_ATTRIBUTES = frozenset({"glasses", "hat", "beard", "pose"})
FACE_WORDS = frozenset("""
face faces eye eyes eyebrow eyebrows mouth lips nose ear ears hair beard moustache mustache stubble glasses
eyeglasses sunglasses spectacles hat cap smile smiles smiling expression pupil pupils skin forehead chin cheek
cheeks teeth head
""".split())
SCOPES = ("auto", "image", "face")

_NEGATIONS = (
    (r"\b(is|are|was|were|can|does|do|did|will|could|should|would)\s+not\b", r"\1"),
    (r"\b(isn't|aren't|wasn't|weren't|doesn't|don't|didn't|can't)\b", None),
    (r"\b(has|have)\s+no\b", r"\1 a"),
    (r"\bwears\s+no\b", "wears"),
    (r"\bno\s+", ""),
)
_CONTRACTIONS = {"isn't": "is", "aren't": "are", "wasn't": "was", "weren't": "were", "doesn't": "does",
                 "don't": "do", "didn't": "did", "can't": "can"}
_THIRD_PERSON = ("wears", "shows", "depicts", "contains", "appears", "looks", "seems", "holds", "stands", "sits",
                 "smiles", "carries", "features", "displays", "lies")


@dataclass(frozen=True)
class AttributeMatch:
    attribute: str
    value: str
    phrase: str
    start: int
    end: int


def _find(text: str, phrase: str) -> re.Match | None:
    return re.search(r"(?<![\w-])" + re.escape(phrase) + r"(?![\w-])", text, re.IGNORECASE)


def find_attribute(claim: str, attributes: dict[str, dict[str, tuple[str, ...]]] | None = None) -> AttributeMatch | None:
    """The attribute value named by the longest matching phrase in ``claim`` (None when there is none)."""
    best: AttributeMatch | None = None
    for attribute, values in (attributes or ATTRIBUTES).items():
        for value, phrases in values.items():
            for phrase in phrases:
                match = _find(claim, phrase)
                if match and (best is None or len(phrase) > len(best.phrase)):
                    best = AttributeMatch(attribute, value, phrase, match.start(), match.end())
    return best


def is_negated(claim: str) -> bool:
    """True when the claim carries a negation ("not", "no", "n't", "without")."""
    return re.search(r"\b(not|no|without|never)\b|n't\b", claim, re.IGNORECASE) is not None


def negate(claim: str) -> str:
    """The claim's negation by rule (see the module docstring); a negated claim loses its negation."""
    text = claim.strip()
    if is_negated(text):
        for pattern, replacement in _NEGATIONS:
            match = re.search(pattern, text, re.IGNORECASE)
            if match is None:
                continue
            if replacement is None:
                word = match.group(1).lower()
                return text[: match.start()] + _CONTRACTIONS[word] + text[match.end():]
            return (text[: match.start()] + match.expand(replacement) + text[match.end():]).replace("  ", " ").strip()
        return re.sub(r"\bwithout\b", "with", text, count=1, flags=re.IGNORECASE)
    rules = (
        (r"\b(is|are|was|were|can|will|could|should|would)\b(?!\s+not\b)", r"\1 not"),
        (r"\b(has|have)\s+(a|an)\b", r"\1 no"),
        (r"\b(has|have)\b", r"\1 no"),
    )
    for pattern, replacement in rules:
        match = re.search(pattern, text, re.IGNORECASE)
        if match:
            return text[: match.start()] + match.expand(replacement) + text[match.end():]
    for verb in _THIRD_PERSON:
        match = re.search(rf"\b{verb}\b", text, re.IGNORECASE)
        if match:
            base = verb[:-3] + "y" if verb.endswith("ies") else verb[:-1]
            return text[: match.start()] + f"does not {base}" + text[match.end():]
    return f"It is not true that {text[:1].lower()}{text[1:]}"


def alternatives(claim: str, attributes: dict[str, dict[str, tuple[str, ...]]] | None = None,
                 use_negation: bool = True) -> list[str]:
    """The automatic contrast set of ``claim``: its negation, then the attribute's other values."""
    attributes = attributes or ATTRIBUTES
    out: list[str] = []
    match = find_attribute(claim, attributes)
    # "shows no faces" names a value; only a negation outside the matched phrase flips the claim
    negated = is_negated(claim if match is None else claim[: match.start] + claim[match.end:])
    if use_negation:
        out.append(negate(claim))
    if match is not None:
        values = attributes[match.attribute]
        index = values[match.value].index(match.phrase)
        for value, phrases in values.items():
            if value != match.value:
                other = claim[: match.start] + phrases[min(index, len(phrases) - 1)] + claim[match.end:]
                out.append(negate(other) if negated else other)
    seen, unique = {claim.strip().lower()}, []
    for text in out:
        if text.strip().lower() not in seen:
            seen.add(text.strip().lower())
            unique.append(text)
    return unique


def claim_scope(claim: str, attributes: dict[str, dict[str, tuple[str, ...]]] | None = None) -> str:
    """"face" when the claim names a face attribute or a face part, else "image"."""
    match = find_attribute(claim, attributes)
    if match is not None and match.attribute in FACE_ATTRIBUTES:
        return "face"
    if match is not None:
        return "image"
    words = {w.lower() for w in re.findall(r"[A-Za-z]+", claim)}
    return "face" if words & FACE_WORDS else "image"

"""Answer -> atomic claims: a deterministic rule-based splitter, with a plug-in point for others.

The rules, applied in order (documented in the README, "Verifying claims about an image"):

1. **Sentences.** Split after ``.``, ``!`` or ``?`` followed by white space, and at line breaks and
   semicolons. A full stop does not end a sentence after a known abbreviation (``e.g.``, ``Dr.``,
   ``etc.`` ...), a single capital letter (an initial) or inside a number (``2.5``).
2. **Coordinated clauses.** Inside a sentence, split at ``and``, ``but``, ``while``, ``whereas``
   and ``although`` (with or without a comma before them) when the part after the conjunction can
   stand as a claim:

   * it has a verb from ``VERBS`` of its own and a subject before it ("the background is blue and
     the person smiles" -> two claims);
   * it starts with a verb ("has a beard and wears glasses"): the left part's subject (the words
     before its first verb) is copied in front ("the person has a beard", "the person wears glasses");
   * it has no verb but the left part has a verb or ``with`` ("wears glasses and a hat", "a man with
     glasses and a hat"): the left part's words up to and including its last verb or ``with`` are
     copied in front ("the person wears a hat", "a man with a hat"); a list "wears a hat, glasses and
     a scarf" gives one claim per item.

   Otherwise the sentence is kept whole ("a black and white photo"; "a man with glasses and a hat
   stands ...", whose left part has no verb of its own). ``or`` never splits: a
   disjunction is one claim. Trailing punctuation is removed; empty pieces are dropped.

``split_claims(text, splitter="rules")`` looks the splitter up in ``SPLITTERS``; register a
model-based one with ``@SPLITTERS.register("name")`` (a callable ``str -> list[str]``).
``fit_to_context`` splits claims that are too long for the text tower at commas and truncates what is
still too long, with a warning naming the claim, never silently.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable

from facetrust.registry import Registry

SPLITTERS = Registry("claim splitter")

ABBREVIATIONS = frozenset({
    "e.g", "i.e", "etc", "vs", "cf", "approx", "mr", "mrs", "ms", "dr", "prof", "st", "no", "fig", "jr", "sr",
})
CONJUNCTIONS = ("and", "but", "while", "whereas", "although")
# Verbs and auxiliaries that make a clause in descriptions of images; lower case, exact words.
VERBS = frozenset("""
is are was were be been being am isn't aren't wasn't weren't it's there's that's he's she's they're
has have had hasn't haven't does do did doesn't don't didn't can cannot can't could may might will would should
wears wear wearing wore shows showing depicts depict depicting contains contain containing appears appear
appearing looks looking seems seem holds holding stands standing sits sitting smiles smiling lies lying
carries carrying
""".split())
DETERMINERS = frozenset("a an the this that these those his her their its my your our no some any".split())
_WORD = re.compile(r"[A-Za-z][A-Za-z'’-]*")


def _split_sentences(text: str) -> list[str]:
    """Rule 1: sentences (and semicolon / line-break separated parts)."""
    pieces: list[str] = []
    for chunk in re.split(r"[;\n\r]+", text):
        start = 0
        for match in re.finditer(r"[.!?]+(?=\s|$)", chunk):
            end = match.end()
            before = chunk[start:match.start()]
            last = before.split()[-1].lower().rstrip(".") if before.split() else ""
            is_initial = len(last) == 1 and last.isalpha() and match.group() == "."
            if match.group() == "." and (last in ABBREVIATIONS or is_initial):
                continue
            pieces.append(chunk[start:end])
            start = end
        pieces.append(chunk[start:])
    return [p.strip() for p in pieces if p.strip()]


def _words(text: str) -> list[str]:
    return [w.lower().replace("’", "'") for w in _WORD.findall(text)]


def _verb_positions(words: list[str]) -> list[int]:
    """Indices of verbs; a word right after a determiner is a noun ("a smile", "the look")."""
    return [i for i, w in enumerate(words) if w in VERBS and not (i and words[i - 1] in DETERMINERS)]


def _token_spans(text: str) -> list[tuple[int, int]]:
    return [m.span() for m in _WORD.finditer(text)]


def _prefix_through(text: str, word_index: int) -> str:
    """The text of ``text`` up to and including its ``word_index``-th word."""
    spans = _token_spans(text)
    return text[: spans[word_index][1]]


def _subject(text: str) -> str | None:
    """The words before the first verb of ``text`` (None when it starts with a verb or has none)."""
    verbs = _verb_positions(_words(text))
    if not verbs or verbs[0] == 0:
        return None
    return text[: _token_spans(text)[verbs[0]][0]].strip()


def _anchor(text: str) -> str | None:
    """The left part's words through its last verb or ``with`` (the prefix shared by a coordinated object)."""
    words = _words(text)
    anchors = sorted(set(_verb_positions(words)) | {i for i, w in enumerate(words) if w == "with"})
    return _prefix_through(text, anchors[-1]) if anchors else None


_COORDINATION = re.compile(r",?\s+\b(" + "|".join(CONJUNCTIONS) + r")\b\s+", re.IGNORECASE)


def _split_clause(sentence: str) -> list[str]:
    """Rule 2, applied left to right: split ``sentence`` at the first conjunction that allows it."""
    for match in _COORDINATION.finditer(sentence):
        left, right = sentence[: match.start()].strip(" ,"), sentence[match.end():].strip(" ,")
        if not left or not right:
            continue
        left_words, right_words = _words(left), _words(right)
        if not right_words:
            continue
        right_verbs = _verb_positions(right_words)
        if right_verbs and right_verbs[0] > 0:  # a full clause with its own subject
            if not _verb_positions(left_words):  # "a man with glasses and a hat stands ...": one claim
                continue
            head, rest = [left], right
        elif right_verbs and right_verbs[0] == 0:  # a verb phrase: borrow the subject
            subject = _subject(left)
            if subject is None:
                continue
            head, rest = [left], f"{subject} {right}"
        else:  # no verb on the right: a coordinated object or attribute, maybe a list "a, b and c"
            anchor = _anchor(left)
            if anchor is None:
                continue
            items = [item.strip() for item in left[len(anchor):].split(",")]
            if len(items) > 1 and all(items) and not any(_verb_positions(_words(i)) for i in items):
                head = [f"{anchor} {item}" for item in items]
            else:
                head = [left]
            rest = f"{anchor} {right}"
        return head + _split_clause(rest)
    return [sentence]


def _clean(claim: str) -> str:
    claim = re.sub(r"\s+", " ", claim).strip(" \t,;:")
    claim = re.sub(r"[.!?]+$", "", claim).strip()
    return claim[:1].upper() + claim[1:] if claim else claim


@SPLITTERS.register("rules")
def split_rules(text: str) -> list[str]:
    """The deterministic rule-based splitter (module docstring): sentences, then coordinated clauses."""
    claims = []
    for sentence in _split_sentences(text):
        claims += [_clean(c) for c in _split_clause(sentence)]
    return [c for c in claims if c]


@SPLITTERS.register("sentences")
def split_sentences(text: str) -> list[str]:
    """Only rule 1: one claim per sentence."""
    return [c for c in (_clean(s) for s in _split_sentences(text)) if c]


def split_claims(text: str, splitter: str | Callable[[str], list[str]] = "rules") -> list[str]:
    """Atomic claims of ``text`` with a registered splitter (by name) or any callable ``str -> list[str]``."""
    if not isinstance(text, str):
        raise TypeError(f"an answer must be a string, got {type(text).__name__}")
    function = SPLITTERS.get(splitter) if isinstance(splitter, str) else splitter
    claims = function(text)
    if not isinstance(claims, list) or not all(isinstance(c, str) for c in claims):
        raise TypeError(f"splitter {splitter!r} must return a list of strings, got {claims!r}")
    return [c.strip() for c in claims if c.strip()]


def fit_to_context(claims: list[str], count_tokens: Callable[[str], int], max_tokens: int) -> list[str]:
    """Claims that fit ``max_tokens``: a long claim is split at commas, then truncated word by word.

    Every split or truncation raises a ``UserWarning`` that names the claim.
    """
    fitted: list[str] = []
    for claim in claims:
        if count_tokens(claim) <= max_tokens:
            fitted.append(claim)
            continue
        parts = [p.strip() for p in claim.split(",") if p.strip()]
        if len(parts) > 1:
            warnings.warn(f"claim {claim!r} is longer than the text tower's {max_tokens} tokens; split at commas",
                          UserWarning, stacklevel=2)
        for part in parts:
            words = part.split()
            while len(words) > 1 and count_tokens(" ".join(words)) > max_tokens:
                words.pop()
            short = " ".join(words)
            if short != part:
                warnings.warn(f"claim {part!r} is longer than the text tower's {max_tokens} tokens; truncated "
                              f"to {short!r}", UserWarning, stacklevel=2)
            fitted.append(short)
    return fitted

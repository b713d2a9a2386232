"""``facetrust.export.timing``'s older methods (the default, "blocks", is in test_export_timing.py): the
phased method never runs two backends in the same stretch, keeps models round-robin within a backend and
gives every runner its rounds; spinning reaches ORT."""

from __future__ import annotations

import numpy as np
import pytest

from facetrust.export.timing import Runner, backend_family, time_round_robin


def _runners(log: list[str]) -> list[Runner]:
    def call(name):
        return lambda batch: log.append(name)

    specs = [("a", "torch"), ("a", "ort-fp32"), ("b", "torch"), ("b", "ort-int8"), ("c", "ort-fp32")]
    return [Runner(m, b, call(f"{m}/{b}"), 0, 0.0) for m, b in specs]


def _stretches(names: list[str]) -> list[tuple[str, list[str]]]:
    """Consecutive calls of one backend family, in order."""
    out: list[tuple[str, list[str]]] = []
    for name in names:
        family = backend_family(name.split("/")[1])
        if out and out[-1][0] == family:
            out[-1][1].append(name)
        else:
            out.append((family, [name]))
    return out


def test_phased_groups_backends_and_keeps_round_robin():
    log: list[str] = []
    runners = _runners(log)
    times = time_round_robin(runners, np.zeros(1), rounds=7, warmup=1, progress=False, label="t", blocks=3,
                             method="phased")
    assert [len(t) for t in times] == [7] * len(runners)
    assert all(s >= 0 for t in times for s in t)
    timed = _stretches(log[len(runners):])  # after the warm-up calls
    # 3 blocks x 2 families, alternating; inside a stretch the family's runners take turns.
    assert [family for family, _ in timed] == ["torch", "ort"] * 3
    for family, calls in timed:
        members = [f"{r.model}/{r.backend}" for r in runners if backend_family(r.backend) == family]
        wake, rest = calls[: len(members)], calls[len(members):]
        assert wake == members  # one untimed call each to wake the pool
        assert rest == members * (len(rest) // len(members)) and len(rest) % len(members) == 0
    rounds_per_block = [len(calls) // (2 if family == "torch" else 3) - 1 for family, calls in timed[::2]]
    assert sum(rounds_per_block) == 7 and max(rounds_per_block) - min(rounds_per_block) <= 1


def test_interleaved_is_every_runner_in_turn():
    log: list[str] = []
    runners = _runners(log)
    time_round_robin(runners, np.zeros(1), rounds=2, warmup=0, progress=False, label="t", method="interleaved")
    assert log == [f"{r.model}/{r.backend}" for r in runners] * 2
    with pytest.raises(ValueError, match="blocks"):
        time_round_robin(runners, np.zeros(1), 1, 0, False, "t", method="parallel")


def test_spinning_option_reaches_the_session_config():
    from facetrust.export.runtime import session_options

    assert session_options(1, spinning=False).get_session_config_entry("session.intra_op.allow_spinning") == "0"
    assert session_options(1, spinning=True).get_session_config_entry("session.inter_op.allow_spinning") == "1"
    options = session_options(2)
    assert options.intra_op_num_threads == 2

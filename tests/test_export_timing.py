"""``facetrust.export.timing``'s default method ("blocks") with injected timings, no timed assertions:
rounds by a time budget, every runner alone in its stretches, blocks in rotating order, a wait before
each stretch; the median / p10-p90 / block spread of a record and a speed-up's range over blocks."""

from __future__ import annotations

import math

import numpy as np
import pytest

from facetrust.export.timing import (
    Runner,
    Timing,
    block_order,
    latency_record,
    plan_rounds,
    speedup,
    spread_rounds,
    time_runners,
)


def test_plan_rounds_fills_the_budget_between_the_bounds():
    assert plan_rounds(0.003, 1.5, 10) == 500  # a 3 ms student: 1.5 s of calls
    assert plan_rounds(0.26, 1.5, 10) == 10  # the 260 ms teacher: the minimum wins
    assert plan_rounds(0.26, 3.0, 5) == math.ceil(3.0 / 0.26)
    assert plan_rounds(1e-6, 1.0, 10, max_rounds=300) == 300
    assert plan_rounds(1e-6, 1.0, 400, max_rounds=300) == 400  # the minimum wins over the cap
    assert plan_rounds(0.003, 0.0, 7) == 7  # no budget: exactly the rounds asked for
    assert plan_rounds(float("nan"), 1.0, 7) == 7  # no warm-up, no estimate


@pytest.mark.parametrize("rounds,blocks", [(7, 3), (2, 5), (500, 5), (0, 4), (5, 5)])
def test_spread_rounds_is_even_and_complete(rounds, blocks):
    sizes = spread_rounds(rounds, blocks)
    assert len(sizes) == blocks and sum(sizes) == rounds
    assert max(sizes) - min(sizes) <= 1


def test_block_order_rotates_every_runner_to_the_front():
    orders = [block_order(4, b) for b in range(4)]
    assert all(sorted(order) == [0, 1, 2, 3] for order in orders)
    assert [order[0] for order in orders] == [0, 1, 2, 3]
    assert [order.index(2) for order in orders] == [2, 1, 0, 3]  # runner 2 in every place once


class FakeMachine:
    """A clock that moves only when a runner is called (by its duration) or the process waits. With
    ``spin_s`` > 0 it also plays ONNX Runtime's spinning workers: a call that starts within ``spin_s``
    of another runner's last call takes twice as long (the two cores are shared with the spinner)."""

    def __init__(self, spin_s: float = 0.0):
        self.now, self.spin_s, self.log = 0.0, spin_s, []
        self.last: tuple[str, float] | None = None  # (runner, end of its last call)

    def clock(self) -> float:
        return self.now

    def settle(self) -> None:
        self.log.append("settle")
        self.now += 0.125  # exact in binary, like the durations of the tests that count calls

    def runner(self, name: str, seconds: float) -> Runner:
        def call(batch):
            contended = self.last is not None and self.last[0] != name and self.now - self.last[1] < self.spin_s
            self.now += seconds * (2 if contended else 1)
            self.last = (name, self.now)
            self.log.append(name)
        return Runner(name, "ort-fp32", call, 0, 0.0)


def _stretches(log: list[str]) -> list[tuple[str, int]]:
    out: list[tuple[str, int]] = []
    for entry in log:
        if out and out[-1][0] == entry:
            out[-1] = (entry, out[-1][1] + 1)
        else:
            out.append((entry, 1))
    return out


def test_rounds_follow_the_budget_and_each_runner_runs_alone():
    fake = FakeMachine()
    runners = [fake.runner("teacher", 0.26), fake.runner("student", 0.003)]
    timings = time_runners(runners, np.zeros(1), rounds=5, warmup=1, budget_s=1.5, blocks=5,
                           settle=fake.settle, clock=fake.clock)
    teacher, student = timings
    assert teacher.estimate_s == pytest.approx(0.26) and student.estimate_s == pytest.approx(0.003)
    assert len(teacher.seconds) == math.ceil(1.5 / 0.26) and len(student.seconds) == math.ceil(1.5 / 0.003)
    assert len(teacher.blocks) == len(student.blocks) == 5
    assert [len(b) for b in student.blocks] == spread_rounds(500, 5)
    assert all(s == pytest.approx(0.003) for s in student.seconds)  # the durations the clock gave
    # After the warm-up, every block has one stretch per runner, rotating, each after a wait; the
    # student's stretch starts with untimed calls for WAKE_S (0.05 s: 17 calls of 3 ms), the teacher's not.
    warm = fake.log.index("settle", fake.log.index("student"))
    stretches = [s for s in _stretches(fake.log[warm:]) if s[0] != "settle"]
    waits = [s for s in _stretches(fake.log[warm:]) if s[0] == "settle"]
    assert len(waits) == len(stretches) == 10 and all(n == 1 for _, n in waits)
    assert [name for name, _ in stretches] == ["teacher", "student", "student", "teacher"] * 2 + ["teacher", "student"]
    sizes = iter(spread_rounds(500, 5))
    for block in range(5):
        student_calls, teacher_calls = (n for _, n in sorted(stretches[2 * block: 2 * block + 2]))
        assert student_calls == next(sizes) + 17
        assert teacher_calls == len(teacher.blocks[block])


def test_warm_up_lasts_long_enough_to_estimate_a_fast_model():
    fake = FakeMachine()
    step = 2.0 ** -10  # about 1 ms, exact in binary so that the counts below are exact
    timings = time_runners([fake.runner("fast", step)], np.zeros(1), rounds=3, warmup=1, budget_s=0.5,
                           warm_s=0.25, settle=fake.settle, clock=fake.clock)
    # 0.25 s of warm-up (256 calls) before timing; the estimate then asks for 0.5 s of calls (512); one
    # runner alone needs no wait and no wake calls between its stretches.
    assert timings[0].estimate_s == step and len(timings[0].seconds) == 512
    assert fake.log == ["settle"] + ["fast"] * (256 + 512)


def test_no_budget_is_exactly_the_rounds_asked_for():
    fake = FakeMachine()
    timings = time_runners([fake.runner("a", 0.01), fake.runner("b", 0.2)], np.zeros(1), rounds=4, warmup=0,
                           blocks=3, settle=fake.settle, clock=fake.clock, wake_s=0.0)
    assert [len(t.seconds) for t in timings] == [4, 4]
    assert [len(b) for b in timings[0].blocks] == spread_rounds(4, 3)
    assert fake.log.count("a") == fake.log.count("b") == 4  # no warm-up, no wake calls


def test_waiting_before_each_stretch_keeps_the_spinning_neighbour_out_of_the_figure():
    """The cause of 2.9 vs 5.3 ms: a student call right after another session's call shares the cores
    with that session's spinning worker. Timed in its own stretch after the wait, the student's median
    is its own time; without the wait and the wake calls, the first call of each stretch pays."""
    fake = FakeMachine(spin_s=0.045)
    runners = [fake.runner("teacher", 0.26), fake.runner("student", 0.003)]
    timings = time_runners(runners, np.zeros(1), 5, 1, budget_s=0.3, settle=fake.settle, clock=fake.clock)
    assert max(timings[1].seconds) == pytest.approx(0.003)
    fake = FakeMachine(spin_s=0.045)
    runners = [fake.runner("teacher", 0.26), fake.runner("student", 0.003)]
    timings = time_runners(runners, np.zeros(1), 5, 1, budget_s=0.3, settle=None, wake_s=0.0, clock=fake.clock)
    firsts = [block[0] for block in timings[1].blocks if block]
    assert any(s == pytest.approx(0.006) for s in firsts)  # the simulated contention is real without the wait


def test_latency_record_matches_numpy_and_the_blocks():
    blocks = [[0.0030, 0.0031, 0.0029], [0.0040, 0.0041], [], [0.0033, 0.0035, 0.0034, 0.0036]]
    record = latency_record(Timing(blocks), batch=1)
    ms = np.array([s for b in blocks for s in b]) * 1000
    for key, q in (("latency_ms_p50", 50), ("latency_ms_p10", 10), ("latency_ms_p90", 90), ("latency_ms_p95", 95)):
        assert record[key] == pytest.approx(np.percentile(ms, q), abs=1e-3)
    assert record["latency_ms_iqr"] == pytest.approx(np.percentile(ms, 75) - np.percentile(ms, 25), abs=1e-3)
    assert record["rounds"] == 9 and record["throughput_ips"] == pytest.approx(1000 / np.median(ms), rel=1e-3)
    assert record["block_p50_ms"] == [3.0, 4.05, None, 3.45]
    assert record["block_p50_spread"] == pytest.approx((4.05 - 3.0) / np.median(ms), abs=1e-4)
    plain = latency_record([0.001, 0.002, 0.003], batch=4)  # plain seconds: no blocks
    assert plain["latency_ms_p50"] == 2.0 and plain["throughput_ips"] == 2000.0 and "block_p50_ms" not in plain


def test_speedup_and_its_range_over_blocks():
    teacher = {"latency_ms_p50": 260.0, "block_p50_ms": [258.0, 262.0, 261.0, None]}
    student = {"latency_ms_p50": 2.9, "block_p50_ms": [2.8, 3.1, None, 2.9]}
    result = speedup(teacher, student)
    assert result["speedup"] == round(260 / 2.9, 2)
    assert result["speedup_block_range"] == [round(262 / 3.1, 2), round(258 / 2.8, 2)]  # blocks 0 and 1 only
    assert speedup({"latency_ms_p50": 10.0}, {"latency_ms_p50": 2.0}) == {"speedup": 5.0, "speedup_block_range": None}

"""bench/timing.py: a speed ratio is printed only when it can be trusted (issue 21: bf16 was once reported at
0.68× fp32 from a run at load 1.7-9.4; on a quiet machine it is 1.67×)."""

from __future__ import annotations

import itertools

import pytest

from bench import timing


@pytest.fixture
def quiet(monkeypatch: pytest.MonkeyPatch):
    """A 2-core machine whose load average is whatever the test sets (this process's own share is real)."""
    load = {"now": 0.0}
    monkeypatch.setattr(timing.os, "getloadavg", lambda: (load["now"], 0.0, 0.0))
    monkeypatch.setattr(timing, "cores", lambda: 2)
    return load


def test_a_stable_ratio_on_a_quiet_machine_is_printed_with_its_spread_and_rounds(quiet):
    order: list[str] = []

    def alt(name: str, value: float):
        def once() -> float:
            order.append(name)
            return value
        return once

    result = timing.interleaved({"fp32": alt("fp32", 10.0), "bf16": alt("bf16", 16.7), "onnx": alt("onnx", 11.4)},
                                baseline="fp32", unit="chunks/s")
    assert result.converged and result.rounds == 3 and not result.busy
    assert result.verdict("bf16") == "1.67× (spread 0%, 3 rounds)"
    # Interleaved, the first one rotating: no alternative always runs first (or last) in a round.
    assert order == ["fp32", "bf16", "onnx", "bf16", "onnx", "fp32", "onnx", "fp32", "bf16"]
    text = "\n".join(result.lines())
    assert "1.67×" in text and "inconclusive" not in text and "on 2 cores" in text


def test_a_busy_machine_gives_no_ratio_at_all(quiet):
    quiet["now"] = 9.4  # other work: far more runnable threads than cores
    result = timing.interleaved({"fp32": lambda: 14.0, "bf16": lambda: 9.5}, baseline="fp32", unit="chunks/s")
    assert result.busy
    verdict = result.verdict("bf16")
    assert verdict.startswith("inconclusive: machine busy (load ") and verdict.endswith(" on 2 cores)")
    assert "0.68" not in "\n".join(result.lines())


def test_rounds_repeat_until_the_spread_is_under_10_percent_or_say_they_could_not(quiet):
    settling = itertools.chain([10.0, 20.0, 13.0], itertools.repeat(15.0))  # noisy first rounds, then steady
    result = timing.interleaved({"a": lambda: 10.0, "b": lambda: next(settling)}, baseline="a", unit="ms",
                                max_rounds=30)
    assert result.converged and 3 < result.rounds < 30
    assert result.alternatives["b"].spread < 0.10 and result.verdict("b").startswith("1.50×")

    flapping = itertools.cycle([10.0, 20.0])
    capped = timing.interleaved({"a": lambda: 10.0, "b": lambda: next(flapping)}, baseline="a", unit="ms",
                                max_rounds=6)
    assert not capped.converged and capped.rounds == 6
    assert "not stable: spread" in capped.verdict("b") and "over the 10% limit" in capped.verdict("b")


def test_this_benchs_own_cpu_use_is_not_counted_as_other_work(quiet):
    quiet["now"] = 2.5

    def busy() -> float:  # a bench that keeps a core busy itself
        total = 0
        for i in range(3_000_000):
            total += i
        return 1.0

    result = timing.interleaved({"a": busy, "b": busy}, baseline="a", unit="s")
    assert result.after.own > 0.3
    assert result.after.others == pytest.approx(2.5 - result.after.own)

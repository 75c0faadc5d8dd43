"""Speed comparisons that cannot mislead: interleaved rounds, a stable ratio, and the machine's load said.

A ratio measured while other work shares the cores can come out anywhere (this project once reported
bf16 at 0.68× fp32 at load 1.7-9.4; on a quiet machine it is 1.67×). So every speed bench here compares
its alternatives through `interleaved`:
- the alternatives run in turns within each round, the first one rotating, so load that comes and goes
  hits them alike; each round gives one ratio per alternative (its value / the baseline's, that round);
- rounds repeat until the ratios' spread (interquartile range / median) is under `max_spread` (10%), at
  least `min_rounds` and at most `max_rounds` or `max_seconds`; past the cap it says it could not;
- the 1-minute load average is read before and after (and after each round). This bench's own threads
  are part of it (torch uses every core), so its own part is subtracted: its threads (and its child
  processes') that are running or waiting for a core, sampled every second and averaged as the kernel
  averages the load, or its CPU time over the last minute if that is more. What remains is other work;
  when that exceeds the core count, the result prints "inconclusive: machine busy (load X on N cores)"
  instead of a ratio.
"""

from __future__ import annotations

import contextlib
import math
import os
import resource
import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

MAX_SPREAD = 0.10
_cpu_marks: list[tuple[float, float]] = []  # (monotonic time, CPU seconds of this process and its children)


def append_result(path: Path, text: str) -> None:
    """Add a run to its results file: earlier runs (other machines, loads, commits) stay for comparison."""
    with path.open("a", encoding="utf-8") as f:
        f.write(("\n" if path.exists() and path.stat().st_size else "") + text.rstrip("\n") + "\n")


def cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _cpu_seconds() -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _mark() -> tuple[float, float]:
    mark = (time.monotonic(), _cpu_seconds())
    with _marks_lock:
        _cpu_marks.append(mark)
        while len(_cpu_marks) > 2 and _cpu_marks[1][0] < mark[0] - 120:  # keep two minutes (and the first)
            del _cpu_marks[1]
    return mark


def _stat_fields(path: str) -> list[str]:
    """The fields of a /proc stat file after the command name ([0] state, [1] parent pid); [] if gone."""
    try:
        with open(path, encoding="ascii", errors="replace") as stat:
            return stat.read().rpartition(")")[2].split()
    except OSError:
        return []


def _runnable_threads() -> int | None:
    """Threads of this process and its children that are running or waiting for a core now (what the load
    average counts), this sampler excluded; None where /proc cannot tell (not Linux)."""
    me, sampler = os.getpid(), threading.get_native_id()
    try:
        children = [int(e.name) for e in os.scandir("/proc") if e.name.isdigit() and int(e.name) != me
                    and _stat_fields(f"/proc/{e.name}/stat")[1:2] == [str(me)]]
        pids = [me, *children]
        count = 0
        for pid in pids:
            with contextlib.suppress(OSError):
                for task in os.scandir(f"/proc/{pid}/task"):
                    if not (pid == me and int(task.name) == sampler):
                        count += _stat_fields(f"{task.path}/stat")[:1] in (["R"], ["D"])
        return count
    except OSError:
        return None


# This bench's own part of the 1-minute load average: its runnable threads, averaged as the kernel averages
# nr_running (an exponential decay with a 60 s time constant), sampled every second.
_own_load = [0.0]
_DECAY = math.exp(-1 / 60)


def _sample_every(seconds: float) -> None:
    ticks = 0
    while True:
        time.sleep(1.0)
        runnable = _runnable_threads()
        if runnable is not None:
            _own_load[0] = _own_load[0] * _DECAY + runnable * (1 - _DECAY)
        ticks += 1
        if ticks % seconds == 0:
            _mark()


_marks_lock = threading.Lock()
_mark()
# Every second: this bench's runnable threads; every 5 s a mark of its CPU time (see `load_now`).
threading.Thread(target=_sample_every, args=(5,), daemon=True, name="bench-load-marks").start()


@dataclass(frozen=True)
class Load:
    """The 1-minute load average, and how much of it is this bench's own CPU use (≈ busy cores, last minute)."""

    total: float
    own: float

    @property
    def others(self) -> float:
        return max(0.0, self.total - self.own)

    def __str__(self) -> str:
        return f"{self.total:.1f} ({self.own:.1f} of it this bench)"


def load_now() -> Load:
    """The load average now, with this bench's share: the larger of its runnable threads averaged as the kernel
    averages them, and its CPU seconds (children's too) over the last minute (or since it started)."""
    now, cpu = _mark()
    with _marks_lock:
        earlier = [m for m in _cpu_marks if m[0] <= now - 60.0] or [_cpu_marks[0]]
    then, cpu_then = earlier[-1]
    busy = (cpu - cpu_then) / max(now - then, 1e-3)
    return Load(os.getloadavg()[0], max(min(busy, float(cores())), _own_load[0]))


@dataclass
class Alternative:
    name: str
    values: list[float] = field(default_factory=list)  # one per round (chunks/s, ms, seconds…)
    ratios: list[float] = field(default_factory=list)  # value / the baseline's value in the same round

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    @property
    def ratio(self) -> float:
        return statistics.median(self.ratios)

    @property
    def spread(self) -> float:
        return spread(self.ratios)


def spread(ratios: list[float]) -> float:
    """Interquartile range / median of the per-round ratios (a relative spread; 0 for a single round)."""
    if len(ratios) < 2:
        return 0.0
    q1, _, q3 = statistics.quantiles(ratios, n=4, method="inclusive")
    return (q3 - q1) / abs(statistics.median(ratios))


@dataclass
class Comparison:
    baseline: str
    unit: str
    alternatives: dict[str, Alternative]
    rounds: int
    converged: bool
    before: Load
    after: Load
    peak_others: float
    cores: int
    seconds: float

    @property
    def busy(self) -> bool:
        """Other work's load exceeded the core count at some point: the ratios say nothing."""
        return self.peak_others > self.cores

    @property
    def load_note(self) -> str:
        return (f"load {self.before} before, {self.after} after, other work up to {self.peak_others:.1f}, "
                f"on {self.cores} cores")

    def verdict(self, name: str) -> str:
        """The ratio as it may be quoted, or why it may not."""
        if self.busy:
            return f"inconclusive: machine busy (load {self.peak_others:.1f} on {self.cores} cores)"
        alt = self.alternatives[name]
        if not self.converged:
            return (f"{alt.ratio:.2f}× (not stable: spread {alt.spread:.0%} after {self.rounds} rounds, "
                    f"over the {MAX_SPREAD:.0%} limit)")
        return f"{alt.ratio:.2f}× (spread {alt.spread:.0%}, {self.rounds} rounds)"

    def lines(self, value_format: str = "{:.1f}") -> list[str]:
        width = max(len(n) for n in self.alternatives) + 2
        out = [f"{'':<{width}}{self.unit:>14}  vs {self.baseline}"]
        for name, alt in self.alternatives.items():
            ratio = "1.00× (baseline)" if name == self.baseline else self.verdict(name)
            out.append(f"{name:<{width}}{value_format.format(alt.median):>14}  {ratio}")
        out.append(self.load_note + f"; {self.rounds} rounds interleaved in {self.seconds:.0f} s")
        return out


def interleaved(
    alternatives: dict[str, Callable[[], float]],
    *,
    baseline: str,
    unit: str,
    min_rounds: int = 3,
    max_rounds: int = 12,
    max_seconds: float = 600.0,
    max_spread: float = MAX_SPREAD,
    on_round: Callable[[int, dict[str, float]], None] | None = None,
) -> Comparison:
    """Run each alternative once per round, in turns (the first one rotating), until the ratios are stable.

    Each callable measures once and returns a number (a rate or a time: the ratio is simply value / the
    baseline's value in the same round). Stops once every ratio's spread is under `max_spread` after at
    least `min_rounds`, or at `max_rounds` / `max_seconds` (then `converged` is False).
    """
    assert baseline in alternatives, baseline
    names = list(alternatives)
    results = {name: Alternative(name) for name in names}
    started = time.monotonic()
    before = load_now()
    peak = before.others
    rounds, converged = 0, False
    while True:
        values: dict[str, float] = {}
        shift = rounds % len(names)
        for name in names[shift:] + names[:shift]:
            values[name] = float(alternatives[name]())
        for name in names:
            results[name].values.append(values[name])
            results[name].ratios.append(values[name] / values[baseline] if values[baseline] else float("nan"))
        rounds += 1
        peak = max(peak, load_now().others)
        if on_round:
            on_round(rounds, values)
        converged = rounds >= min_rounds and all(spread(r.ratios) < max_spread for r in results.values())
        if converged or rounds >= max_rounds or time.monotonic() - started >= max_seconds:
            break
    after = load_now()
    return Comparison(baseline=baseline, unit=unit, alternatives=results, rounds=rounds, converged=converged,
                      before=before, after=after, peak_others=max(peak, after.others), cores=cores(),
                      seconds=time.monotonic() - started)

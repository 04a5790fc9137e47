"""How long a run will take and how much is left, from how long each test took last time.

The controller says before the first test how many tests there are and what they took in
earlier runs, then every few minutes how many are done and the time left. The time left is
the remaining tests' earlier durations, spread over the workers and scaled by how this run
compares so far (a warm cache makes a run several times faster than the cold one remembered).
"""

from __future__ import annotations

import json
import statistics
import time
from pathlib import Path

from etconform.records import write_atomic

STORE = Path.home() / ".cache" / "etconform" / "durations.json"  # test id -> seconds, the latest run's
EVERY_S = 120.0  # a progress line at most this often


def _clock(seconds: float) -> str:
    minutes = round(seconds / 60)
    if seconds < 90:
        return f"{seconds:.0f} s"
    return f"{minutes // 60} h {minutes % 60} min" if minutes >= 60 else f"{minutes} min"


class Progress:
    def __init__(self, workers: int, store: Path = STORE, every_s: float = EVERY_S, clock=time.monotonic):
        self.workers, self.store, self.every_s, self.clock = max(1, workers), store, every_s, clock
        try:
            self.known: dict[str, float] = json.loads(store.read_text())
        except (OSError, ValueError):  # none yet, or unreadable: every test is new
            self.known = {}
        self.planned: dict[str, float] = {}
        self.took: dict[str, float] = {}
        self.done: set[str] = set()
        self.failing: set[str] = set()  # tests with a failed phase
        self.started = self.last = clock()

    def plan(self, ids: list[str]) -> str:
        """The tests this run will run: what they are expected to take, said once before they start."""
        seen = [self.known[i] for i in ids if i in self.known]
        # Untimed tests count at the median of the timed ones; with none timed, all alike, and the
        # time left comes from this run's own pace once some are done.
        guess = statistics.median(seen) if seen else 1.0
        self.planned = {i: self.known.get(i, guess) for i in ids}
        self.started = self.last = self.clock()
        tests = f"etconform: {len(ids)} test{'s' * (len(ids) != 1)}"
        if not seen:
            return f"{tests}; no earlier run timed them: the time left comes once some have run"
        basis = ("their durations in earlier runs" if len(seen) == len(ids) else
                 f"earlier runs' durations for {len(seen)}, {len(ids) - len(seen)} new at {_clock(guess)} each")
        return (f"{tests}, about {_clock(sum(self.planned.values()) / self.workers)} "
                f"with {self.workers} worker{'s' * (self.workers > 1)} ({basis})")

    def timed(self, test_id: str, seconds: float, failed: bool = False) -> None:
        """One phase of a test (setup, call, teardown) took `seconds`, and failed or not."""
        self.took[test_id] = self.took.get(test_id, 0.0) + seconds
        if failed:
            self.failing.add(test_id)

    def finished(self, test_id: str) -> str:
        """A test done, all its phases timed: a progress line when one is due, else ''."""
        if test_id in self.done:
            return ""
        self.done.add(test_id)
        now = self.clock()
        if not self.planned or now - self.last < self.every_s or len(self.done) >= len(self.planned):
            return ""
        self.last = now
        return self.line(now)

    def left(self, now: float) -> float:
        """Seconds left: the remaining tests' expected time over the workers, at this run's pace so far."""
        expected_done = sum(self.planned.get(i, 0.0) for i in self.done) / self.workers
        pace = (now - self.started) / expected_done if expected_done > 0 else 1.0
        remaining = sum(s for i, s in self.planned.items() if i not in self.done) / self.workers
        return remaining * pace

    def line(self, now: float) -> str:
        n, total = len(self.done), len(self.planned)
        failed = f", {len(self.failing)} failed" if self.failing else ""
        return (f"etconform: {n} of {total} tests done ({100 * n // total} %){failed}, "
                f"{_clock(now - self.started)} in, about {_clock(self.left(now))} left")

    def save(self) -> None:
        """This run's durations replace the earlier ones of the same tests; the others stay."""
        if not self.took:
            return
        try:
            self.store.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(self.store, json.dumps({**self.known, **self.took}, sort_keys=True))
        except OSError:  # a read-only home costs the next run its estimate, nothing else
            pass

"""Several searches on one pool: each lane gets back its own outcomes, and a run of several
studies starts the next one's trials while the last of the one before are still running."""
from __future__ import annotations

import threading
import time

import pytest

from hbopt.engine.lanes import Lanes
from hbopt.engine.pool import Outcome, Pool, Trial
from hbopt.search.optimize import Progress
from hbopt.validation.studies import overlapped


class SlowPool(Pool):
    """Trials finish ``seconds`` after they were submitted; ``log`` says when each was submitted
    and finished (by its backtests' ``tag``)."""

    def __init__(self, size: int = 2, seconds: float = 0.3):
        self.size, self.seconds, self.log = size, seconds, []
        self._running: list[tuple[float, Trial]] = []

    def submit(self, trials) -> None:
        for trial in trials:
            self.log.append(("submitted", trial.backtests[0]["tag"], time.monotonic()))
            self._running.append((time.monotonic() + self.seconds, trial))

    def poll(self, timeout: float = 0.2) -> list[Outcome]:
        time.sleep(min(timeout, 0.02))
        done = [t for due, t in self._running if due <= time.monotonic()]
        self._running = [(due, t) for due, t in self._running if due > time.monotonic()]
        for trial in done:
            self.log.append(("finished", trial.backtests[0]["tag"], time.monotonic()))
        return [Outcome(trial, results=[{"tag": trial.backtests[0]["tag"]}]) for trial in done]

    @property
    def pending(self) -> int:
        return len(self._running)

    @property
    def idle_capacity(self) -> int:
        return max(0, self.size - len(self._running))

    def worker_stats(self) -> list[dict]:
        return []


def search(trials: int):
    """A stand-in for a study: submits ``trials`` trials numbered 0.. on its lane as capacity
    allows, reporting its progress as the optimizer does, and returns the tags it got back per number."""
    def run(name, lane, on_progress):
        progress, got = Progress(target=trials), {}
        while progress.done < trials:
            while progress.issued < trials and lane.idle_capacity > 0:
                lane.submit([Trial(progress.issued, ({"tag": f"{name}-{progress.issued}"},))])
                progress.issued += 1
            for outcome in lane.poll(0.05):
                got[outcome.trial.number] = outcome.results[0]["tag"]
                progress.done += 1
            on_progress(name, progress, lane)
        return got
    return run


def test_each_lane_gets_its_own_outcomes_under_its_own_numbers():
    pool = SlowPool(size=4, seconds=0.05)
    results = overlapped(["a", "b", "c"], search(3), pool, lambda *args: None)
    assert results == [{n: f"{name}-{n}" for n in range(3)} for name in "abc"]


def test_the_next_study_starts_while_the_last_trials_of_the_one_before_run():
    pool = SlowPool(size=2, seconds=1.5)  # b has 1.5 s to start, however loaded the machine
    overlapped(["a", "b"], search(3), pool, lambda *args: None)
    when = {(event, tag): t for event, tag, t in pool.log}
    assert when["submitted", "b-0"] < when["finished", "a-2"]  # a's last trial had not drained
    assert when["submitted", "b-0"] >= when["submitted", "a-2"]  # but a had handed over all its trials


def test_the_first_error_is_raised_after_the_started_studies_end_and_no_later_one_starts():
    pool, ran = SlowPool(size=2, seconds=0.05), []

    def run(name, lane, on_progress):
        ran.append(name)
        if name == "b":
            raise ValueError("b failed")
        return search(2)(name, lane, on_progress)
    with pytest.raises(ValueError, match="b failed"):
        overlapped(["a", "b", "c"], run, pool, lambda *args: None)
    assert ran == ["a", "b"]


def test_stopping_the_lanes_ends_each_search_as_ctrl_c_does():
    lanes = Lanes(SlowPool(size=1, seconds=10))
    lane = lanes.lane()
    lane.submit([Trial(0, ({"tag": "x"},))])
    stopped = []

    def wait():
        try:
            while True:
                lane.poll(0.05)
        except KeyboardInterrupt:
            stopped.append(True)
    thread = threading.Thread(target=wait)
    thread.start()
    lanes.stop()
    thread.join(5)
    assert stopped == [True] and lane.pending == 1

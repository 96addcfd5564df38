"""One pool shared by several searches at once, so a run of many short studies (``--pairs ALL``)
keeps every worker busy: each search gets a :class:`Lane`, a :class:`~hbopt.engine.pool.Pool`
of its own with its own trial numbers, and the outcomes the shared pool hands back go to the
lane that submitted them, whichever lane polled.

Lanes are used from one thread each; the shared pool is only touched under one lock. Once
:meth:`Lanes.stop` is called, every lane's next :meth:`~Lane.poll` raises ``KeyboardInterrupt``
in its thread, so each search ends as a Ctrl-C ends it (its finished trials recorded).
"""
from __future__ import annotations

import itertools
import threading
import time
from dataclasses import replace

from hbopt.engine.pool import Outcome, Pool, Trial

SHARED_WAIT = 0.005  # seconds a lane beside others sleeps between looks at the pool


class Lanes:
    """The lanes of one shared pool."""

    def __init__(self, pool: Pool):
        self.pool = pool
        self._lock = threading.Lock()
        self._ids = itertools.count()
        self._owners: dict[int, tuple[Lane, Trial]] = {}  # shared number -> lane, the lane's trial
        self._stopped = threading.Event()
        self._open = 0  # lanes not closed yet

    def lane(self) -> Lane:
        """A new lane; :meth:`Lane.close` it when its search ends."""
        with self._lock:
            self._open += 1
        return Lane(self)

    def stop(self) -> None:
        self._stopped.set()

    def _submit(self, lane: Lane, trials) -> None:
        with self._lock:
            shared = []
            for trial in trials:
                number = next(self._ids)
                self._owners[number] = (lane, trial)
                shared.append(Trial(number, trial.backtests))
            lane.in_flight += len(shared)
            self.pool.submit(shared)

    def _poll(self, lane: Lane, timeout: float) -> list[Outcome]:
        """The lane's outcomes: a lane alone waits in the shared pool's poll, as a pool's user
        does; beside others it only looks (a poll that waits would hold the lock they need to
        submit), then sleeps a few milliseconds without the lock."""
        if self._stopped.is_set():
            raise KeyboardInterrupt
        with self._lock:
            alone = self._open == 1
            if not lane.finished:
                self._route(self.pool.poll(timeout if alone else 0))
            if lane.finished or alone:
                return self._take(lane)
        time.sleep(min(timeout, SHARED_WAIT))
        with self._lock:
            return self._take(lane)

    def _route(self, outcomes: list[Outcome]) -> None:
        for outcome in outcomes:
            owner, trial = self._owners.pop(outcome.trial.number)
            owner.finished.append(replace(outcome, trial=trial))

    @staticmethod
    def _take(lane: Lane) -> list[Outcome]:
        finished, lane.finished = lane.finished, []
        lane.in_flight -= len(finished)
        return finished

    def _close(self, lane: Lane) -> None:
        with self._lock:
            if not lane.closed:
                lane.closed = True
                self._open -= 1


class Lane(Pool):
    """A search's share of a :class:`Lanes` pool: as many workers and the same idle capacity,
    its own trials pending."""

    def __init__(self, lanes: Lanes):
        self._lanes = lanes
        self.size = lanes.pool.size
        self.in_flight = 0
        self.finished: list[Outcome] = []  # this lane's outcomes another lane's poll received
        self.closed = False

    @property
    def replaced(self) -> int:
        return self._lanes.pool.replaced

    def submit(self, trials) -> None:
        self._lanes._submit(self, list(trials))

    def poll(self, timeout: float = 0.2) -> list[Outcome]:
        return self._lanes._poll(self, timeout)

    @property
    def pending(self) -> int:
        return self.in_flight

    @property
    def idle_capacity(self) -> int:
        with self._lanes._lock:
            return self._lanes.pool.idle_capacity

    def worker_stats(self) -> list[dict]:
        with self._lanes._lock:
            return self._lanes.pool.worker_stats()

    def close(self) -> None:
        """The search is over (the shared pool stays open: it is its owner's to close)."""
        self._lanes._close(self)

"""The local backend: a persistent pool of backtest worker processes on this machine, fed
batches of trials.

Each worker is started once (``spawn``) and set up once (:func:`hbopt.engine.worker.initialise`).
It then runs batches of trials in a loop, reporting when each trial starts and sending its
result back as one ``ujson`` string holding every metric.

The pool keeps every worker two batches deep so no core waits for the parent. A trial that
raises is returned with its error; one that runs past ``trial_timeout`` or takes its worker down
is returned failed with the reason, the worker is replaced and the rest of its batches go back
to the queue; a worker found dead when a batch is sent to it is handled the same way. Workers
whose RSS passes ``max_rss_mb`` exit between batches and are replaced.

Why not pebble or loky: pebble's timeout and recycling apply to whole tasks (a batch would fail
together, and recycling counts tasks, not memory); loky recycles on memory but has no timeout.
Neither reports which trial of a batch is running, which the per-trial timeout needs.
"""
from __future__ import annotations

import multiprocessing
import os
import time
from collections import deque
from dataclasses import dataclass, field
from multiprocessing.connection import wait

import psutil
import ujson

from hbopt.engine import worker as trial_worker
from hbopt.engine.pool import Outcome, Pool, Trial, WorkerSetup
from hbopt.errors import HboptError, describe, from_description

_DEPTH = 2  # batches kept in flight per worker
DIED = "died"  # a worker's failure whose description waits for its exit code


# ----------------------------------------------------------------------------------- worker side
def _worker_main(connection, setup: WorkerSetup) -> None:
    try:
        _serve(connection, setup)
    except (EOFError, BrokenPipeError):  # the parent is gone
        return


def _serve(connection, setup: WorkerSetup) -> None:
    """Set the worker up, then run the batches the parent sends until it outgrows ``max_rss_mb``."""
    trial_worker.ignore_interrupts()
    try:
        trial_worker.initialise(setup)
    except Exception as exc:
        connection.send(("broken", describe(exc)))
        return
    connection.send(("ready", os.getpid()))
    process = psutil.Process()
    while True:
        batch = connection.recv()
        for trial in batch:
            connection.send(("start", trial.number))
            connection.send(("done", trial.number, trial_worker.run_trial(trial)))
        rss = trial_worker.own_memory(process)
        if setup.max_rss_mb and rss > setup.max_rss_mb * 2**20:
            connection.send(("recycle", rss))
            return
        connection.send(("idle", rss))


# ----------------------------------------------------------------------------------- parent side
@dataclass
class _Worker:
    process: multiprocessing.Process
    connection: object
    ready: bool = False
    batches: deque = field(default_factory=deque)  # sent, not finished
    running: tuple[Trial, float] | None = None     # trial in progress and when it started
    rss: int = 0

    def queued(self) -> list[Trial]:
        return [t for batch in self.batches for t in batch]


class LocalPool(Pool):
    """``workers`` processes on this machine (default: the usable cores)."""

    def __init__(self, workers: int | None, setup: WorkerSetup = WorkerSetup(), trial_timeout: float | None = None,
                 batch_size: int | None = None):
        workers = workers or usable_cores()
        if workers < 1:
            raise HboptError("the pool needs at least one worker")
        self.size, self.setup, self.trial_timeout, self.batch_size = workers, setup, trial_timeout, batch_size
        self._context = multiprocessing.get_context("spawn")
        self._workers: list[_Worker] = []
        self._queue: deque[Trial] = deque()
        self._finished: list[Outcome] = []
        self.replaced = 0
        for _ in range(workers):
            self._start_worker()

    # -- lifecycle ----------------------------------------------------------------------------
    def _start_worker(self) -> None:
        parent_end, child_end = self._context.Pipe()
        process = self._context.Process(target=_worker_main, args=(child_end, self.setup), daemon=True)
        process.start()
        child_end.close()
        self._workers.append(_Worker(process, parent_end))

    def _retire(self, worker: _Worker, failure: str | None) -> None:
        """Remove a worker; fail its running trial with ``failure`` (``DIED``: say how it died),
        requeue the rest, replace it."""
        if failure == DIED:
            worker.process.join(5)  # let it finish dying, for its exit code
        self._stop(worker)
        if failure == DIED:
            code = worker.process.exitcode
            failure = f"the worker died (exit code {code}" + (f", killed by signal {-code})" if code < 0 else ")")
        self._workers.remove(worker)
        leftover = worker.queued()
        if worker.running is not None and failure is not None:
            trial, started = worker.running
            leftover.remove(trial)
            self._finished.append(Outcome(trial, error=failure, worker=worker.process.pid,
                                          seconds=time.monotonic() - started))
        self._queue.extendleft(reversed(leftover))
        if not worker.ready and failure is not None:
            raise type(from_description(failure))(f"a backtest worker could not start: {failure}")
        self.replaced += 1
        self._start_worker()

    @staticmethod
    def _stop(worker: _Worker) -> None:
        if worker.process.is_alive():
            worker.process.kill()
        worker.process.join()
        worker.connection.close()

    def close(self) -> None:
        for worker in self._workers:
            self._stop(worker)
        self._workers.clear()

    # -- work ---------------------------------------------------------------------------------
    def submit(self, trials) -> None:
        self._queue.extend(trials)
        self._dispatch()

    @property
    def pending(self) -> int:
        return len(self._queue) + sum(len(w.queued()) for w in self._workers)

    @property
    def idle_capacity(self) -> int:
        return max(0, self.size * _DEPTH * self._batch() - self.pending)

    def _batch(self) -> int:
        if self.batch_size:
            return self.batch_size
        return max(1, min(8, len(self._queue) // (self.size * _DEPTH)))

    def _dispatch(self) -> None:
        for worker in list(self._workers):
            while worker.ready and len(worker.batches) < _DEPTH and self._queue:
                batch = [self._queue.popleft() for _ in range(min(self._batch(), len(self._queue)))]
                worker.batches.append(batch)
                try:
                    worker.connection.send(batch)
                except OSError:  # BrokenPipeError & co: it died since we last heard from it
                    self._drain(worker)  # what it said before it died, then its end: it is retired
                    if worker in self._workers:
                        self._retire(worker, DIED)
                    break

    def poll(self, timeout: float = 0.2) -> list[Outcome]:
        by_handle = {}
        for worker in self._workers:
            by_handle[worker.connection] = worker
            by_handle[worker.process.sentinel] = worker
        for handle in wait(list(by_handle), timeout=timeout):
            worker = by_handle[handle]
            if worker not in self._workers:
                continue
            if handle is worker.connection:
                self._drain(worker)
            elif not worker.connection.poll():
                self._retire(worker, DIED)
        self._enforce_timeouts()
        self._dispatch()
        finished, self._finished = self._finished, []
        return finished

    def _drain(self, worker: _Worker) -> None:
        while worker in self._workers and worker.connection.poll():
            try:
                message = worker.connection.recv()
            except (EOFError, OSError):
                self._retire(worker, DIED)
                return
            kind = message[0]
            if kind == "ready":
                worker.ready = True
            elif kind == "broken":
                self._retire(worker, message[1])
            elif kind == "start":
                worker.running = (self._trial(worker, message[1]), time.monotonic())
            elif kind == "done":
                trial, started = worker.running
                payload = ujson.loads(message[2])
                batch = worker.batches[0]
                batch.remove(trial)
                if not batch:
                    worker.batches.popleft()
                worker.running = None
                self._finished.append(Outcome(trial, payload.get("results", []), payload.get("error"),
                                              worker.process.pid, payload["seconds"], payload.get("cpu_s", 0.0)))
            elif kind in ("idle", "recycle"):
                worker.rss = message[1]
                if kind == "recycle":
                    self._retire(worker, None)

    @staticmethod
    def _trial(worker: _Worker, number: int) -> Trial:
        return next(t for t in worker.batches[0] if t.number == number)

    def _enforce_timeouts(self) -> None:
        if not self.trial_timeout:
            return
        now = time.monotonic()
        for worker in list(self._workers):
            if worker.running and now - worker.running[1] > self.trial_timeout:
                self._retire(worker, f"timed out after {self.trial_timeout:g}s")

    # -- observation --------------------------------------------------------------------------
    def worker_stats(self) -> list[dict]:
        stats = []
        for worker in self._workers:
            try:
                info = psutil.Process(worker.process.pid)
                times = info.cpu_times()
                stats.append({"pid": worker.process.pid, "rss_mb": trial_worker.own_memory(info) / 2**20,
                              "cpu_s": times.user + times.system, "busy": worker.running is not None,
                              "ready": worker.ready, "node": "local"})
            except psutil.Error:
                continue
        return stats


def usable_cores() -> int:
    """The cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


DRIVER_MB = 1024  # left to the driver process and the system when sizing the pool


def default_workers(max_worker_mb: float | None) -> tuple[int, str | None]:
    """One worker per usable core, fewer when the memory available cannot hold that many at
    ``max_worker_mb`` each (where a worker is recycled), and a note for the user saying so."""
    cores = usable_cores()
    if not max_worker_mb:
        return cores, None
    available = psutil.virtual_memory().available / 2**20 - DRIVER_MB
    fits = max(1, int(available // max_worker_mb))
    if fits >= cores:
        return cores, None
    return fits, (f"{fits} workers, not one per core ({cores}): {max(0, available) / 1024:.1f} GiB of memory is "
                  f"available and each worker may grow to --max-worker-mb {max_worker_mb:g} MB")

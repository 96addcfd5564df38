"""A persistent pool of backtest worker processes, fed batches of trials.

Each worker is started once (``spawn``) and set up once: network cut off, hummingbot imported,
the user's controllers importable, candles served from the mirror through a bounded
:class:`CandleWindows`. It then runs batches of trials in a loop, reporting when each trial
starts and sending its result back as one ``ujson`` string holding every metric.

The pool keeps every worker two batches deep so no core waits for the parent. A trial that
raises is returned with its error; one that runs past ``trial_timeout`` or takes its worker down
is returned failed with the reason, the worker is replaced and the rest of its batches go back
to the queue; a worker found dead when a batch is sent to it is handled the same way. Workers
whose RSS passes ``max_rss_mb`` exit between batches and are replaced.
"""
from __future__ import annotations

import multiprocessing
import os
import signal
import time
from collections import deque
from dataclasses import dataclass, field
from multiprocessing.connection import wait

import psutil
import ujson

from hbopt.errors import HboptError, describe, from_description

_DEPTH = 2  # batches kept in flight per worker
DIED = "died"  # a worker's failure whose description waits for its exit code


@dataclass(frozen=True)
class Trial:
    """One trial: its number and the backtests it runs (keyword arguments of ``backtest``)."""

    number: int
    backtests: tuple[dict, ...]


@dataclass(frozen=True)
class WorkerSetup:
    """What each worker is initialised with."""

    controllers_path: str | None = None
    cache_mb: float = 512
    max_rss_mb: float | None = None


@dataclass
class Outcome:
    """A finished trial: ``results`` (one per backtest) or ``error``; which worker ran it and the
    seconds it took there (for a trial cut short, until the parent gave up on it)."""

    trial: Trial
    results: list[dict] = field(default_factory=list)
    error: str | None = None
    worker: int | None = None
    seconds: float = 0.0


# ----------------------------------------------------------------------------------- worker side
_worker_state: dict = {}


def _initialise(setup: WorkerSetup) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when to stop
    from hbopt.cache.mirror import Mirror
    from hbopt.cache.windows import CandleWindows
    from hbopt.engine import offline
    from hbopt.engine.backtest import backtest
    from hbopt.engine.controllers import use_controllers_path

    offline.install()
    import hummingbot.strategy_v2.backtesting.backtesting_engine_base  # noqa: F401  (heavy import, once)
    import hbopt.engine.turbo  # noqa: F401
    _worker_state.update(
        backtest=backtest,
        candles=CandleWindows(Mirror.default().load, max_bytes=int(setup.cache_mb * 2**20)),
        user_module=use_controllers_path(setup.controllers_path) if setup.controllers_path else None,
    )


def run_trial(trial: Trial) -> str:
    """Run a trial's backtests in this worker; a ujson string of ``{"results": [...]}`` or
    ``{"error": "..."}`` (:func:`describe`'s text, which ``from_description`` turns back into the
    hbopt error it was, or an internal error), with the ``seconds`` it took."""
    backtest = _worker_state["backtest"]
    began = time.perf_counter()
    try:
        results = [backtest(**kwargs, candles=_worker_state["candles"], user_module=_worker_state["user_module"])
                   for kwargs in trial.backtests]
        return ujson.dumps({"results": results, "seconds": time.perf_counter() - began})
    except Exception as exc:  # the trial failed, the worker goes on
        return ujson.dumps({"error": describe(exc), "seconds": time.perf_counter() - began})


def _worker_main(connection, setup: WorkerSetup) -> None:
    try:
        _serve(connection, setup)
    except (EOFError, BrokenPipeError):  # the parent is gone
        return


def _serve(connection, setup: WorkerSetup) -> None:
    """Set the worker up, then run the batches the parent sends until it outgrows ``max_rss_mb``."""
    try:
        _initialise(setup)
    except Exception as exc:
        connection.send(("broken", describe(exc)))
        return
    connection.send(("ready", os.getpid()))
    process = psutil.Process()
    while True:
        batch = connection.recv()
        for trial in batch:
            connection.send(("start", trial.number))
            connection.send(("done", trial.number, run_trial(trial)))
        rss = process.memory_info().rss
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


class BacktestPool:
    """``submit`` trials, then ``poll`` for :class:`Outcome` objects until ``pending`` is 0."""

    def __init__(self, workers: int, setup: WorkerSetup = WorkerSetup(), trial_timeout: float | None = None,
                 batch_size: int | None = None):
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
        """Stop every worker now (trials in flight are abandoned)."""
        for worker in self._workers:
            self._stop(worker)
        self._workers.clear()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- work ---------------------------------------------------------------------------------
    def submit(self, trials) -> None:
        self._queue.extend(trials)
        self._dispatch()

    def run(self, trials) -> list[Outcome]:
        """Submit ``trials`` (numbers unique among them) and wait for every one: their outcomes, in
        the order given. Use it on a pool with nothing else in flight."""
        trials = list(trials)
        self.submit(trials)
        done: dict[int, Outcome] = {}
        while len(done) < len(trials):
            for outcome in self.poll(0.2):
                done[outcome.trial.number] = outcome
        return [done[t.number] for t in trials]

    @property
    def pending(self) -> int:
        """Trials queued or in flight."""
        return len(self._queue) + sum(len(w.queued()) for w in self._workers)

    @property
    def idle_capacity(self) -> int:
        """How many more trials the workers could take right now without the queue running dry."""
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
        """Wait up to ``timeout`` seconds for progress; return the trials finished since last call."""
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
                                              worker.process.pid, payload["seconds"]))
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
        """Per live worker: pid, RSS (MB), CPU seconds so far, whether it is running a trial and
        whether it is ready (set up)."""
        stats = []
        for worker in self._workers:
            try:
                info = psutil.Process(worker.process.pid)
                times = info.cpu_times()
                stats.append({"pid": worker.process.pid, "rss_mb": info.memory_info().rss / 2**20,
                              "cpu_s": times.user + times.system, "busy": worker.running is not None,
                              "ready": worker.ready})
            except psutil.Error:
                continue
        return stats

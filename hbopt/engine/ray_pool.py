"""The Ray backend: backtest workers as Ray actors on every node of a cluster.

The driver (the optuna study, the sampler) stays in this process; only trials travel. Each actor
is one worker, set up once like a local one (:func:`hbopt.engine.worker.initialise`: network cut,
imports, the user's controllers, which are sent to it as files) and then runs trials, answering
each with the worker's ujson string.

Candles need no shared filesystem: a :class:`CandleServer` actor on the driver's node reads the
mirror and puts each series into Ray's object store once; every node fetches it from there once
and its actors read it without a copy.

Every actor holds at most :data:`_DEPTH` calls of one trial each, so the pool knows which trial
an actor is running (the oldest of its calls). An actor that dies, or whose node is lost, fails
that trial with the reason; its other calls go back to the queue and a new actor takes its
place. A trial running past ``trial_timeout`` is failed and its actor killed and replaced. An
actor whose RSS passes ``max_rss_mb`` takes no more calls and is replaced once its calls finish.
"""
from __future__ import annotations

import os
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

import ray
import ujson
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from hbopt import settings
from hbopt.engine.pool import Outcome, Pool, Trial, WorkerSetup
from hbopt.errors import ConfigError, HboptError, describe, from_description

_DEPTH = 2  # trials queued per actor: one running, one ready to start


@ray.remote(num_cpus=0)
class CandleServer:
    """Serves the driver's mirror: one object-store reference per series, put there once."""

    def __init__(self, home: str, mirror_dir: str):
        os.environ.update(HBOPT_HOME=home, HBOPT_MIRROR_DIR=mirror_dir)
        from hbopt.cache.mirror import Mirror

        self._mirror = Mirror.default()
        self._refs: dict[tuple, ray.ObjectRef] = {}

    def series(self, connector: str, pair: str, interval: str):
        """``[reference]`` to the candle array, or the error's description."""
        key = (connector, pair, interval)
        if key not in self._refs:
            try:
                self._refs[key] = ray.put(self._mirror.load(connector, pair, interval).__array__())
            except Exception as exc:
                return describe(exc)
        return [self._refs[key]]


@ray.remote(num_cpus=1, max_restarts=0)
class TrialActor:
    """One backtest worker."""

    def __init__(self, setup: WorkerSetup, controllers: dict[str, bytes] | None, server):
        from hbopt.engine import worker

        self._server, self._broken = server, None
        worker.ignore_interrupts()
        try:
            if controllers is not None:
                setup = WorkerSetup(_unpacked(controllers, setup.controllers_path), setup.cache_mb, setup.max_rss_mb)
            worker.initialise(setup, self._series)
        except Exception as exc:  # said by ready(): an actor whose constructor raises only says it died
            self._broken = describe(exc)

    def _series(self, connector: str, pair: str, interval: str):
        answer = ray.get(self._server.series.remote(connector, pair, interval))
        if isinstance(answer, str):
            raise from_description(answer)
        return ray.get(answer[0])

    def ready(self) -> dict:
        """Its pid and node, or why its set-up failed (``broken``)."""
        if self._broken:
            return {"broken": self._broken}
        return {"pid": os.getpid(), "node": ray.get_runtime_context().get_node_id()}

    def run(self, trial: Trial) -> tuple[str, int, float]:
        """The trial's answer, then this process's RSS (bytes) and CPU seconds."""
        import psutil

        from hbopt.engine import worker

        answer = worker.run_trial(trial)
        process = psutil.Process()
        times = process.cpu_times()
        return answer, worker.own_memory(process), times.user + times.system


def _packed(path: str) -> dict[str, bytes]:
    """A controllers folder's Python files, by path relative to it."""
    root = Path(path).expanduser().resolve()
    if not root.is_dir():
        raise ConfigError(f"controllers path {root} is not a folder")
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*.py") if "__pycache__" not in p.parts}


def _unpacked(files: dict[str, bytes], path: str) -> str:
    """Write a packed controllers folder under a fresh temporary folder, keeping its name (the
    package name the configs refer to); its path."""
    import tempfile

    root = Path(tempfile.mkdtemp(prefix="hbopt-controllers-")) / Path(path).expanduser().resolve().name
    for name, data in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    return str(root)


@dataclass
class _Actor:
    handle: object
    started: ray.ObjectRef                       # its ready() call
    info: dict | None = None                     # pid and node, once set up
    calls: deque = field(default_factory=deque)  # (trial, call reference), oldest first
    head_since: float = 0.0                      # when its oldest call could start
    rss: int = 0
    cpu_s: float = 0.0
    retiring: bool = False


class RayPool(Pool):
    """``workers`` actors on the Ray cluster at ``address`` (None: a Ray instance started on this
    machine; ``auto``: the cluster this machine belongs to), default one per CPU of the cluster."""

    def __init__(self, workers: int | None, setup: WorkerSetup = WorkerSetup(), trial_timeout: float | None = None,
                 address: str | None = None):
        self.setup, self.trial_timeout, self.replaced = setup, trial_timeout, 0
        self._controllers = _packed(setup.controllers_path) if setup.controllers_path else None
        try:
            ray.init(address=address, include_dashboard=False, log_to_driver=False, configure_logging=False,
                     ignore_reinit_error=True)
        except (ConnectionError, ValueError, RuntimeError) as exc:
            raise ConfigError(f"cannot join the Ray cluster at {address}: {exc}") from None
        self.size = workers or int(ray.cluster_resources().get("CPU", 1))
        if self.size < 1:
            raise HboptError("the pool needs at least one worker")
        node = ray.get_runtime_context().get_node_id()
        self._server = CandleServer.options(scheduling_strategy=NodeAffinitySchedulingStrategy(node, soft=False)).remote(
            str(settings.home()), str(settings.mirror_dir()))
        self._actors: list[_Actor] = []
        self._queue: deque[Trial] = deque()
        self._finished: list[Outcome] = []
        for _ in range(self.size):
            self._start_actor()

    # -- lifecycle ----------------------------------------------------------------------------
    def _start_actor(self) -> None:
        handle = TrialActor.remote(self.setup, self._controllers, self._server)
        self._actors.append(_Actor(handle, handle.ready.remote()))

    def _retire(self, actor: _Actor, failure: str | None) -> None:
        """Remove an actor; fail its running trial with ``failure``, requeue its other trials,
        start another in its place."""
        self._actors.remove(actor)
        ray.kill(actor.handle, no_restart=True)
        calls = list(actor.calls)
        if calls and failure is not None:
            trial, _ = calls.pop(0)
            self._finished.append(Outcome(trial, error=failure, worker=(actor.info or {}).get("pid"),
                                          seconds=time.monotonic() - actor.head_since))
        self._queue.extendleft(reversed([trial for trial, _ in calls]))
        if actor.info is None and failure is not None:
            raise type(from_description(failure))(f"a backtest worker could not start: {failure}")
        self.replaced += 1
        self._start_actor()

    def close(self) -> None:
        for actor in self._actors:
            ray.kill(actor.handle, no_restart=True)
        self._actors.clear()
        ray.kill(self._server, no_restart=True)

    # -- work ---------------------------------------------------------------------------------
    def submit(self, trials) -> None:
        self._queue.extend(trials)
        self._dispatch()

    @property
    def pending(self) -> int:
        return len(self._queue) + sum(len(a.calls) for a in self._actors)

    @property
    def idle_capacity(self) -> int:
        return max(0, self.size * _DEPTH - self.pending)

    def _dispatch(self) -> None:
        for actor in self._actors:
            while actor.info and not actor.retiring and len(actor.calls) < _DEPTH and self._queue:
                trial = self._queue.popleft()
                if not actor.calls:
                    actor.head_since = time.monotonic()
                actor.calls.append((trial, actor.handle.run.remote(trial)))

    def poll(self, timeout: float = 0.2) -> list[Outcome]:
        waiting = {a.started: a for a in self._actors if a.info is None}
        waiting.update({ref: a for a in self._actors if a.info for _, ref in list(a.calls)[:1]})
        if waiting:
            ready, _ = ray.wait(list(waiting), num_returns=1, timeout=timeout)
            if ready:
                ready, _ = ray.wait(list(waiting), num_returns=len(waiting), timeout=0)
            for ref in ready:
                self._settle(waiting[ref], ref)
        else:
            time.sleep(timeout)
        self._enforce_timeouts()
        self._dispatch()
        finished, self._finished = self._finished, []
        return finished

    def _settle(self, actor: _Actor, ref) -> None:
        """Take the result of an actor's finished call (its set-up or its oldest trial)."""
        if actor not in self._actors:
            return
        try:
            value = ray.get(ref)
        except ray.exceptions.RayActorError as exc:
            return self._retire(actor, _death(exc))
        if ref is actor.started:
            if "broken" in value:
                return self._retire(actor, value["broken"])
            actor.info = value
            return
        trial, _ = actor.calls.popleft()
        answer, actor.rss, actor.cpu_s = value
        payload = ujson.loads(answer)
        self._finished.append(Outcome(trial, payload.get("results", []), payload.get("error"), actor.info["pid"],
                                      payload["seconds"], payload.get("cpu_s", 0.0)))
        actor.head_since = time.monotonic()
        if self.setup.max_rss_mb and actor.rss > self.setup.max_rss_mb * 2**20:
            actor.retiring = True
        if actor.retiring and not actor.calls:
            self._retire(actor, None)

    def _enforce_timeouts(self) -> None:
        if not self.trial_timeout:
            return
        now = time.monotonic()
        for actor in list(self._actors):
            if actor.calls and now - actor.head_since > self.trial_timeout:
                self._retire(actor, f"timed out after {self.trial_timeout:g}s")

    # -- observation --------------------------------------------------------------------------
    def worker_stats(self) -> list[dict]:
        return [{"pid": a.info["pid"], "node": a.info["node"][:8], "rss_mb": a.rss / 2**20, "cpu_s": a.cpu_s,
                 "busy": bool(a.calls), "ready": True} for a in self._actors if a.info]


def _death(exc: Exception) -> str:
    """Why an actor's call failed: its process died, or its node was lost."""
    text = str(exc)
    if "node" in text.lower() and ("dead" in text.lower() or "died" in text.lower() or "lost" in text.lower()):
        return "the worker's node was lost"
    return "the worker died"

"""The seam between a search and where its backtests run: a :class:`Pool` takes :class:`Trial`
objects and hands back :class:`Outcome` objects as they finish.

Two backends implement it: :class:`~hbopt.engine.local_pool.LocalPool` (worker processes on
this machine) and :class:`~hbopt.engine.ray_pool.RayPool` (Ray actors on every node of a
cluster). Both set their workers up once the same way (:mod:`hbopt.engine.worker`), run batches
of trials in them, fail only the trials of a worker that dies or runs past ``trial_timeout``,
and replace workers whose memory passes ``max_rss_mb``. The search codes against this module
only; Ray is imported by its backend alone.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from hbopt.errors import ConfigError

BACKENDS = ("local", "ray")


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
    """A finished trial: ``results`` (one per backtest) or ``error``; which worker ran it, the
    seconds it took there (for a trial cut short, until the pool gave up on it) and the CPU
    seconds the worker spent on it (0 for a trial cut short)."""

    trial: Trial
    results: list[dict] = field(default_factory=list)
    error: str | None = None
    worker: int | str | None = None
    seconds: float = 0.0
    cpu_s: float = 0.0


class Pool:
    """What a backend offers: ``submit`` trials, ``poll`` for outcomes until ``pending`` is 0.

    ``size`` is the number of workers; ``idle_capacity`` how many more trials they could take now
    without running dry; ``replaced`` how many workers were replaced (died, timed out, recycled);
    ``worker_stats`` one dict per live worker (``pid``, ``rss_mb``: its own resident memory,
    :func:`~hbopt.engine.worker.own_memory`; ``cpu_s``, ``busy``, ``ready``,
    ``node``)."""

    size: int
    replaced: int = 0

    def submit(self, trials) -> None:
        raise NotImplementedError

    def poll(self, timeout: float = 0.2) -> list[Outcome]:
        """Wait up to ``timeout`` seconds for progress; the trials finished since the last call."""
        raise NotImplementedError

    @property
    def pending(self) -> int:
        """Trials queued or in flight."""
        raise NotImplementedError

    @property
    def idle_capacity(self) -> int:
        raise NotImplementedError

    def worker_stats(self) -> list[dict]:
        raise NotImplementedError

    def close(self) -> None:
        """Stop every worker now (trials in flight are abandoned)."""
        raise NotImplementedError

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

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


MIN_TRIAL_TIMEOUT = 1.0  # seconds: less than a short backtest's own set-up


def check_trial_timeout(trial_timeout: float | None) -> None:
    """A :class:`ConfigError` for a ``trial_timeout`` no trial could meet."""
    if trial_timeout is not None and not MIN_TRIAL_TIMEOUT <= trial_timeout < float("inf"):
        raise ConfigError(f"--trial-timeout must be at least {MIN_TRIAL_TIMEOUT:g} s (a backtest's set-up alone "
                          f"takes longer than {trial_timeout:g} s), and finite")


def make_pool(backend: str, workers: int | None, setup: WorkerSetup = WorkerSetup(),
              trial_timeout: float | None = None, address: str | None = None) -> Pool:
    """A pool of ``workers`` on ``backend`` (``local``: this machine's processes; ``ray``: the Ray
    cluster at ``address``, every CPU of it when ``workers`` is None)."""
    check_trial_timeout(trial_timeout)
    if backend == "ray":
        from hbopt.engine.ray_pool import RayPool

        return RayPool(workers, setup, trial_timeout=trial_timeout, address=address)
    from hbopt.engine.local_pool import LocalPool

    return LocalPool(workers, setup, trial_timeout=trial_timeout)

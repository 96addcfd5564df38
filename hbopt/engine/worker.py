"""What every backtest worker does, whichever backend hosts it: set itself up once, then run
trials and answer each with one ``ujson`` string.

Set-up cuts the network off, imports hummingbot and turbo once, makes the user's controllers
importable and serves candles from ``source`` (the mirror, or the arrays a Ray actor was sent)
through a bounded :class:`CandleWindows`.

Memory stays flat: Hummingbot's controllers and executors hold reference cycles, so a trial's
frames would wait for Python's rare full collection and a worker would grow by hundreds of MB.
Each trial ends with a full collection; after the first, everything still alive (imports,
caches) is frozen out of the collector's view, so that collection costs milliseconds.
"""
from __future__ import annotations

import gc
import signal
import time

import ujson

from hbopt.engine.pool import Trial, WorkerSetup
from hbopt.errors import describe

_state: dict = {}


def initialise(setup: WorkerSetup, source=None) -> None:
    """Set this process up as a backtest worker; ``source``: ``(connector, pair, interval) ->
    candle array`` (default: the mirror)."""
    from hbopt.cache.mirror import Mirror
    from hbopt.cache.windows import CandleWindows
    from hbopt.engine import offline
    from hbopt.engine.backtest import backtest
    from hbopt.engine.controllers import use_controllers_path

    offline.install()
    import hummingbot.strategy_v2.backtesting.backtesting_engine_base  # noqa: F401  (heavy import, once)
    import hbopt.engine.turbo  # noqa: F401
    _state.update(
        backtest=backtest, frozen=False,
        candles=CandleWindows(source or Mirror.default().load, max_bytes=int(setup.cache_mb * 2**20)),
        user_module=use_controllers_path(setup.controllers_path) if setup.controllers_path else None,
    )


def own_memory(process) -> int:
    """The bytes a worker (a ``psutil.Process``) holds of its own: its resident memory less the
    pages it shares through files (the mirror's memory-mapped candles, the libraries' code),
    which the page cache holds once for every worker and can drop. What ``--max-worker-mb``
    bounds, so a store of hundreds of pairs does not count against each worker that reads it."""
    info = process.memory_info()
    return info.rss - getattr(info, "shared", 0)


def ignore_interrupts() -> None:
    """Leave Ctrl-C to the driver: it decides when workers stop."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def run_trial(trial: Trial) -> str:
    """Run a trial's backtests in this worker; a ujson string of ``{"results": [...]}`` or
    ``{"error": "..."}`` (:func:`describe`'s text, which ``from_description`` turns back into the
    hbopt error it was, or an internal error), with the ``seconds`` its backtests took and the
    ``cpu_s`` this process spent on them, the collection of their garbage included."""
    cpu = time.process_time()
    answer = _answer(trial)
    _collect()  # the trial's objects are unreachable now
    answer["cpu_s"] = time.process_time() - cpu
    return ujson.dumps(answer)


def _answer(trial: Trial) -> dict:
    backtest = _state["backtest"]
    began = time.perf_counter()
    try:
        results = [backtest(**kwargs, candles=_state["candles"], user_module=_state["user_module"])
                   for kwargs in trial.backtests]
        return {"results": results, "seconds": time.perf_counter() - began}
    except Exception as exc:  # the trial failed, the worker goes on
        return {"error": describe(exc), "seconds": time.perf_counter() - began}


def _collect() -> None:
    gc.collect()
    if not _state["frozen"]:
        gc.freeze()
        _state["frozen"] = True

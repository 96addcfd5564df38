"""hbopt from Python (a notebook, a script): what ``hbopt backtest``, ``discover``, ``validate``
and ``walkforward`` do, with their options as keyword arguments (``--iter`` is ``n_trials``,
``--set k=v`` is ``sets={"k": v}``, ``--stock`` is ``engine="stock"``), returning what their
``--json`` prints. The command line is a thin layer over these functions::

    import hbopt

    result = hbopt.backtest(controller="bollinger", pair="BTC-USDT", days=30, sets={"bb_length": 100})
    [run] = hbopt.discover(controller="bollinger", pairs="BTC-USDT", days=30, n_trials=60, seed=1)
    run["best"][0]["params"]; run.study.trials_dataframe()   # run.study: the optuna study
    verdict = hbopt.validate(run["study"], min_dsr=0.9)
    [folds] = hbopt.walkforward(controller="bollinger", days=180, folds=4, n_trials=100)

A refused argument or missing data raises the :class:`hbopt.errors.HboptError` the command would
have printed (``ConfigError``, ``DataError``, ...); nothing is printed. ``on_stage(message)``,
where a function takes it, hears what the command would say on stderr.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import optuna

from hbopt.engine.controllers import controllers_module
from hbopt.engine.exchange.costs import DEFAULT_MODEL, DEFAULT_SLIPPAGE_BPS, Costs
from hbopt.errors import UsageError
from hbopt.search.spec import given_costs, study_spec, window_options
from hbopt.validation.thresholds import Thresholds

__all__ = ["backtest", "discover", "validate", "walkforward", "StudyRun"]

DEFAULT_BACKTEST_DAYS = 30
DEFAULT_MAX_WORKER_MB = 1024.0


class StudyRun(dict):
    """One study's summary as ``hbopt discover --json`` prints it, and the optuna study itself
    (``.study``, read back from its storage after the run)."""

    def __init__(self, summary: dict, study: optuna.Study):
        super().__init__(summary)
        self.study = study


def backtest(config: dict | str | Path | None = None, *, controller: str | None = None, connector: str | None = None,
             pair: str | None = None, sets: dict | None = None, days: float | None = None, start=None, end=None,
             resolution: str = "1m", trade_cost: float = 0.0006, costs: str = DEFAULT_MODEL,
             maker_fee: float | None = None, taker_fee: float | None = None,
             slippage: float = DEFAULT_SLIPPAGE_BPS, engine: str = "turbo", feature_timing: str = "close",
             controllers_path: str | Path | None = None, ledger: bool = False) -> dict:
    """Backtest one controller config: ``config`` (a mapping, or a YAML file's path) or
    ``controller`` by name, with ``connector``, ``pair`` and ``sets`` over it; on the last ``days``
    (30 without ``start``/``end``) or ``start`` to ``end``. Returns ``hbopt backtest --json``'s
    result, with ``ledger`` its ``"ledger"`` (every fill and executor) too."""
    from hbopt.engine import backtest as run_backtest
    from hbopt.safe_yaml import read_mapping

    if (config is None) == (controller is None):
        raise UsageError("give a config (a file or a mapping) or a controller by name, one of them")
    days, start, end = window_options(days, start, end)
    if isinstance(config, (str, Path)):
        config = read_mapping(Path(config), "a controller config")
    config = dict(config) if config is not None else {"controller_name": controller}
    config.update({k: v for k, v in (("connector_name", connector), ("trading_pair", pair)) if v})
    config.update(sets or {})
    return run_backtest(config, start, end, resolution, trade_cost, engine,
                        days=DEFAULT_BACKTEST_DAYS if days is None and start is None else days,
                        user_module=controllers_module(controllers_path), ledger=ledger,
                        feature_timing=feature_timing, costs=Costs(costs, maker_fee, taker_fee, slippage))


def discover(study_file: str | Path | None = None, *, n_trials: int = 100, study: str | None = None,
             storage: str | None = None, warm_start: str | None = None, warm_trials: int | None = None,
             top: int = 10, validate: bool = True, report: bool = True, workers: int | None = None,
             trial_timeout: float | None = None, max_worker_mb: float | None = DEFAULT_MAX_WORKER_MB,
             backend: str = "local", address: str | None = None,
             on_windows: Callable[[str, dict], None] = lambda name, windows: None,
             on_progress: Callable = lambda name, progress, pool: None,
             on_stage: Callable[[str], None] = lambda message: None, **options) -> list[StudyRun]:
    """Search a controller's parameters (``hbopt discover``): ``n_trials`` more trials of each
    study the study file and ``options`` make (those of :func:`hbopt.search.spec.study_spec`:
    ``controller``, ``pairs``, ``days``, ``seed``, ``sets``, ``costs``, ...), in the study named
    ``study`` (resumed if it exists), the best ``warm_trials`` (10) of study ``warm_start`` run
    first; then its top trials on the holdout and, with ``validate``, the verdict (its thresholds
    as keyword arguments too: ``min_dsr=0.9``). Every check that can refuse the run is made
    before any study, folder or worker exists. Returns a :class:`StudyRun` per study."""
    from hbopt.engine.backtest import mirrored_candles
    from hbopt.search.storage import StudyFolder, check_storage_url
    from hbopt.validation.studies import WARM_TRIALS, discover as run_discover, open_pool, plan_studies

    thresholds = _thresholds(options)
    if storage:
        check_storage_url(storage)
    if warm_trials is not None and not warm_start:
        raise UsageError("--warm-trials goes with --warm-start (warm_trials= with warm_start=)")
    pool_args = _pool_args(workers, options.get("controllers_path"), trial_timeout, max_worker_mb, backend, address,
                           on_stage)
    spec, user_module = study_spec(study_file, **options)
    candles = mirrored_candles()  # the run's: the mirror refreshed once, for planning and the pool
    plans = plan_studies(spec, study, storage, user_module, warm_start, warm_trials or WARM_TRIALS, candles)
    with open_pool(**pool_args, candles=candles) as pool:
        summaries = run_discover(spec, n_trials, pool, study, storage, user_module, report=report, validate=validate,
                                 thresholds=thresholds, top=top, plans=plans, on_windows=on_windows,
                                 on_progress=on_progress, on_stage=on_stage)
    return [StudyRun(s, StudyFolder(s["study"]).load()) for s in summaries]


def validate(name: str, *, top: int = 10, sets: dict | None = None, costs: str | None = None,
             maker_fee: float | None = None, taker_fee: float | None = None, slippage: float | None = None,
             controllers_path: str | Path | None = None, workers: int | None = None,
             trial_timeout: float | None = None, max_worker_mb: float | None = DEFAULT_MAX_WORKER_MB,
             backend: str = "local", address: str | None = None,
             on_stage: Callable[[str], None] = lambda message: None, **thresholds) -> dict:
    """Validate stored study ``name`` again (``hbopt validate``): its ``top`` trials on the
    holdout, the statistics, the neighbourhood and the cost stress, judged by ``thresholds``
    (:class:`hbopt.validation.thresholds.Thresholds`' fields: ``min_dsr=0.9``, ...). The runs it
    makes take ``sets`` (config fields) and the cost options over the study's own. Returns the
    validation, as ``--json`` prints it."""
    from hbopt.search.storage import StudyFolder
    from hbopt.search.studies import study_controllers
    from hbopt.validation.studies import validate as run_validate

    judged = _thresholds(thresholds)
    path = study_controllers(StudyFolder(name), controllers_path)
    user_module = controllers_module(path)
    pool_args = _pool_args(workers, path, trial_timeout, max_worker_mb, backend, address, on_stage)
    return run_validate(name, pool_args, user_module, judged, top, given_costs(costs, maker_fee, taker_fee, slippage),
                        sets, on_stage=on_stage)


def walkforward(study_file: str | Path | None = None, *, folds: int = 4, anchored: bool = False,
                n_trials: int = 100, study: str | None = None, workers: int | None = None,
                trial_timeout: float | None = None, max_worker_mb: float | None = DEFAULT_MAX_WORKER_MB,
                backend: str = "local", address: str | None = None,
                on_plan: Callable[[str, dict], None] = lambda name, plan: None,
                on_progress: Callable = lambda name, progress, pool: None,
                on_stage: Callable[[str], None] = lambda message: None, **options) -> list[dict]:
    """Walk-forward with re-optimisation (``hbopt walkforward``): ``folds`` test windows, each
    after a training window of ``n_trials`` trials (``anchored``: from the window's start);
    ``options`` as :func:`discover` takes them. Returns each walk-forward's result."""
    from hbopt.engine.backtest import mirrored_candles
    from hbopt.validation.studies import open_pool
    from hbopt.validation.walkforward import plan_walkforwards, walkforward as run_walkforward

    if not 1 <= folds <= 50:
        raise UsageError(f"folds must be from 1 to 50, not {folds}")
    pool_args = _pool_args(workers, options.get("controllers_path"), trial_timeout, max_worker_mb, backend, address,
                           on_stage)
    spec, user_module = study_spec(study_file, **options)
    candles = mirrored_candles()
    plans = plan_walkforwards(spec, folds, anchored, study, user_module, candles)
    with open_pool(**pool_args, candles=candles) as pool:
        return run_walkforward(spec, folds, n_trials, pool, anchored, study, user_module, plans=plans,
                               on_plan=on_plan, on_progress=on_progress)


def _thresholds(options: dict) -> Thresholds:
    """The :class:`Thresholds` named in ``options``, taken out of it."""
    names = [name for name in Thresholds().to_dict() if name in options]
    return Thresholds(**{name: options.pop(name) for name in names})


def _pool_args(workers, controllers_path, trial_timeout, max_worker_mb, backend, address, on_stage) -> dict:
    """The arguments of :func:`hbopt.validation.studies.open_pool`: a local pool sized to the cores
    and the memory unless ``workers`` says, said through ``on_stage`` when memory is the limit."""
    from hbopt.engine.local_pool import default_workers
    from hbopt.engine.pool import check_trial_timeout

    if backend == "local" and address:
        raise UsageError("--address needs --backend ray (address= with backend=\"ray\")")
    check_trial_timeout(trial_timeout)
    if backend == "local" and workers is None:
        workers, note = default_workers(max_worker_mb)
        if note:
            on_stage(f"note: {note}")
    return {"workers": workers, "trial_timeout": trial_timeout, "max_worker_mb": max_worker_mb, "backend": backend,
            "address": address, "controllers_path": controllers_path}

"""Walk-forward with re-optimisation: for each fold a fresh study on its training window, then
the fold's winner on the test window that follows (after a gap as long as a position can live).

Fold ``k`` of walk-forward ``NAME`` is an ordinary study, ``NAME-wfK`` (``hbopt study best
NAME-wfK`` shows it). The plan (the folds' windows) is fixed on the first run and kept in
``$HBOPT_HOME/walkforward/NAME/plan.json``; running again adds trials to each fold. The result,
``result.json`` and ``report.html`` beside it, is what ``hbopt validate NAME`` reads.
"""
from __future__ import annotations

import json
from dataclasses import replace
from typing import Callable

import numpy as np

from hbopt import settings
from hbopt.files import home_folder, read_json, write_text_atomic
from hbopt.engine.account import annual_sharpe, sharpe
from hbopt.engine.backtest import mirrored_candles
from hbopt.engine.pool import Pool, Trial
from hbopt.errors import ConfigError, DataError, HboptError, from_description
from hbopt.search.optimize import Progress
from hbopt.search.space import on_steps
from hbopt.search.spec import StudySpec
from hbopt.search.storage import StudyFolder
from hbopt.search.studies import open_study, ranked, run_trials, study_names
from hbopt.validation.report import write_walkforward_report
from hbopt.validation.checks import account_pnl, pair_series
from hbopt.validation.windows import DAY, data_windows, folds, require_warmup_fits


def walkforward_dir(name: str):
    return settings.home() / "walkforward" / name


def load_walkforward(name: str) -> dict | None:
    return read_json(walkforward_dir(name) / "result.json", f"walk-forward {name}: its result",
                     f"; running 'hbopt walkforward --study {name}' again writes it")


def plan(spec: StudySpec, k: int, anchored: bool, user_module: str | None, candles) -> dict:
    """Per pair, the folds' ``train`` and ``test`` windows over the spec's whole window on
    ``candles`` (the run's)."""
    found = data_windows(spec, user_module, candles)
    for pair, (whole, warmup) in found.whole.items():
        for n, (train, test) in enumerate(folds(whole, k, found.tick, found.gap, anchored), 1):
            require_warmup_fits(pair, warmup, train, f"fold {n} training")
            require_warmup_fits(pair, warmup, test, f"fold {n} test")
    return {"folds": k, "anchored": anchored, "gap": found.gap,
            "pairs": {pair: [{"train": train.as_list(), "test": test.as_list(), "warmup": warmup}
                             for train, test in folds(whole, k, found.tick, found.gap, anchored)]
                      for pair, (whole, warmup) in found.whole.items()}}


def _pinned_plan(name: str, k: int, anchored: bool) -> dict | None:
    """The plan walk-forward ``name`` pinned when it first ran (None if it never did); a
    ConfigError if it was made with other folds."""
    path, remedy = walkforward_dir(name) / "plan.json", f"; remove {walkforward_dir(name)} to plan it afresh"
    pinned = read_json(path, f"walk-forward {name}: its plan", remedy)
    if pinned is not None:
        if not isinstance(pinned.get("pairs"), dict) or {"folds", "anchored"} - set(pinned):
            raise DataError(f"walk-forward {name}: its plan {path} is damaged (it lacks folds, anchored or "
                            f"pairs){remedy}")
        if (pinned["folds"], pinned["anchored"]) != (k, anchored):
            raise ConfigError(f"walk-forward {name} exists with {pinned['folds']} "
                              f"{'anchored' if pinned['anchored'] else 'rolling'} folds; use the same, or another --study name")
    return pinned


def plan_walkforwards(spec: StudySpec, k: int, anchored: bool = False, study_name: str | None = None,
                      user_module: str | None = None, candles=None) -> list[tuple[str, StudySpec, dict]]:
    """``(name, spec, plan)`` of each walk-forward ``spec`` makes (one per pair, or one across
    pairs): its pinned plan, else one planned now on ``candles`` (the run's; None: the mirror's,
    refreshed now); every check that can refuse the run, with nothing written."""
    plans = []
    for name, study_spec in study_names(spec, study_name):
        study_spec = replace(study_spec, holdout=0.0)
        pinned = _pinned_plan(name, k, anchored)
        if pinned is None and candles is None:
            candles = mirrored_candles()
        plans.append((name, study_spec, pinned or plan(study_spec, k, anchored, user_module, candles)))
    return plans


def walkforward(spec: StudySpec, k: int, n_trials: int, pool: Pool, anchored: bool = False,
                study_name: str | None = None, user_module: str | None = None,
                plans: list[tuple[str, StudySpec, dict]] | None = None,
                on_plan: Callable[[str, dict], None] = lambda name, plan: None,
                on_progress: Callable[[str, Progress, Pool], None] = lambda name, p, pool: None) -> list[dict]:
    """Run each walk-forward ``spec`` makes (``plans``, from :func:`plan_walkforwards`: planned
    now if not given); returns each one's result (also written, with a report, to its folder,
    beside the plan it pins)."""
    results = []
    for name, study_spec, the_plan in plans if plans is not None else plan_walkforwards(spec, k, anchored, study_name,
                                                                                       user_module):
        folder = home_folder(walkforward_dir(name), "walk-forward folder")
        if not (folder / "plan.json").is_file():
            write_text_atomic(folder / "plan.json", json.dumps(the_plan))
        on_plan(name, the_plan)
        result = _run(name, study_spec, the_plan, n_trials, pool, user_module, on_progress)
        write_text_atomic(folder / "result.json", json.dumps(result, default=str))
        write_walkforward_report(folder / "report.html", result, study_spec.space)
        result["report"] = str(folder / "report.html")
        results.append(result)
    return results


def _run(name, spec: StudySpec, the_plan: dict, n_trials: int, pool: Pool, user_module, on_progress) -> dict:
    fold_rows = []
    for i in range(the_plan["folds"]):
        fold_name = f"{name}-wf{i + 1}"
        folder = StudyFolder(fold_name)
        folder.make()
        fold = {pair: folds_[i] for pair, folds_ in the_plan["pairs"].items()}
        windows = {pair: {"window": f["train"], "in_sample": f["train"], "holdout": None, "test": f["test"],
                          "warmup": f["warmup"], "gap": the_plan["gap"]} for pair, f in fold.items()}
        with folder.lock():
            study, _, spec = open_study(folder, spec, None, user_module, lambda: windows)
            run_trials(folder, study, spec, pool, n_trials, {p: tuple(f["train"]) for p, f in fold.items()},
                       lambda p: on_progress(f"{fold_name} (fold {i + 1}/{the_plan['folds']})", p, pool))
            trials = ranked(study)
        if not trials:
            raise HboptError(f"fold {i + 1}: no completed, feasible trial to take forward")
        winner = trials[0]
        test = {p: tuple(f["test"]) for p, f in fold.items()}
        [outcome] = pool.run([Trial(i, spec.backtests(winner.params, test))])
        if outcome.error:
            raise type(from_description(outcome.error))(f"fold {i + 1}: the winner failed on its test window: "
                                                        f"{outcome.error}")
        first_pair = fold[spec.pairs[0]]
        fold_rows.append({
            "fold": i + 1, "study": fold_name, "train": first_pair["train"], "test": first_pair["test"],
            "winner": winner.number, "params": on_steps(spec.space, winner.params), "train_value": winner.values[0],
            "test_value": spec.score(outcome.results)[0],
            "train_pnl": sum(m["account"]["pnl_quote"] for m in winner.user_attrs["metrics"]),
            "test_pnl": account_pnl(outcome.results),
            "capital": sum(r["account"]["capital_quote"] for r in outcome.results),
            "test_pnl_series": pair_series([r["pnl"]["values"] for r in outcome.results]).tolist(),
            "period": outcome.results[0]["pnl"]["period"],
        })
    return _summarise(name, spec, the_plan, n_trials, fold_rows)


def _summarise(name: str, spec: StudySpec, the_plan: dict, n_trials: int, rows: list[dict]) -> dict:
    stitched, starts = [], []
    for row in rows:
        starts.append(len(stitched))
        stitched += row["test_pnl_series"]
    period = rows[0]["period"]
    curve = np.cumsum(stitched)
    drawdown = float((np.maximum.accumulate(np.maximum(curve, 0)) - curve).max()) if len(curve) else 0.0
    test_days = sum((r["test"][1] - r["test"][0]) / DAY for r in rows)
    train_days = sum((r["train"][1] - r["train"][0]) / DAY for r in rows)
    train_rate = sum(r["train_pnl"] for r in rows) / train_days
    test_rate = sum(r["test_pnl"] for r in rows) / test_days
    return {
        "name": name, "folds": [{k: v for k, v in r.items() if k != "test_pnl_series"} for r in rows],
        "anchored": the_plan["anchored"], "gap": the_plan["gap"], "trials_per_fold": n_trials,
        "objective": spec.objectives[0].metric,
        "out_of_sample": {"pnl_quote": float(curve[-1]) if len(curve) else 0.0, "days": round(test_days, 3),
                          "sharpe_annual": annual_sharpe(sharpe(stitched), period),
                          "max_drawdown_quote": drawdown, "max_drawdown_pct": drawdown / rows[0]["capital"],
                          "period_s": period, "pnl": stitched, "fold_starts": starts},
        # the account's PnL per day out of sample over the folds' winners' PnL per day in sample
        "efficiency": test_rate / train_rate if train_rate > 0 else None,
        "profitable_folds": sum(r["test_pnl"] > 0 for r in rows) / len(rows),
        "stability": _stability(spec, rows),
    }


def _stability(spec: StudySpec, rows: list[dict]) -> dict:
    """How far each parameter of the winners moves between folds: for a number, the standard
    deviation of the winners' values over the parameter's range (0: the same every fold); for a
    choice, the share of folds that did not pick the most common one."""
    out = {}
    for param in spec.space:
        values = [r["params"].get(param.name) for r in rows if param.name in r["params"]]
        if not values:
            continue
        if param.type == "categorical":
            spread = 1 - max(values.count(v) for v in values) / len(values)
        else:
            spread = float(np.std(values) / (param.high - param.low)) if param.high > param.low else 0.0
        out[param.name] = {"values": values, "spread": round(spread, 4)}
    return out

"""Whether a study's best will hold: its holdout, the overfitting statistics of its trials, its
neighbourhood and a cost stress (the verdict they add up to is :mod:`hbopt.validation.verdict`).

The best is the study's own (the first of :func:`hbopt.search.studies.ranked`, chosen in sample);
the holdout only judges it, never re-ranks the trials, or it would stop being out of sample.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np
from scipy.stats import ttest_1samp

from hbopt.cache.candles import interval_seconds
from hbopt.engine.account import annual_sharpe, sharpe
from hbopt.engine.exchange.costs import Costs
from hbopt.engine.pool import Pool, Trial
from hbopt.search.space import nudged, on_steps
from hbopt.search.spec import StudySpec
from hbopt.search.studies import ranked
from hbopt.validation.statistics import deflated_sharpe, effective_trials, moments, pbo
from hbopt.validation.verdict import Thresholds, verdict_of


# ------------------------------------------------------------------------------ return statistics
def pair_series(values: list[list[float]], pair: int | None = None) -> np.ndarray:
    """One pair's series, or (``pair`` None) the pairs' sum over the periods they all have."""
    if pair is not None:
        return np.asarray(values[pair], dtype=float)
    shortest = min(len(v) for v in values)
    return np.sum([np.asarray(v[:shortest], dtype=float) for v in values], axis=0)


def pnl_matrix(trials, pair: int | None = None) -> tuple[np.ndarray, list, int]:
    """The trials' in-sample PnL per period, of pair number ``pair`` or summed over the pairs,
    one column per trial (those with a series of the most common length); the trials kept and
    the period in seconds."""
    series = [(t, pair_series(t.user_attrs["pnl"]["values"], pair), t.user_attrs["pnl"]["period"])
              for t in trials if t.user_attrs.get("pnl")]
    if not series:
        return np.zeros((0, 0)), [], 0
    lengths = [len(s) for _, s, _ in series]
    common = max(set(lengths), key=lengths.count)
    kept = [(t, s, p) for t, s, p in series if len(s) == common]
    return np.column_stack([s for _, s, _ in kept]), [t for t, _, _ in kept], kept[0][2]


def return_statistics(trials, best, blocks: int, pair: int | None = None) -> dict:
    """The deflated Sharpe ratio of ``best`` among ``trials`` and the PBO of the study, on pair
    number ``pair``'s PnL or on the pairs' summed PnL."""
    matrix, kept, period = pnl_matrix(trials, pair)
    if best not in kept:
        return {"error": "the best trial has no PnL series (a study from before hbopt recorded them)"}
    column = kept.index(best)
    periods = matrix.shape[0]
    sharpes = np.array([sharpe(matrix[:, i]) for i in range(matrix.shape[1])])
    # The trials' spread of Sharpe ratios, but never less than one estimate's own sampling variance
    # under the null (1 / (T - 1)): correlated trials move together and would understate it.
    variance = max(float(sharpes.var(ddof=1)) if len(sharpes) > 1 else 0.0, 1 / max(periods - 1, 1))
    n_eff = effective_trials(matrix)
    skew, kurtosis = moments(matrix[:, column])
    dsr, sr0 = deflated_sharpe(float(sharpes[column]), n_eff, variance, periods, skew, kurtosis)
    out = {"periods": periods, "period_s": period, "trials": len(kept), "effective_trials": n_eff,
           "best_sharpe": float(sharpes[column]), "best_sharpe_annual": annual_sharpe(float(sharpes[column]), period),
           "sharpe_variance": variance, "skew": skew, "kurtosis": kurtosis, "expected_max_sharpe": sr0, "dsr": dsr}
    try:
        result = pbo(matrix, blocks)
        counts, edges = np.histogram(np.clip(result.logits, -6, 6), bins=24, range=(-6, 6))
        out.update(pbo=result.probability, pbo_splits=result.splits, pbo_blocks=blocks,
                   pbo_histogram={"edges": edges.tolist(), "counts": counts.tolist()})
    except ValueError as exc:
        out.update(pbo=None, pbo_error=str(exc))
    return out


# ------------------------------------------------------------------------------ the holdout's evidence
def trial_pnl(trial) -> float | None:
    """What a trial's accounts made in sample (quote), summed over its pairs (None for a trial
    recorded before hbopt kept an account)."""
    accounts = [m.get("account") for m in trial.user_attrs.get("metrics") or []]
    return float(sum(a["pnl_quote"] for a in accounts)) if accounts and all(accounts) else None


def one_sided_p(series) -> float | None:
    """The p-value of a one-sided Student t-test that the series' mean is above 0 (None with
    fewer than 3 periods; 0 or 1 for a series that never moves, by its sign)."""
    series = np.asarray(series, dtype=float)
    if len(series) < 3:
        return None
    if float(series.std()) == 0.0:
        return 0.0 if series[0] > 0 else 1.0
    return float(ttest_1samp(series, 0.0, alternative="greater").pvalue)


def holdout_evidence(rows: list[dict], trials, windows: dict, tick: int) -> dict:
    """What the top trials' holdout says against their in-sample run, over the ``rows`` that ran
    (the top trials, best first): ``trials`` how many; ``profitable`` and ``profitable_in_sample``
    how many made money; ``median_rate`` and ``median_rate_in_sample`` their median PnL per day;
    ``best_rate`` and ``best_rate_in_sample`` the best's; ``p_value`` (``p_value_in_sample``)
    the one-sided t-test that the top trials' mean PnL per period is above 0 on the holdout (in
    sample); ``days`` and ``days_in_sample`` the windows' lengths (``[start, end]`` of ``tick``-second candles)."""
    done = [r for r in rows if r["holdout_pnl"] is not None and r["in_sample_pnl"] is not None]
    days = {w: (windows[w][1] - windows[w][0] + tick) / 86400 for w in ("holdout", "in_sample")}
    by_number = {t.number: t for t in trials}

    def mean_series(series: list[np.ndarray]) -> np.ndarray:
        shortest = min((len(s) for s in series), default=0)
        return np.mean([s[:shortest] for s in series], axis=0) if series else np.zeros(0)

    holdout_series = [pair_series([p["values"] for p in r["pnl"]]) for r in done]
    in_sample_series = [pair_series(by_number[r["number"]].user_attrs["pnl"]["values"]) for r in done
                        if by_number[r["number"]].user_attrs.get("pnl")]
    out_pnl, in_pnl = [r["holdout_pnl"] for r in done], [r["in_sample_pnl"] for r in done]
    best = done[0] if done and done[0] is rows[0] else None
    return {"trials": len(done), "days": days["holdout"], "days_in_sample": days["in_sample"],
            "profitable": sum(v > 0 for v in out_pnl), "profitable_in_sample": sum(v > 0 for v in in_pnl),
            "median_rate": float(np.median(out_pnl)) / days["holdout"] if done else None,
            "median_rate_in_sample": float(np.median(in_pnl)) / days["in_sample"] if done else None,
            "median_pnl": float(np.median(out_pnl)) if done else None,
            "best_rate": best["holdout_pnl"] / days["holdout"] if best else None,
            "best_rate_in_sample": best["in_sample_pnl"] / days["in_sample"] if best else None,
            "p_value": one_sided_p(mean_series(holdout_series)),
            "p_value_in_sample": one_sided_p(mean_series(in_sample_series))}


# ------------------------------------------------------------------------------ backtests to run
def account_pnl(results: list[dict]) -> float:
    """What the accounts of one parameter set's backtests made (quote), summed over its pairs."""
    return float(sum(r["account"]["pnl_quote"] for r in results))


def _per_pair(spec: StudySpec, results: list[dict]) -> dict:
    """Each pair's account, and Hummingbot's own net PnL and executor count beside it."""
    return {pair: {"account": r["account"], "net_pnl_quote": r.get("net_pnl_quote"),
                   "total_executors": r.get("total_executors")}
            for pair, r in zip(spec.pairs, results)}


def _score(spec: StudySpec, outcome) -> float | None:
    if outcome.error:
        return None
    try:
        return spec.score(outcome.results)[0]
    except ValueError:
        return None


def _gain(spec: StudySpec, value: float) -> float:
    """A score where higher is better, whatever the objective's direction."""
    return value if spec.objectives[0].direction == "maximize" else -value


#: How many of the top trials get their ledger (every fill) written to the study folder.
LEDGER_TRIALS = 3


def _with_ledger(backtests: tuple[dict, ...], ledger: bool) -> tuple[dict, ...]:
    return tuple({**b, "ledger": True} for b in backtests) if ledger else backtests


def neighbourhood_points(spec: StudySpec, params: dict, important: list[str]) -> tuple[list[dict], list[str]]:
    """The best's parameters nudged one step either way, one at a time, and every combination of
    the two most important numeric ones (for the heatmap), leaving out points that break a
    relation of the space; the two names."""
    numeric = [n for n in important if n in params and isinstance(params[n], (int, float))
               and not isinstance(params[n], bool)][:2]
    points = [point for name in params for point in nudged(list(spec.space), params, [name])]
    if len(numeric) == 2:
        points += nudged(list(spec.space), params, numeric)
    unique = {tuple(sorted(p.items(), key=lambda kv: kv[0])): p for p in points if spec.allows(p)}
    return list(unique.values()), numeric


def validate_study(spec: StudySpec, study, windows: dict, pool: Pool, thresholds: Thresholds,
                   top: int = 10, walkforward: dict | None = None, important: list[str] | None = None,
                   full: bool = True) -> dict:
    """Validate a study: ``windows`` per pair ``{"in_sample": [s, e], "holdout": [s, e] or None}``;
    the ``top`` trials are backtested on the holdout; ``walkforward`` is a walk-forward result of
    the same study file, if any; ``important`` the parameters by importance (for the heatmap).
    Not ``full``: the holdout of the top trials only, no statistics and no verdict. ``ledgers``
    holds the ledgers of the :data:`LEDGER_TRIALS` best, by (trial number, pair, window)."""
    trials = ranked(study)
    if not trials:
        return verdict_of({"error": "no completed, feasible trial"}, thresholds, walkforward)
    best = trials[0]
    in_sample = {pair: windows[pair]["in_sample"] for pair in spec.pairs}
    holdout = {pair: windows[pair]["holdout"] for pair in spec.pairs} if all(
        windows[pair].get("holdout") for pair in spec.pairs) else None
    stressed = replace(spec, trade_cost=spec.trade_cost * thresholds.cost_multiple,
                       costs=spec.costs.stressed(thresholds.cost_multiple))
    ledgers = trials[:LEDGER_TRIALS]
    points, heat_axes = neighbourhood_points(spec, best.params, important or list(best.params)) if full else ([], [])
    jobs = [("holdout", t, _with_ledger(spec.backtests(t.params, holdout), t in ledgers))
            for t in trials[:top]] if holdout else []
    jobs += [("in_sample_ledger", t, _with_ledger(spec.backtests(t.params, in_sample), True)) for t in ledgers]
    if holdout and not spec.costs.exchange:  # how much of the holdout's PnL was Hummingbot's fill model
        jobs.append(("exchange_holdout", best.params, replace(spec, costs=Costs("exchange")).backtests(best.params,
                                                                                                        holdout)))
    if full:
        jobs += [("neighbour", p, spec.backtests(p, in_sample)) for p in points]
        jobs.append(("stress_in_sample", best.params, stressed.backtests(best.params, in_sample)))
        if holdout:
            jobs.append(("stress_holdout", best.params, stressed.backtests(best.params, holdout)))
    outcomes = pool.run(Trial(i, backtests) for i, (_, _, backtests) in enumerate(jobs))

    out = {"best": best.number, "params": on_steps(spec.space, best.params), "in_sample_value": best.values[0], "windows": windows,
           "direction": spec.objectives[0].direction}
    rows, neighbours = [], []
    stress = {"model": spec.costs.model, "multiple": thresholds.cost_multiple, "trade_cost": stressed.trade_cost}
    out["ledgers"] = {}
    for (kind, subject, _), outcome in zip(jobs, outcomes):
        if not outcome.error and "ledger" in outcome.results[0]:
            window = "holdout" if kind == "holdout" else "in-sample"
            out["ledgers"].update({(subject.number, pair, window): r.pop("ledger")
                                   for pair, r in zip(spec.pairs, outcome.results)})
        if kind == "in_sample_ledger":
            continue
        if kind == "holdout":
            rows.append({"number": subject.number, "params": on_steps(spec.space, subject.params), "in_sample": subject.values[0],
                         "holdout": _score(spec, outcome), "error": outcome.error,
                         "in_sample_pnl": trial_pnl(subject),
                         "holdout_pnl": None if outcome.error else account_pnl(outcome.results),
                         "pairs": _per_pair(spec, outcome.results) if not outcome.error else {},
                         **({"pnl": [r["pnl"] for r in outcome.results]} if not outcome.error else {})})
        elif kind == "exchange_holdout":
            out["exchange_holdout"] = {"pnl_quote": None if outcome.error else account_pnl(outcome.results),
                                       "error": outcome.error}
        elif kind == "neighbour":
            neighbours.append({"params": {k: v for k, v in subject.items() if v != best.params.get(k)},
                               "value": _score(spec, outcome), "error": outcome.error})
        else:
            stress[kind.removeprefix("stress_")] = None if outcome.error else account_pnl(outcome.results)
    out["holdout"] = rows
    if not full:
        return out
    if holdout:
        out["holdout_evidence"] = holdout_evidence(rows, trials, windows[spec.pairs[0]], interval_seconds(spec.resolution))
    out["statistics"] = return_statistics(trials, best, thresholds.pbo_blocks)
    if len(spec.pairs) > 1:  # one parameter set over several pairs: each pair judged on its own too
        out["pair_statistics"] = {pair: return_statistics(trials, best, thresholds.pbo_blocks, i)
                                  for i, pair in enumerate(spec.pairs)}
    out["neighbourhood"] = _neighbourhood(spec, best, neighbours, heat_axes, thresholds)
    out["stress"] = stress
    return verdict_of(out, thresholds, walkforward)


def _neighbourhood(spec: StudySpec, best, neighbours: list[dict], axes: list[str], thresholds: Thresholds) -> dict:
    """The neighbours' scores against the best's: ``holds`` when their median keeps the
    threshold's share of it (in the objective's direction)."""
    values = [n["value"] for n in neighbours if n["value"] is not None]
    best_gain = _gain(spec, best.values[0])
    median = float(np.median(values)) if values else None
    floor = best_gain - (1 - thresholds.neighbourhood) * abs(best_gain)
    out = {"points": neighbours, "best": best.values[0], "median": median,
           "min": min(values, default=None), "max": max(values, default=None),
           "holds": median is not None and _gain(spec, median) >= floor}
    if len(axes) == 2:
        x, y = axes
        grid = {(n["params"].get(x, best.params[x]), n["params"].get(y, best.params[y])): n["value"]
                for n in neighbours if set(n["params"]) <= {x, y}}
        grid[(best.params[x], best.params[y])] = best.values[0]
        xs, ys = sorted({k[0] for k in grid}), sorted({k[1] for k in grid})
        out["heatmap"] = {"x": x, "y": y, "xs": xs, "ys": ys, "values": [[grid.get((a, b)) for a in xs] for b in ys],
                          "best": [best.params[x], best.params[y]]}
    return out

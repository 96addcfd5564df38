"""The verdict a validation adds up to, judged by :class:`Thresholds` (data for cron: a fail
is not an error)."""
from __future__ import annotations

from hbopt.validation.thresholds import Thresholds


def verdict_of(validation: dict, thresholds: Thresholds, walkforward: dict | None) -> dict:
    """``validation`` with ``verdict`` (pass | fail) and ``reasons``: each check with its figure,
    the in-sample figure it is compared with (``in_sample``, None where there is none), its
    threshold, whether it passed and whether a pass requires it.

    The holdout is judged on the top trials together, not on the best alone, so that a study
    whose best changes as trials are added keeps its verdict unless the evidence changed."""
    reasons = []

    def check(name, figure, threshold, passed, required=True, note=None, in_sample=None):
        reasons.append({"check": name, "figure": figure, "in_sample": in_sample, "threshold": threshold,
                        "passed": bool(passed), "required": required, **({"note": note} if note else {})})

    if "error" in validation:
        check("trials", None, None, False, note=validation["error"])
    else:
        evidence = validation.get("holdout_evidence")
        if evidence is not None:
            _holdout_checks(check, evidence, thresholds)
        if walkforward is not None:
            check("walk-forward PnL (account)", walkforward["out_of_sample"]["pnl_quote"], f"> {thresholds.min_oos_pnl:g}",
                  walkforward["out_of_sample"]["pnl_quote"] > thresholds.min_oos_pnl)
        if evidence is None and walkforward is None:
            check("out-of-sample result", None, f"> {thresholds.min_oos_pnl:g}", False,
                  note="none: run discover with a holdout, or hbopt walkforward on the same study file")
        best_row = next((r for r in validation["holdout"] if r["number"] == validation["best"]), None)
        stats = validation["statistics"]
        if "error" in stats:
            check("deflated Sharpe ratio", None, f">= {thresholds.min_dsr:g}", False, note=stats["error"])
            check("PBO", None, f"< {thresholds.max_pbo:g}", False, note=stats["error"])
        else:
            check("deflated Sharpe ratio", stats["dsr"], f">= {thresholds.min_dsr:g}", stats["dsr"] >= thresholds.min_dsr)
            check("PBO", stats["pbo"], f"< {thresholds.max_pbo:g}",
                  stats["pbo"] is not None and stats["pbo"] < thresholds.max_pbo, note=stats.get("pbo_error"))
        for pair, pair_stats in validation.get("pair_statistics", {}).items():  # shown, not required
            pnl = best_row["pairs"][pair]["account"]["pnl_quote"] if best_row and not best_row["error"] else None
            if pnl is not None:
                check(f"{pair}: the best's holdout PnL (account)", pnl, f"> {thresholds.min_oos_pnl:g}",
                      pnl > thresholds.min_oos_pnl, required=False)
            if "error" not in pair_stats:
                check(f"{pair}: deflated Sharpe ratio", pair_stats["dsr"], f">= {thresholds.min_dsr:g}",
                      pair_stats["dsr"] >= thresholds.min_dsr, required=False)
                check(f"{pair}: PBO", pair_stats["pbo"], f"< {thresholds.max_pbo:g}",
                      pair_stats["pbo"] is not None and pair_stats["pbo"] < thresholds.max_pbo, required=False)
        hood = validation["neighbourhood"]
        check("neighbourhood median", hood["median"], f"keeps {thresholds.neighbourhood:g} of the best's",
              hood["holds"], in_sample=hood["best"])
        stress = validation["stress"]
        at = "holdout" if stress.get("holdout") is not None else "in_sample"
        stressed = "fees and slippage" if stress.get("model") == "exchange" else "trade cost"
        check(f"PnL (account) at {thresholds.cost_multiple:g}x {stressed} ({at.replace('_', '-')})", stress.get(at), "> 0",
              (stress.get(at) or 0) > 0, required=False, in_sample=stress.get("in_sample") if at == "holdout" else None)
    if walkforward is not None:
        validation["walkforward"] = {k: walkforward[k] for k in ("name", "folds", "out_of_sample", "efficiency",
                                                                   "profitable_folds") if k in walkforward}
    validation["reasons"] = reasons
    validation["verdict"] = "pass" if all(r["passed"] for r in reasons if r["required"]) else "fail"
    validation["thresholds"] = thresholds.to_dict()
    return validation


def _holdout_checks(check, evidence: dict, thresholds: Thresholds) -> None:
    """The holdout's checks (:func:`hbopt.validation.checks.holdout_evidence`): the share of the
    top trials that profit, their median PnL per day against their in-sample one, a t-test of
    their mean PnL per period (all required), and the best's PnL per day (shown)."""
    n = evidence["trials"]
    if not n:
        check("top trials on the holdout", None, None, False, note="no top trial's holdout backtest finished")
        return
    check(f"top {n} trials profitable on the holdout", evidence["profitable"] / n, f">= {thresholds.min_profitable:g}",
          evidence["profitable"] / n >= thresholds.min_profitable, in_sample=evidence["profitable_in_sample"] / n,
          note=f"{evidence['profitable']} of {n} made more than {thresholds.min_oos_pnl:g}"
          if thresholds.min_oos_pnl else f"{evidence['profitable']} of {n}")
    rate, rate_in = evidence["median_rate"], evidence["median_rate_in_sample"]
    check(f"top {n} trials' median PnL per day (account, holdout)", rate,
          f">= {thresholds.min_rate_ratio:g}x in-sample, and PnL > {thresholds.min_oos_pnl:g}",
          evidence["median_pnl"] > thresholds.min_oos_pnl and rate >= thresholds.min_rate_ratio * rate_in, in_sample=rate_in,
          note=f"{evidence['days']:.3g} days of holdout, {evidence['days_in_sample']:.3g} in sample")
    p, p_in = evidence["p_value"], evidence["p_value_in_sample"]
    check(f"top {n} trials' mean holdout PnL per period > 0 (t-test p)", p, f"<= {thresholds.max_p_value:g}",
          p is not None and p <= thresholds.max_p_value, in_sample=p_in,
          note=None if p is not None else "fewer than 3 periods in the holdout")
    if evidence["best_rate"] is not None:
        check("the best's PnL per day (account, holdout)", evidence["best_rate"],
              f">= {thresholds.min_rate_ratio:g}x in-sample", evidence["best_rate"] >= thresholds.min_rate_ratio
              * evidence["best_rate_in_sample"], required=False, in_sample=evidence["best_rate_in_sample"])

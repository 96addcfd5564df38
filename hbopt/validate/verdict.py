"""The verdict a validation adds up to, judged by :class:`Thresholds` (data for cron: a fail
is not an error)."""
from __future__ import annotations

from hbopt.validate.thresholds import Thresholds


def verdict_of(validation: dict, thresholds: Thresholds, walkforward: dict | None) -> dict:
    """``validation`` with ``verdict`` (pass | fail) and ``reasons``: each check with its figure,
    its threshold, whether it passed and whether a pass requires it."""
    reasons = []

    def check(name, figure, threshold, passed, required=True, note=None):
        reasons.append({"check": name, "figure": figure, "threshold": threshold, "passed": bool(passed),
                        "required": required, **({"note": note} if note else {})})

    if "error" in validation:
        check("trials", None, None, False, note=validation["error"])
    else:
        best_row = next((r for r in validation["holdout"] if r["number"] == validation["best"]), None)
        oos = []
        if best_row is not None:
            figure = None if best_row["error"] else sum(p["account"]["pnl_quote"] for p in best_row["pairs"].values())
            oos.append(("holdout PnL (account)", figure, best_row["error"]))
        if walkforward is not None:
            oos.append(("walk-forward PnL (account)", walkforward["out_of_sample"]["pnl_quote"], None))
        for name, figure, error in oos:
            check(name, figure, f"> {thresholds.min_oos_pnl:g}", figure is not None and figure > thresholds.min_oos_pnl,
                  note=error)
        if not oos:
            check("out-of-sample result", None, f"> {thresholds.min_oos_pnl:g}", False,
                  note="none: run discover with a holdout, or hbopt walkforward on the same study file")
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
                check(f"{pair}: holdout PnL (account)", pnl, f"> {thresholds.min_oos_pnl:g}", pnl > thresholds.min_oos_pnl,
                      required=False)
            if "error" not in pair_stats:
                check(f"{pair}: deflated Sharpe ratio", pair_stats["dsr"], f">= {thresholds.min_dsr:g}",
                      pair_stats["dsr"] >= thresholds.min_dsr, required=False)
                check(f"{pair}: PBO", pair_stats["pbo"], f"< {thresholds.max_pbo:g}",
                      pair_stats["pbo"] is not None and pair_stats["pbo"] < thresholds.max_pbo, required=False)
        hood = validation["neighbourhood"]
        check("neighbourhood median", hood["median"],
              f"keeps {thresholds.neighbourhood:g} of the best's {hood['best']:.4g}", hood["holds"])
        stress = validation["stress"]
        at = "holdout" if stress.get("holdout") is not None else "in_sample"
        stressed = "fees and slippage" if stress.get("model") == "exchange" else "trade cost"
        check(f"PnL (account) at {thresholds.cost_multiple:g}x {stressed} ({at.replace('_', '-')})", stress.get(at), "> 0",
              (stress.get(at) or 0) > 0, required=False)
    if walkforward is not None:
        validation["walkforward"] = {k: walkforward[k] for k in ("name", "folds", "out_of_sample", "efficiency",
                                                                   "profitable_folds") if k in walkforward}
    validation["reasons"] = reasons
    validation["verdict"] = "pass" if all(r["passed"] for r in reasons if r["required"]) else "fail"
    validation["thresholds"] = thresholds.to_dict()
    return validation

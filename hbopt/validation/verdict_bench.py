"""``hbopt bench --verdict``: whether the verdict holds from seed to seed and as a study grows.

Two synthetic markets of the same length and seed: a random walk, on which no parameter set has
an edge, searched without costs (nothing to fail on but chance, so a pass would be a false
positive), and a random walk with a mean-reverting component that Bollinger bands trade, under
the exchange's costs (a fail would be a false negative). On each, one TPE study of the
bollinger built-in over five parameters per study seed, validated after the first checkpoint's
trials and again after resuming it to each later one. The verdict should be ``fail`` on every
walk and ``pass`` on every revert, whatever the seed and however many trials.
"""
from __future__ import annotations

from typing import Callable

from hbopt.cache.scratch import scratch_market

CONNECTOR = "binance_perpetual"
MARKETS = {"walk": "BTC-USDT", "revert": "ETH-USDT"}  # regime -> the pair its candles are stored as
SEEDS = (1, 2, 3, 4, 5)
CHECKPOINTS = (60, 160)
SPACE = {"bb_length": {"type": "int", "low": 20, "high": 200, "step": 10},
         "bb_std": {"type": "float", "low": 1.0, "high": 3.0, "step": 0.1},
         "take_profit": {"type": "float", "low": 0.002, "high": 0.02, "step": 0.001},
         "stop_loss": {"type": "float", "low": 0.004, "high": 0.03, "step": 0.002},
         "time_limit": {"type": "int", "low": 1800, "high": 14400, "step": 1800}}
COSTS = {"walk": {"model": "exchange", "maker_fee": 0, "taker_fee": 0, "slippage_bps": 0}, "revert": "exchange"}


def run_verdict_bench(days: float = 40, market_seed: int = 5, seeds=SEEDS, checkpoints=CHECKPOINTS,
                      resolution: str = "1m", workers: int | None = None, progress: Callable[[str], None] = lambda message: None) -> list[dict]:
    """A row per (market, seed, checkpoint): the ``verdict``, the ``best`` trial's number and
    in-sample value, the top trials' holdout evidence, the deflated Sharpe ratio and PBO, and
    the required checks that ``failed``. The study's window is ``days`` less 4 days of warm-up, its
backtests at ``resolution``."""
    from hbopt.search.spec import build_spec
    from hbopt.validation.studies import discover, open_pool

    rows = []
    with scratch_market(CONNECTOR, {pair: regime for regime, pair in MARKETS.items()}, days, market_seed), \
            open_pool(workers) as pool:
        for regime, pair in MARKETS.items():
            for seed in seeds:
                spec = build_spec({"controller": "bollinger", "connector": CONNECTOR, "pairs": [pair], "engine": "turbo",
                                   "window": {"days": days - 4}, "seed": seed, "space": SPACE, "costs": COSTS[regime],
                                   "resolution": resolution},
                                  {}, None, lambda connector: [pair])
                done = 0
                for trials in checkpoints:
                    progress(f"{regime}, seed {seed}: {trials} trials")
                    [summary] = discover(spec, trials - done, pool, study_name=f"{regime}-{seed}", report=False)
                    done = trials
                    rows.append(_row(regime, seed, trials, summary))
    return rows


def _row(regime: str, seed: int, trials: int, summary: dict) -> dict:
    validation = summary["validation"]
    evidence, stats = validation["holdout_evidence"], validation["statistics"]
    return {"market": regime, "seed": seed, "trials": trials, "verdict": validation["verdict"],
            "best": validation["best"], "best_in_sample": validation["in_sample_value"],
            "profitable": evidence["profitable"], "top": evidence["trials"], "median_rate": evidence["median_rate"],
            "median_rate_in_sample": evidence["median_rate_in_sample"], "p_value": evidence["p_value"],
            "dsr": stats.get("dsr"), "pbo": stats.get("pbo"),
            "failed": [r["check"] for r in validation["reasons"] if r["required"] and not r["passed"]]}

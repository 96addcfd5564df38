"""Backtest engines, run offline on mirrored candles. Knows nothing about optuna."""
from hbopt.engine.backtest import DEFAULT_TRADE_COST, ENGINES, FEATURE_TIMINGS, backtest, data_window

__all__ = ["backtest", "data_window", "ENGINES", "FEATURE_TIMINGS", "DEFAULT_TRADE_COST"]

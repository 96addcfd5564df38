"""Backtest engines, run offline on mirrored candles. Knows nothing about optuna."""
from hbopt.engine.backtest import DEFAULT_TRADE_COST, ENGINES, backtest

__all__ = ["backtest", "ENGINES", "DEFAULT_TRADE_COST"]

"""The turbo engine: Hummingbot's backtest results, from array-based simulation."""
from hbopt.engine.turbo.engine import TurboBacktestingEngine
from hbopt.engine.turbo.policies import Unsupported

__all__ = ["TurboBacktestingEngine", "Unsupported"]

"""The exchange model in both engines: which life each executor type gets (:func:`life_of`), and
hbopt's stock engine's simulator built on Hummingbot's simulator base.

The simulator builds the frame Hummingbot's engine reads an executor's state from (a row per
tick from its creation to its close) out of the executor's life under the exchange model
(:mod:`.positions`, :mod:`.orders`, :mod:`.grids`), and hands its fills on in
``custom_info["fills"]``, up to the row read, for the account. Executor types with no exchange
model are refused, not simulated under Hummingbot's rules unannounced.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd
from hummingbot.strategy_v2.backtesting.executor_simulator_base import ExecutorSimulation, ExecutorSimulatorBase
from hummingbot.strategy_v2.executors.dca_executor.data_types import DCAExecutorConfig
from hummingbot.strategy_v2.executors.grid_executor.data_types import GridExecutorConfig
from hummingbot.strategy_v2.executors.order_executor.data_types import OrderExecutorConfig
from hummingbot.strategy_v2.executors.position_executor.data_types import PositionExecutorConfig
from hummingbot.strategy_v2.models.executors import CloseType

from hbopt.engine.exchange.costs import unmodelled
from hbopt.engine.exchange.grids import GridLife
from hbopt.engine.exchange.orders import OrderLife
from hbopt.engine.exchange.positions import PositionLife


class Candles(NamedTuple):
    """The ticks an executor lives on, as arrays (turbo's ``Market`` has the same attributes)."""

    ts: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray


def life_of(config, candles, start: int, end: int, engine):
    """The life of an executor ``engine`` (hbopt's stock engine or turbo) creates on tick ``start``
    of ``candles``, living at most to ``end``, under the exchange model; None for a type neither
    engine simulates (Hummingbot drops those)."""
    costs, increment = engine.connector_costs(config), engine.price_increment(config, float(candles.close[start]))
    if isinstance(config, PositionExecutorConfig):
        return PositionLife(config, candles, start, end, costs, increment)
    if isinstance(config, OrderExecutorConfig):
        return OrderLife(config, candles, start, end, costs, increment)
    if isinstance(config, GridExecutorConfig):
        return GridLife(config, candles, start, end, costs, increment, engine.trading_rules(config))
    if isinstance(config, DCAExecutorConfig):
        unmodelled("DCA")
    return None


class ExchangeSimulation(ExecutorSimulation):
    """Hummingbot's simulation of one executor, with the fills of its life."""

    fills: list = []

    def get_custom_info(self, last_entry: pd.Series) -> dict:
        return {**super().get_custom_info(last_entry),
                "fills": [f for f in self.fills if f["timestamp"] <= last_entry.name]}


class ExchangeSimulator(ExecutorSimulatorBase):
    """The stock engine's simulator of every executor type under the exchange model."""

    def __init__(self, engine):
        self.engine = engine

    def simulate(self, df: pd.DataFrame, config, trade_cost: float, trading_rules=None) -> ExecutorSimulation:
        """The frame of the life of ``config`` created on ``df``'s first row (``df`` ends where it
        may live at most), as Hummingbot's simulators build it; FAILED on no rows, as theirs."""
        if df.empty:
            return ExecutorSimulation(config=config, executor_simulation=df, close_type=CloseType.FAILED)
        candles = Candles(df.index.to_numpy(dtype="float64"),
                          *(np.ascontiguousarray(df[c].to_numpy(dtype="float64"))
                            for c in ("open", "high", "low", "close")))
        life = life_of(config, candles, 0, len(df) - 1, self.engine)
        rows = df.iloc[:life.close + 1].copy()
        ticks = range(len(rows))
        pct, quote, fees, filled = (np.array(column, dtype=float) for column in zip(*(life.row(k) for k in ticks)))
        rows["net_pnl_pct"], rows["net_pnl_quote"], rows["cum_fees_quote"], rows["filled_amount_quote"] = (
            pct, quote, fees, filled)
        rows["current_position_average_price"] = [life.average_price(k) for k in ticks]
        return ExchangeSimulation(config=config, executor_simulation=rows, close_type=life.close_type,
                                  fills=life.fills())


def is_rejection(simulation) -> bool:
    """A limit-maker order the exchange refused: recorded, where Hummingbot drops a FAILED one."""
    return isinstance(simulation, ExchangeSimulation) and simulation.close_type == CloseType.FAILED and bool(
        simulation.fills)

"""The exchange model in hbopt's stock engine: Hummingbot's executor simulators, subclassed.

Each simulator builds the frame Hummingbot's engine reads an executor's state from (a row per
tick from its creation to its close) out of that executor type's life under the exchange model
(:mod:`.positions`, :mod:`.orders`, :mod:`.grids`), and hands its fills on in ``custom_info["fills"]``, up to
the row read, for the account. Executor types with no exchange model are refused, not
simulated under Hummingbot's rules unannounced.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from hummingbot.strategy_v2.backtesting.executor_simulator_base import ExecutorSimulation
from hummingbot.strategy_v2.backtesting.executors_simulator.grid_executor_simulator import GridExecutorSimulator
from hummingbot.strategy_v2.backtesting.executors_simulator.order_executor_simulator import OrderExecutorSimulator
from hummingbot.strategy_v2.backtesting.executors_simulator.position_executor_simulator import (
    PositionExecutorSimulator,
)
from hummingbot.strategy_v2.models.executors import CloseType

from hbopt.engine.exchange.grids import GridLife
from hbopt.engine.exchange.orders import OrderLife
from hbopt.engine.exchange.positions import PositionLife
from hbopt.engine.exchange.costs import unmodelled


class ExchangeSimulation(ExecutorSimulation):
    """Hummingbot's simulation of one executor, with the fills of its life."""

    fills: list = []

    def get_custom_info(self, last_entry: pd.Series) -> dict:
        return {**super().get_custom_info(last_entry),
                "fills": [f for f in self.fills if f["timestamp"] <= last_entry.name]}


def simulation_of(life, config, df: pd.DataFrame) -> ExchangeSimulation:
    """The frame of ``life`` (created on ``df``'s first row) as Hummingbot's simulators build it."""
    rows = df.iloc[:life.close + 1].copy()
    ticks = range(len(rows))
    pct, quote, fees, filled = (np.array(column, dtype=float) for column in zip(*(life.row(k) for k in ticks)))
    rows["net_pnl_pct"], rows["net_pnl_quote"], rows["cum_fees_quote"], rows["filled_amount_quote"] = (
        pct, quote, fees, filled)
    rows["current_position_average_price"] = [life.average_price(k) for k in ticks]
    return ExchangeSimulation(config=config, executor_simulation=rows, close_type=life.close_type, fills=life.fills())


def _arrays(df: pd.DataFrame):
    return (df.index.to_numpy(dtype="float64"),
            *(np.ascontiguousarray(df[c].to_numpy(dtype="float64")) for c in ("open", "high", "low", "close")))


class ExchangePositionSimulator(PositionExecutorSimulator):
    def __init__(self, engine):
        self.engine = engine

    def simulate(self, df: pd.DataFrame, config, trade_cost: float) -> ExecutorSimulation:
        ts, open_, high, low, close = _arrays(df)
        life = PositionLife(config, ts, open_, high, low, close, 0, len(df) - 1, self.engine.connector_costs(config),
                            self.engine.price_increment(config))
        return simulation_of(life, config, df)


class ExchangeOrderSimulator(OrderExecutorSimulator):
    def __init__(self, engine):
        self.engine = engine

    def simulate(self, df: pd.DataFrame, config, trade_cost: float) -> ExecutorSimulation:
        if df.empty:
            return super().simulate(df, config, trade_cost)  # FAILED, as Hummingbot's
        ts, _, high, low, close = _arrays(df)
        life = OrderLife(config, ts, high, low, close, 0, len(df) - 1, self.engine.connector_costs(config),
                         self.engine.price_increment(config))
        return simulation_of(life, config, df)


class ExchangeGridSimulator(GridExecutorSimulator):
    def __init__(self, engine):
        self.engine = engine

    def simulate(self, df: pd.DataFrame, config, trade_cost: float, trading_rules=None) -> ExecutorSimulation:
        ts, _, high, low, close = _arrays(df)
        life = GridLife(config, ts, high, low, close, 0, len(df) - 1, self.engine.connector_costs(config),
                        self.engine.price_increment(config), trading_rules)
        return simulation_of(life, config, df)


class Refused:
    """The simulator of an executor type the exchange model does not simulate: refuses it."""

    def __init__(self, kind: str):
        self.kind = kind

    def simulate(self, *args, **kwargs):
        unmodelled(self.kind)


def is_rejection(simulation) -> bool:
    """A limit-maker order the exchange refused: recorded, where Hummingbot drops a FAILED one."""
    return isinstance(simulation, ExchangeSimulation) and simulation.close_type == CloseType.FAILED and bool(
        simulation.fills)

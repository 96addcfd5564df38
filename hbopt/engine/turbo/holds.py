"""Position holds: what executors that keep their position (a filled order executor, a stop
with ``keep_position``, a grid stopped at its limit with ``keep_position``) leave behind.

Hummingbot's engine queues such an executor when it terminates or is stopped and adds it to its
pair's ``BacktestPositionHold`` at the start of the next tick; from then on every tick's total PnL
counts each open hold's realised PnL and its unrealised PnL at that tick's close. Here the holds
are Hummingbot's own objects, fed through the engine's own method, one tick's queue at a time;
a copy of them after each change lets the PnL of every tick be computed at the end, without
visiting the ticks the controller is not consulted on.
"""
from __future__ import annotations

import copy
import sys
from decimal import Decimal

import numpy as np


class PositionHolds:
    """The holds of one run of ``engine`` (a ``BacktestingEngineBase``) over ``market``."""

    def __init__(self, engine, market):
        self._engine, self._market = engine, market
        self._queued: list[tuple[int, object]] = []  # (tick it joins its hold, ExecutorInfo), in joining order
        self._states: list[tuple[int, list]] = []  # (from tick, copies of the holds then)

    def keep(self, info, tick: int) -> None:
        """``info`` terminated or was stopped on ``tick`` keeping its position: it joins its hold
        at the start of the next tick. Calls come in the order Hummingbot queues them."""
        self._queued.append((tick + 1, info))

    def catch_up(self, tick: int) -> None:
        """Add every executor due to join by ``tick``, one tick's queue at a time."""
        engine = self._engine
        while self._queued and self._queued[0][0] <= tick:
            joins = self._queued[0][0]
            while self._queued and self._queued[0][0] == joins:
                engine._pending_position_hold_executors.append(self._queued.pop(0)[1])
            engine._update_positions_from_stopped_executors()
            self._states.append((joins, [copy.copy(hold) for hold in engine.active_position_holds.values()]))

    def flush(self) -> None:
        """Add every executor still queued, as Hummingbot's engine does after its last tick."""
        self.catch_up(sys.maxsize)

    def held(self, tick: int) -> list:
        """The controller's ``positions_held`` on ``tick`` (after :meth:`catch_up`)."""
        mid = Decimal(str(self._market.close[tick]))
        return [hold.get_position_summary(mid) for hold in self._engine.active_position_holds.values()
                if not hold.is_closed]

    def pnl(self, last: int) -> tuple[np.ndarray, np.ndarray]:
        """Per tick ``0..last``, the open holds' realised and unrealised PnL as Hummingbot's engine
        sums them into its total (floats, summed hold by hold)."""
        realized, unrealized = np.zeros(last + 1), np.zeros(last + 1)
        bounds = [joins for joins, _ in self._states] + [last + 1]
        for (joins, holds), until in zip(self._states, bounds[1:]):
            open_holds = [hold for hold in holds if not hold.is_closed]
            if joins > last or not open_holds:
                continue
            ticks = slice(joins, min(until, last + 1))
            realized[ticks] = sum(float(hold.realized_pnl_quote) for hold in open_holds)
            unrealized[ticks] = _unrealized(open_holds, self._market.close[ticks])
        return realized, unrealized


def _unrealized(holds: list, closes: np.ndarray) -> list[float]:
    """``get_position_summary``'s unrealised PnL of the open ``holds`` at each close, summed."""
    totals = [0.0] * len(closes)
    for hold in holds:
        amount, entry = abs(hold.net_amount_base), hold.avg_entry_price
        if hold.net_amount_base >= 0:
            values = [float((Decimal(str(close)) - entry) * amount) for close in closes.tolist()]
        else:
            values = [float((entry - Decimal(str(close))) * amount) for close in closes.tolist()]
        totals = [total + value for total, value in zip(totals, values)]
    return totals

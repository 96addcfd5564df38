"""The account behind every hbopt figure: what a real account holding the run's fills would show.

Hummingbot's summary is not an account (it leaves out a position hold's fees and its open PnL,
drops a flat hold from its PnL series, and reads drawdown and Sharpe ratio off the level of its
cumulative PnL). This module books the run's fills instead, one by one:

- each fill moves cash by its notional (``price * amount``, paid for a buy, received for a sell)
  and pays its fee, on the tick it filled;
- equity at a tick is the starting capital (``total_amount_quote``) plus the cash so far plus the
  inventory at that tick's close (open positions and holds marked to market);
- on a perpetual connector, at each funding time every executor's inventory held going into that
  tick pays its notional at the tick's close times the rate (longs pay positive rates, shorts
  receive them), as a ``funding`` row of that executor: no amount, the payment in ``fee_quote``
  (negative when received);
- the inventory still open at the end is closed by a ``mark`` fill at the last close, paying the
  fee to close it, so the final equity is cash only;
- an account whose equity reaches zero at a close is ruined: a ``mark`` fill closes its inventory
  there and it trades no more (later fills are left out, and :attr:`Account.ruined_at` says when).

The fills are read off the executors Hummingbot's engine reports (``ExecutorInfo``): under
Hummingbot's cost model, inferred from when each filled and how it closed with Hummingbot's fill
model (:func:`executor_fills`); under the exchange model, as each executor's simulation lists them
(:func:`exchange_fills`). The stock and the turbo engine report the same executors to the last
bit, so they give the same account to the last bit.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from hummingbot.core.data_type.common import TradeType
from hummingbot.strategy_v2.executors.dca_executor.data_types import DCAExecutorConfig
from hummingbot.strategy_v2.executors.grid_executor.data_types import GridExecutorConfig
from hummingbot.strategy_v2.executors.order_executor.data_types import ExecutionStrategy, OrderExecutorConfig
from hummingbot.strategy_v2.executors.position_executor.data_types import PositionExecutorConfig
from hummingbot.strategy_v2.models.executors import CloseType

from hbopt.engine.exchange.costs import ConnectorCosts
from hbopt.engine.exchange.positions import slipped

YEAR = 365 * 86400
PNL_PERIODS = (86400, 14400, 3600)  # a day, 4 hours, an hour
MIN_PNL_PERIODS = 64
MAKER, TAKER = "maker", "taker"
#: The account's figures an objective or a constraint can name (as ``account.NAME``).
FIGURES = ("pnl_quote", "return_pct", "fees_quote", "funding_quote", "volume_quote", "fills", "max_drawdown_pct",
           "sharpe")
CURVE_POINTS = 2000  # samples of the equity a chart gets: a 90-day 1m run is 129,600 ticks
DUST_QUOTE = 1e-9  # inventory worth less than this is the float residue of fills that net out


def pnl_period(seconds: float) -> int:
    """The period of a window's PnL series: the longest of a day, 4 h and 1 h that still cuts
    ``seconds`` into at least 64 periods (an hour for shorter windows)."""
    return next((p for p in PNL_PERIODS if seconds / p >= MIN_PNL_PERIODS), PNL_PERIODS[-1])


@dataclass(frozen=True)
class Fill:
    """One trade of the account: ``amount`` of base bought (``side`` +1) or sold (-1) at
    ``price`` on tick ``tick``; ``order_price`` is the limit price of a resting order (None for a
    market order); ``kind`` says which part of which executor it is. A ``funding`` row has no
    amount: its payment is its ``fee_quote``, and ``side`` is the inventory's that paid it."""

    tick: int
    executor: str
    kind: str
    side: int
    price: float
    order_price: float | None
    amount: float
    fee_quote: float
    liquidity: str | None

    @property
    def cash(self) -> float:
        """What the fill adds to the account's cash, its fee paid."""
        return -self.side * self.price * self.amount - self.fee_quote


class Ticks:
    """The run's ticks: their timestamps and closes, as the engine simulated them."""

    def __init__(self, timestamps, closes):
        self.ts = np.asarray(timestamps, dtype="float64")
        self.close = np.asarray(closes, dtype="float64")

    def at(self, timestamp: float) -> int:
        """The tick of ``timestamp`` (one of the ticks')."""
        return int(np.searchsorted(self.ts, timestamp))


# ------------------------------------------------------------------ Hummingbot's fill model
def executor_fills(info, ticks: Ticks, trade_cost: float) -> list[Fill]:
    """The fills of one terminated executor (a Hummingbot ``ExecutorInfo``) as Hummingbot's
    backtester books them: entries, exits and orders at the close of the tick they fill on
    (grid levels at their own price), each leg paying ``trade_cost`` on the entry's notional.
    An executor that ended in a position hold leaves its inventory open (nothing closes it but
    later fills or the final mark)."""
    config = info.config
    # a grid kept as a position hold reports only its round trips' volume: 0 with levels still open
    if float(info.filled_amount_quote) <= 0 and not isinstance(config, GridExecutorConfig):
        return []
    if isinstance(config, PositionExecutorConfig):
        return _position_fills(info, ticks, trade_cost)
    if isinstance(config, OrderExecutorConfig):
        return _order_fills(info, ticks, trade_cost)
    if isinstance(config, GridExecutorConfig):
        return _grid_fills(info, ticks, trade_cost)
    if isinstance(config, DCAExecutorConfig):
        return _dca_fills(info, ticks, trade_cost)
    return []


def _side(config) -> int:
    return 1 if config.side == TradeType.BUY else -1


def _liquidity(order_type) -> str:
    return MAKER if order_type is not None and order_type.is_limit_type() else TAKER


def _exit_kind(info) -> str:
    return info.close_type.name.lower()


def _position_fills(info, ticks: Ticks, trade_cost: float) -> list[Fill]:
    config, barriers = info.config, info.config.triple_barrier_config
    side, amount = _side(config), float(config.amount)
    entry_tick = ticks.at(info.custom_info["open_order_last_update"])
    price = float(ticks.close[entry_tick])
    fee = trade_cost * (amount * price)
    is_limit = barriers.open_order_type.is_limit_type()
    fills = [Fill(entry_tick, config.id, "entry", side, price, float(config.entry_price) if is_limit else None,
                  amount, fee, _liquidity(barriers.open_order_type))]
    if info.close_type == CloseType.POSITION_HOLD:
        return fills
    exit_tick = ticks.at(info.close_timestamp)
    order_type, order_price = {
        CloseType.TAKE_PROFIT: (barriers.take_profit_order_type,
                                price * (1 + side * float(barriers.take_profit or 0))),
        CloseType.STOP_LOSS: (barriers.stop_loss_order_type, None),
        CloseType.TRAILING_STOP: (barriers.stop_loss_order_type, None),  # a trailing stop closes like a stop
        CloseType.TIME_LIMIT: (barriers.time_limit_order_type, None),
    }.get(info.close_type, (None, None))
    liquidity = _liquidity(order_type)
    fills.append(Fill(exit_tick, config.id, _exit_kind(info), -side, float(ticks.close[exit_tick]),
                      order_price if liquidity == MAKER else None, amount, fee, liquidity))
    return fills


def _order_fills(info, ticks: Ticks, trade_cost: float) -> list[Fill]:
    config = info.config
    tick = ticks.at(info.custom_info["open_order_last_update"])
    price, amount = float(ticks.close[tick]), float(config.amount)
    resting = config.execution_strategy not in (ExecutionStrategy.MARKET,)
    return [Fill(tick, config.id, "order", _side(config), price, float(config.price) if resting else None,
                 amount, trade_cost * (amount * price), MAKER if resting else TAKER)]


def _grid_fills(info, ticks: Ticks, trade_cost: float) -> list[Fill]:
    """A grid's level entries and take profits (Hummingbot reports them in ``fill_events``, for the
    whole simulated run: those after the grid closed did not happen), then, unless it ended in a
    position hold, its open levels closed at the close."""
    config, side = info.config, _side(info.config)
    close_ts = info.close_timestamp
    fills, open_levels = [], {}
    for event in info.custom_info.get("fill_events", ()):
        if event["timestamp"] > close_ts:
            break
        tick, level, quote = ticks.at(event["timestamp"]), event["level_idx"], event["amount_quote"]
        if event["side"] == "entry":
            open_levels[level] = (quote / event["price"], quote)
            fills.append(Fill(tick, config.id, "grid_level", side, event["price"], event["price"],
                              open_levels[level][0], trade_cost * quote, MAKER))
        else:
            amount, quote = open_levels.pop(level)
            fills.append(Fill(tick, config.id, "take_profit", -side, event["price"], event["price"], amount,
                              trade_cost * quote, MAKER))
    if info.close_type != CloseType.POSITION_HOLD and open_levels:
        tick = ticks.at(close_ts)
        fills += [Fill(tick, config.id, _exit_kind(info), -side, float(ticks.close[tick]), None, amount,
                       trade_cost * quote, TAKER) for amount, quote in open_levels.values()]
    return fills


def _dca_fills(info, ticks: Ticks, trade_cost: float) -> list[Fill]:
    """A DCA executor as one entry of its filled amount at its break-even price, from its first
    fill, and one exit at the close: Hummingbot's simulation does not report its levels' fills."""
    config, side = info.config, _side(info.config)
    doubled = info.close_type not in (CloseType.EARLY_STOP, CloseType.POSITION_HOLD)  # on its closing row
    quote = float(info.filled_amount_quote) / (2 if doubled else 1)
    price = float(info.custom_info["current_position_average_price"])
    amount, fee = quote / price, trade_cost * quote
    fills = [Fill(ticks.at(info.custom_info["open_order_last_update"]), config.id, "entry", side, price, price,
                  amount, fee, MAKER)]
    if info.close_type != CloseType.POSITION_HOLD:
        tick = ticks.at(info.close_timestamp)
        fills.append(Fill(tick, config.id, _exit_kind(info), -side, float(ticks.close[tick]), None, amount, fee,
                          TAKER))
    return fills


# ------------------------------------------------------------------------------ the account
class Account:
    """The equity of ``capital`` trading ``fills`` over ``ticks``, marked at each close, paying
    ``funding`` (rows of funding time and rate; None off perpetual connectors); the fee of the
    final (or the ruin's) ``mark`` fill is ``mark_fee`` of its notional."""

    def __init__(self, fills: list[Fill], ticks: Ticks, capital: float, mark_fee: float,
                 funding: np.ndarray | None = None):
        self.ticks, self.capital = ticks, float(capital)
        n = len(ticks.ts)
        fills = sorted(fills, key=lambda f: f.tick)  # stable: an executor's legs stay in order
        if funding is not None:  # a tick's funding is paid on what was held going into it, before its fills
            fills = sorted(self._funding(fills, funding) + fills, key=lambda f: f.tick)
        cash, inventory = self._running(fills, n)
        equity = self.capital + cash + inventory * ticks.close
        broke = np.flatnonzero(equity <= 0)
        last = int(broke[0]) if len(broke) else n - 1
        self.ruined_at = float(ticks.ts[last]) if len(broke) else None
        self.fills = [f for f in fills if f.tick <= last]
        held = float(inventory[last])
        if abs(held) * ticks.close[last] > DUST_QUOTE:
            price = float(ticks.close[last])
            self.fills.append(Fill(last, "account", "mark", -1 if held > 0 else 1, price, None, abs(held),
                                   mark_fee * abs(held) * price, TAKER))
            cash, _ = self._running(self.fills, n)
        equity[last:] = self.capital + cash[last]  # all cash from the mark on
        self.equity = equity
        self.pnl_quote = float(cash[last])

    def _funding(self, fills: list[Fill], funding: np.ndarray) -> list[Fill]:
        """The ``funding`` rows of each executor's inventory (a position, a hold, a grid's levels)
        open at each funding time inside the run: charged on the first tick at or after it, on
        what the executor held going into that tick, at the tick's close."""
        ts, close = self.ticks.ts, self.ticks.close
        inside = (funding[:, 0] >= ts[0]) & (funding[:, 0] <= ts[-1])
        ticks, rates = np.searchsorted(ts, funding[inside, 0]), funding[inside, 1]
        legs: dict[str, list[Fill]] = {}
        for fill in fills:
            legs.setdefault(fill.executor, []).append(fill)
        rows = []
        for executor, own in legs.items():
            filled_at = np.fromiter((f.tick for f in own), dtype=np.int64, count=len(own))
            held = np.concatenate([[0.0], np.cumsum([f.side * f.amount for f in own])])[np.searchsorted(filled_at, ticks)]
            rows += [Fill(int(k), executor, "funding", 1 if h > 0 else -1, float(close[k]), None, 0.0,
                          float(h * close[k] * rate), None)
                     for k, h, rate in zip(ticks, held, rates) if abs(h) * close[k] > DUST_QUOTE]
        return rows

    @staticmethod
    def _running(fills: list[Fill], n: int) -> tuple[np.ndarray, np.ndarray]:
        """Cash and inventory after each tick's fills."""
        ticks = np.fromiter((f.tick for f in fills), dtype=np.int64, count=len(fills))
        cash = np.bincount(ticks, weights=[f.cash for f in fills], minlength=n)
        held = np.bincount(ticks, weights=[f.side * f.amount for f in fills], minlength=n)
        return np.cumsum(cash), np.cumsum(held)

    def max_drawdown(self) -> float:
        """The equity's deepest fall from its running peak (the starting capital included), as a
        fraction of the starting capital: 0 for an account that never fell, above 1 for one that
        lost more than it started with."""
        return float(self._drawdown().max()) if len(self.equity) else 0.0

    def _drawdown(self) -> np.ndarray:
        """At each tick, the equity's fall from its running peak, as a fraction of the capital."""
        peak = np.maximum.accumulate(np.concatenate([[self.capital], self.equity]))
        return (peak[1:] - self.equity) / self.capital

    def series(self, start: int, end: int) -> dict:
        """The equity's change per period from ``start``: ``{"period": s, "values": [...]}``, the
        values summing (``sum``) to :attr:`pnl_quote` exactly."""
        period = pnl_period(end - start)
        edges = start + period * np.arange(1, max(1, -(-(end - start) // period)) + 1)
        last_tick = np.searchsorted(self.ticks.ts, edges, side="left") - 1  # the last tick before each edge
        levels = np.where(last_tick >= 0, self.equity[np.maximum(last_tick, 0)], self.capital)
        levels[-1] = self.capital + self.pnl_quote  # the last period ends with the run
        values = np.diff(levels, prepend=self.capital).tolist()
        return {"period": period, "values": _summing_to(values, self.pnl_quote)}

    def figures(self, series: dict) -> dict:
        """The account's figures (``account`` in a result): ``series`` is :meth:`series`' output."""
        volume = math.fsum(f.price * f.amount for f in self.fills)
        return {
            "capital_quote": self.capital, "pnl_quote": self.pnl_quote, "return_pct": self.pnl_quote / self.capital,
            "fees_quote": math.fsum(f.fee_quote for f in self.fills if f.kind != "funding"),
            "funding_quote": math.fsum(f.fee_quote for f in self.fills if f.kind == "funding"), "volume_quote": volume,
            "fills": sum(f.amount > 0 for f in self.fills), "max_drawdown_pct": self.max_drawdown(),
            "sharpe": annual_sharpe_of_equity(series["values"], self.capital, series["period"]),
            "ruined_at": self.ruined_at,
        }

    def curve(self, start: float, points: int = CURVE_POINTS) -> dict:
        """The equity from ``start`` on, for a chart: at most ``points`` samples, the first at the
        first tick, the last at the last; each sample's ``timestamp``, ``equity`` and ``close`` at
        its tick, and ``drawdown_pct`` the deepest fall from the running peak since the sample
        before (a fraction of the starting capital, as :meth:`max_drawdown` measures it, so the
        deepest sample is that figure when nothing traded before ``start``)."""
        first = int(np.searchsorted(self.ticks.ts, start, side="left"))
        n = len(self.equity) - first
        if n <= 0:
            return {"timestamp": [], "equity": [], "close": [], "drawdown_pct": []}
        ends = np.unique(np.linspace(0, n - 1, min(points, n)).round().astype(np.int64))
        starts = np.concatenate([[0], ends[:-1] + 1])
        return {"timestamp": self.ticks.ts[first:][ends].tolist(), "equity": self.equity[first:][ends].tolist(),
                "close": self.ticks.close[first:][ends].tolist(),
                "drawdown_pct": np.maximum.reduceat(self._drawdown()[first:], starts).tolist()}

    def ledger(self) -> list[dict]:
        """Every fill as a JSON-safe record (``timestamp``, ``executor``, ``kind``, ``side``, ``price``,
        ``order_price``, ``amount``, ``fee_quote``, ``liquidity``), in the order they happened."""
        ts = self.ticks.ts
        return [{"timestamp": float(ts[f.tick]), "executor": f.executor, "kind": f.kind,
                 "side": "BUY" if f.side > 0 else "SELL", "price": f.price, "order_price": f.order_price,
                 "amount": f.amount, "fee_quote": f.fee_quote, "liquidity": f.liquidity} for f in self.fills]


def _summing_to(values: list[float], total: float) -> list[float]:
    """``values`` with the last one moved (by the rounding its float sums make) so that ``sum``
    of them is ``total`` exactly."""
    if not values:
        return values
    values[-1] = total - sum(values[:-1])
    for _ in range(16):
        gap = total - sum(values)
        if gap == 0:
            break
        moved = values[-1] + gap
        values[-1] = moved if moved != values[-1] else math.nextafter(values[-1], math.copysign(math.inf, gap))
    return values


def sharpe(values) -> float:
    """Mean over standard deviation (``ddof=1``) of one series; 0 when it does not vary."""
    values = np.asarray(values, dtype=float)
    if len(values) < 2:
        return 0.0
    std = values.std(ddof=1)
    return float(values.mean() / std) if std > 0 else 0.0


def annual_sharpe(sr: float, period: float) -> float:
    """A per-period Sharpe ratio (periods of ``period`` seconds) over a 365-day year."""
    return sr * math.sqrt(YEAR / period)


def annual_sharpe_of_equity(changes: list[float], capital: float, period: float) -> float:
    """The annualised Sharpe ratio (no risk-free rate) of the per-period returns of an equity
    starting at ``capital`` and changing by ``changes``; periods after a ruin (equity at or below
    zero) return nothing. 0 when the returns do not vary."""
    changes = np.asarray(changes, dtype=float)
    before = capital + np.concatenate([[0.0], np.cumsum(changes)[:-1]])
    returns = np.divide(changes, before, out=np.zeros_like(changes), where=before > 0)
    return annual_sharpe(sharpe(returns), period)


def account_of(executors: list, ticks: Ticks, capital: float, trade_cost: float,
               costs: ConnectorCosts | None = None, funding: np.ndarray | None = None) -> Account:
    """The account of a run's executors (Hummingbot ``ExecutorInfo``, in the engine's order):
    under Hummingbot's cost model (``trade_cost``), or with ``costs``, the exchange model's,
    paying ``funding`` (see :class:`Account`)."""
    if costs is None:
        fills = [fill for info in executors for fill in executor_fills(info, ticks, trade_cost)]
        return Account(fills, ticks, capital, trade_cost)
    fills = [fill for info in executors for fill in exchange_fills(info, ticks, costs)]
    return Account(fills, ticks, capital, costs.taker, funding)


# ------------------------------------------------------------------------ the exchange model
def exchange_fills(info, ticks: Ticks, costs: ConnectorCosts) -> list[Fill]:
    """The fills of one terminated executor as its exchange-model simulation lists them
    (``custom_info["fills"]``, up to its close); one the controller stopped early with inventory
    still open closes it there by a market order (the slipped close, taker), unless it kept its
    position as a hold."""
    close_ts, config = info.close_timestamp, info.config
    fills = [Fill(ticks.at(f["timestamp"]), config.id, f["kind"], f["side"], f["price"], f["order_price"], f["amount"],
                  f["fee_quote"], f["liquidity"]) for f in info.custom_info.get("fills", ()) if f["timestamp"] <= close_ts]
    held = math.fsum(f.side * f.amount for f in fills) if info.close_type == CloseType.EARLY_STOP else 0.0
    if held:
        tick = ticks.at(close_ts)
        side = -1 if held > 0 else 1
        price = slipped(float(ticks.close[tick]), side, costs.slippage)
        fills.append(Fill(tick, config.id, "early_stop", side, price, None, abs(held), costs.taker * abs(held) * price,
                          TAKER))
    return fills

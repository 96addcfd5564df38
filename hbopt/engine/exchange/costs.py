"""What trading costs: the cost model a backtest runs under, and each connector's fees.

Two models:

- ``hummingbot``: Hummingbot's own backtester, exact: every fill at the close of its tick, one
  ``trade_cost`` for every leg, charged on the entry's notional.
- ``exchange`` (see :mod:`hbopt.engine.exchange`): resting limit orders fill at their own price
  when the market trades through them, market orders at the close moved by a slippage, each fill
  at the connector's maker or taker rate on its own notional; perpetual connectors add margin and
  liquidation.

The fee table holds the exchanges' published base tiers (VIP 0, no token discount), each with
its source. ``$HBOPT_HOME/fees.yml`` overrides or extends it per connector::

    binance_perpetual: {maker: 0.00018, taker: 0.00045}
    my_exchange: {maker: 0.0005, taker: 0.001}
    my_exchange_perpetual: {maker: 0.0002, taker: 0.0005, maintenance_margin: 0.005, liquidation_fee: 0.005}

and ``--maker-fee``/``--taker-fee`` override both for one run.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace

from hbopt import safe_yaml, settings
from hbopt.cache.funding import is_perpetual
from hbopt.errors import ConfigError

MODELS = ("exchange", "hummingbot")
DEFAULT_MODEL = "exchange"
#: Slippage of a market order, in basis points of the price: half the spread of a liquid pair's
#: book plus the impact of a retail-sized order.
DEFAULT_SLIPPAGE_BPS = 2.0

#: connector: (maker, taker, maintenance margin rate, liquidation fee, source); the last two only
#: for perpetual connectors (None on spot ones, which have neither margin nor liquidation).
FEE_TABLE = {
    "binance": (0.001, 0.001, None, None, "https://www.binance.com/en/fee/schedule"),
    "binance_perpetual": (0.0002, 0.0005, 0.004, 0.0125,
                          "https://www.binance.com/en/fee/futureFee; maintenance margin: BTCUSDT's first tier, "
                          "https://www.binance.com/en/futures/trading-rules/perpetual/leverage-margin"),
    "bybit": (0.001, 0.001, None, None, "https://www.bybit.com/en/help-center/article/Trading-Fee-Structure"),
    "bybit_perpetual": (0.0002, 0.00055, 0.005, 0.00055,
                        "https://www.bybit.com/en/help-center/article/Trading-Fee-Structure; maintenance margin: "
                        "BTCUSDT's first risk limit tier; liquidation at the taker rate"),
    "okx": (0.0008, 0.001, None, None, "https://www.okx.com/fees"),
    "okx_perpetual": (0.0002, 0.0005, 0.004, 0.0005,
                      "https://www.okx.com/fees; maintenance margin: BTC-USDT-SWAP's first tier; liquidation "
                      "at the taker rate"),
    "kucoin": (0.001, 0.001, None, None, "https://www.kucoin.com/vip/privilege"),
    "gate_io": (0.0009, 0.0009, None, None, "https://www.gate.com/fee"),
    "hyperliquid_perpetual": (0.00015, 0.00045, 0.0125, 0.0,
                              "https://hyperliquid.gitbook.io/hyperliquid-docs/trading/fees; maintenance margin: "
                              "half the initial margin at BTC's 40x, no liquidation fee (trading/liquidations)"),
}
_FIELDS = ("maker", "taker", "maintenance_margin", "liquidation_fee")


@dataclass(frozen=True)
class Costs:
    """A run's costs as the user chose them: the model, fee overrides (None: the connector's
    table), the market orders' slippage, and ``stress``, a multiple of fees and slippage (the
    validation's cost stress). The ``hummingbot`` model reads none of these: it charges the
    run's ``trade_cost``."""

    model: str = DEFAULT_MODEL
    maker_fee: float | None = None
    taker_fee: float | None = None
    slippage_bps: float = DEFAULT_SLIPPAGE_BPS
    stress: float = 1.0

    def __post_init__(self):
        if self.model not in MODELS:
            raise ConfigError(f"costs must be one of {', '.join(MODELS)}, not {self.model!r}")
        for name in ("maker_fee", "taker_fee"):
            value = getattr(self, name)
            if value is not None and not (_finite(value) and -0.01 <= value < 0.1):
                raise ConfigError(f"{name.replace('_', '-')} must be a fraction between -0.01 and 0.1, not {value!r}")
        if not (_finite(self.slippage_bps) and 0 <= self.slippage_bps < 10_000):
            raise ConfigError(f"slippage must be basis points >= 0 and < 10000, not {self.slippage_bps!r}")
        if not (_finite(self.stress) and self.stress > 0):
            raise ConfigError(f"a cost stress must be a positive multiple, not {self.stress!r}")

    @property
    def exchange(self) -> bool:
        return self.model == "exchange"

    def stressed(self, multiple: float) -> "Costs":
        """These costs with fees and slippage ``multiple`` times as high."""
        return replace(self, stress=self.stress * multiple)

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class ConnectorCosts:
    """The exchange model's costs for one connector, resolved: fee rates, slippage as a fraction,
    and for a perpetual connector its maintenance margin rate and liquidation fee."""

    connector: str
    maker: float
    taker: float
    slippage: float
    perpetual: bool
    maintenance_margin: float
    liquidation_fee: float
    source: str

    def as_dict(self) -> dict:
        return asdict(self)


def connector_costs(costs: Costs, connector: str, table: dict | None = None) -> ConnectorCosts:
    """``costs`` for ``connector``: its row of the fee table (``$HBOPT_HOME/fees.yml`` over the
    built-in one), the user's fee overrides over it."""
    table = fee_table() if table is None else table
    row = table.get(connector)
    perpetual = is_perpetual(connector)
    if row is None and (costs.maker_fee is None or costs.taker_fee is None):
        raise ConfigError(f"no fee rates known for connector {connector!r}: give --maker-fee and --taker-fee, "
                          f"add it to {settings.home() / 'fees.yml'}, or run with --costs hummingbot")
    row = row or {"source": "--maker-fee/--taker-fee"}
    if perpetual and (row.get("maintenance_margin") is None or row.get("liquidation_fee") is None):
        raise ConfigError(f"no maintenance margin or liquidation fee known for perpetual connector {connector!r}: "
                          f"add them to {settings.home() / 'fees.yml'}, or run with --costs hummingbot")
    maker = costs.maker_fee if costs.maker_fee is not None else row["maker"]
    taker = costs.taker_fee if costs.taker_fee is not None else row["taker"]
    return ConnectorCosts(
        connector=connector, maker=maker * costs.stress, taker=taker * costs.stress,
        slippage=costs.slippage_bps / 10_000 * costs.stress, perpetual=perpetual,
        maintenance_margin=row["maintenance_margin"] if perpetual else 0.0,
        liquidation_fee=row["liquidation_fee"] if perpetual else 0.0, source=row["source"])


def fee_table() -> dict:
    """The built-in table with ``$HBOPT_HOME/fees.yml`` over it: ``{connector: {maker, taker,
    maintenance_margin, liquidation_fee, source}}``."""
    table = {name: dict(zip((*_FIELDS, "source"), row)) for name, row in FEE_TABLE.items()}
    path = settings.home() / "fees.yml"
    if not path.is_file():
        return table
    for connector, fields in safe_yaml.read_mapping(path, "fees file").items():
        if not isinstance(fields, dict) or not set(fields) <= set(_FIELDS):
            raise ConfigError(f"{path.name}: {connector} must map some of {', '.join(_FIELDS)} to fractions")
        for name, value in fields.items():
            if not (_finite(value) and -0.01 <= value < 0.5):
                raise ConfigError(f"{path.name}: {connector} {name} must be a fraction, not {value!r}")
        known = table.get(connector, {})
        if not known and not {"maker", "taker"} <= set(fields):
            raise ConfigError(f"{path.name}: {connector} is not in the built-in table: give its maker and taker")
        table[connector] = {**known, **fields, "source": f"{path}" + (f" over {known['source']}" if known else "")}
    return table


def _finite(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def unmodelled(kind: str):
    """Refuse an executor the exchange model does not simulate (yet): a clear error, not
    Hummingbot's fill model passed off as the exchange's."""
    raise ConfigError(f"{kind} executors have no exchange cost model yet: run with --costs hummingbot")

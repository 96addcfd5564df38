"""Trading rules for offline backtests, so Hummingbot never asks the exchange for them.

Read from ``$HBOPT_HOME/trading_rules.json`` when present::

    {"binance_perpetual": {"BTC-USDT": {"min_order_size": "0.001", "min_price_increment": "0.1",
                                        "min_base_amount_increment": "0.001", "min_notional_size": "5"}}}

Pairs not listed get permissive defaults (tiny increments, no minimum notional) so that rules
never silently drop orders the strategy meant to place; the exchange model's fills, which need
the market to trade through a resting order by one price increment, use a realistic tick instead
(:func:`price_increment`).
"""
from __future__ import annotations

import json
import math
from decimal import Decimal
from pathlib import Path

from hummingbot.connector.trading_rule import TradingRule

from hbopt import settings
from hbopt.errors import ConfigError

DEFAULT_RULE = {
    "min_order_size": "1e-8", "min_price_increment": "1e-8", "min_base_amount_increment": "1e-8",
    "min_quote_amount_increment": "1e-8", "min_notional_size": "0",
}
_FIELDS = set(DEFAULT_RULE) | {"max_order_size", "max_price_significant_digits", "min_order_value"}


def load_rules_file(path: Path | None = None) -> dict:
    """The rules file as ``{connector: {pair: {field: value}}}`` (empty when there is none)."""
    path = Path(path) if path else settings.trading_rules_file()
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text())
    except ValueError as exc:
        raise ConfigError(f"{path.name} is not valid JSON: {exc}") from None
    if not isinstance(data, dict) or not all(isinstance(pairs, dict) and all(isinstance(rule, dict)
                                                                          for rule in pairs.values())
                                             for pairs in data.values()):
        raise ConfigError(f"{path.name} must map connectors to pairs to rules, e.g. "
                          '{"binance": {"BTC-USDT": {"min_order_size": "0.001"}}}')
    for connector, pairs in data.items():
        for pair, rule in pairs.items():
            unknown = set(rule) - _FIELDS
            if unknown:
                raise ConfigError(f"{path.name}: {connector} {pair}: unknown field(s) {', '.join(sorted(unknown))}")
            for name, value in rule.items():
                try:
                    if not Decimal(str(value)).is_finite():
                        raise ArithmeticError
                except ArithmeticError:
                    raise ConfigError(f"{path.name}: {connector} {pair}: {name} must be a finite number, not "
                                      f"{value!r}") from None
    return data


def trading_rule(connector: str, pair: str, rules: dict | None = None) -> TradingRule:
    """The TradingRule for a pair: the file's values over the defaults."""
    fields = {**DEFAULT_RULE, **(rules if rules is not None else load_rules_file()).get(connector, {}).get(pair, {})}
    return TradingRule(pair, **{k: Decimal(str(v)) for k, v in fields.items()})


def price_increment(connector: str, pair: str, price: float, rules: dict) -> float:
    """The price increment of a pair trading at ``price``: its ``min_price_increment`` in
    ``rules`` (:func:`load_rules_file`), or else a tick of six significant digits of the price
    (0.1 at 27,000, 0.01 at 1,800: Binance's BTC-USDT and ETH-USDT perpetual ticks; most smaller
    coins' ticks are coarser)."""
    listed = rules.get(connector, {}).get(pair, {}).get("min_price_increment")
    if listed is not None:
        return float(Decimal(str(listed)))
    return 10.0 ** (math.floor(math.log10(price)) - 5)

"""A controller config's fields, for a person (``hbopt controllers show``) and for a search: the
space hbopt infers for a controller that ships no ``SEARCH_SPACE``.

The inferred space searches around each default (README: Controllers):

- an int field with a default ``d > 0``: ``d // 2`` (at least 1) to ``2 d``, in steps of
  ``d / 10`` (at least 1);
- a float or Decimal field with a default ``d > 0``: ``d / 2`` to ``2 d`` in steps of ``d / 10``;
- a bool field: both values; an enum field: its members' values (of an order type, those an
  exchange order takes: MARKET, LIMIT and LIMIT_MAKER, not the AMM ones).

Fields that are not a strategy's shape are left at their value: the config's identity and
market (``id``, ``controller_*``, ``connector_name``, ``trading_pair``, ``candles_*``), the
account's size and margin (``total_amount_quote``, ``leverage``, ``position_mode``), the kill
switch, prices and amounts (``*_price``, ``*amount*``: the market's scale, not the strategy's),
fields whose default is zero, negative (a sentinel such as -1 for "off") or None, and lists and
nested configs.

Between searched fields named alike but for ``fast`` and ``slow`` (``macd_fast`` and
``macd_slow``, ``fast_ma`` and ``slow_ma``), the relation ``slow > fast`` is inferred.
"""
from __future__ import annotations

import enum
import math
import types
import typing
from decimal import Decimal

from hbopt.engine.controllers import field_class, json_value

LEFT_AS_SET = frozenset({"id", "controller_name", "controller_type", "connector_name", "trading_pair",
                         "total_amount_quote", "manual_kill_switch", "initial_positions", "leverage", "position_mode",
                         "candles_connector", "candles_trading_pair", "candles_config"})


def describe(cls) -> list[dict]:
    """Each field of config class ``cls``, in its order: ``name``, ``type`` (as written in
    Python), ``default`` (as Hummingbot's YAML writes it; None when it has none), ``required``
    (no default: a value must be set; ``id`` is hbopt's to fill), and ``choices`` for a bool or
    an enum."""
    rows = []
    for name, field in cls.model_fields.items():
        kind = field_class(field.annotation)
        required = field.is_required() and name != "id"
        row = {"name": name, "type": _type_name(field.annotation), "default": None if field.is_required()
               else json_value(field.get_default(call_default_factory=True)), "required": required}
        if kind is bool:
            row["choices"] = [True, False]
        elif isinstance(kind, type) and issubclass(kind, enum.Enum):
            row["choices"] = [json_value(m) for m in kind]
        rows.append(row)
    return rows


def inferred_space(cls) -> dict:
    """The search space around ``cls``'s defaults (see the module), as a study file's ``space``."""
    space = {}
    for name, field in cls.model_fields.items():
        if name in LEFT_AS_SET or name.endswith("_price") or "amount" in name or field.is_required():
            continue
        kind, default = field_class(field.annotation), field.get_default(call_default_factory=True)
        if kind is bool and isinstance(default, bool):
            space[name] = {"type": "categorical", "choices": [default, not default]}
        elif isinstance(kind, type) and issubclass(kind, enum.Enum):
            space[name] = {"type": "categorical", "choices": [json_value(m) for m in kind if not m.name.startswith("AMM_")]}
        elif kind is int and isinstance(default, int) and not isinstance(default, bool) and default > 0:
            step = max(1, round(default / 10))
            low = max(1, default // 2)
            space[name] = {"type": "int", "low": low, "high": low + step * ((2 * default - low) // step), "step": step}
        elif kind in (float, Decimal) and isinstance(default, (int, float, Decimal)) and not isinstance(default, bool) \
                and math.isfinite(default) and default > 0:
            d = Decimal(str(default))
            space[name] = {"type": "float", "low": float(d / 2), "high": float(d * 2), "step": float(d / 10)}
    return space


def _type_name(annotation) -> str:
    """``int``, ``Decimal | None``, ``list[float]``, ``PositionMode``: an annotation as it reads."""
    args = typing.get_args(annotation)
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return " | ".join("None" if a is type(None) else _type_name(a) for a in args)
    if origin is not None:
        return f"{getattr(origin, '__name__', str(origin))}[{', '.join(_type_name(a) for a in args)}]"
    return getattr(annotation, "__name__", str(annotation).replace("typing.", ""))


def inferred_relations(names) -> list[str]:
    """``X_slow > X_fast`` for each pair of ``names`` alike but for ``fast`` and ``slow``."""
    names = list(names)
    return [f"{name.replace('fast', 'slow')} > {name}" for name in names
            if "fast" in name and name.replace("fast", "slow") in names]

"""Search spaces: parameters of a controller config to optimise, and how to draw them.

A space is a mapping ``name -> spec``, in the order parameters are drawn::

    bb_length:   {type: int, low: 20, high: 300, step: 10}
    bb_std:      {type: float, low: 1.0, high: 3.0, step: 0.1}
    stop_loss:   {type: float, low: 0.002, high: 0.05, log: true}
    ma_type:     {type: categorical, choices: [ema, sma]}
    trailing_on: {type: categorical, choices: [true, false]}
    trailing_stop: {type: categorical, choices: ["0.01,0.002", "0.02,0.005"], when: {trailing_on: true}}

``when`` makes a parameter conditional: it is drawn only when every named earlier parameter
took (one of) the given value(s). Parameters whose name starts with ``_`` steer conditions and
are not written into the controller config.

Relations between parameters (a study file's ``relations``, a controller's ``SEARCH_RELATIONS``)
are comparisons of arithmetic over parameters, fixed fields and numbers::

    relations: ["slow_ma > fast_ma", "take_profit >= 1.5 * stop_loss", "5 <= fast <= slow / 2"]

A drawn point that breaks one is never backtested (:class:`Relation`).
"""
from __future__ import annotations

import ast
import functools
import math
import operator
from decimal import Decimal
from dataclasses import dataclass
from typing import Any

import numpy as np
import optuna

from hbopt.errors import ConfigError

TYPES = ("int", "float", "categorical")
MAX_EXACT = 2 ** 53  # integers a float holds exactly


@dataclass(frozen=True)
class Param:
    name: str
    type: str
    low: float | None = None
    high: float | None = None
    step: float | None = None
    log: bool = False
    choices: tuple | None = None
    when: tuple[tuple[str, tuple], ...] = ()

    @property
    def lowest(self):
        """The first choice, or the low bound."""
        if self.type == "categorical":
            return self.choices[0]
        return int(self.low) if self.type == "int" else self.low

    @property
    def highest(self):
        """The last choice, or the highest value on the step grid (the high bound without a step)."""
        if self.type == "categorical":
            return self.choices[-1]
        top = self.low + self.step * math.floor((self.high - self.low) / self.step + 1e-9) if self.step else self.high
        return int(round(top)) if self.type == "int" else round(top, 12)

    @property
    def is_config_field(self) -> bool:
        return not self.name.startswith("_")

    def applies(self, drawn: dict) -> bool:
        return all(name in drawn and drawn[name] in values for name, values in self.when)

    def distribution(self) -> optuna.distributions.BaseDistribution:
        if self.type == "int":
            return optuna.distributions.IntDistribution(int(self.low), int(self.high), log=self.log,
                                                        step=int(self.step or 1))
        if self.type == "float":
            return optuna.distributions.FloatDistribution(self.low, self.high, log=self.log, step=self.step)
        return optuna.distributions.CategoricalDistribution(self.choices)

    def contains(self, value) -> bool:
        """Whether the parameter can draw ``value`` (one of its choices; inside its bounds and on
        its step grid)."""
        if self.type == "categorical":
            return value in self.choices
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not self.low <= value <= self.high:
            return False
        return not self.step or abs((value - self.low) / self.step - round((value - self.low) / self.step)) < 1e-9

    def suggest(self, trial: optuna.Trial):
        if self.type == "int":
            return trial.suggest_int(self.name, int(self.low), int(self.high), step=int(self.step or 1), log=self.log)
        if self.type == "float":
            return trial.suggest_float(self.name, self.low, self.high, step=self.step, log=self.log)
        return trial.suggest_categorical(self.name, self.choices)

    def draw(self, rng: np.random.Generator):
        """A uniform draw (log-uniform with ``log``), on the step grid where there is one."""
        if self.type == "categorical":
            return self.choices[int(rng.integers(len(self.choices)))]
        if self.step:
            count = int(math.floor((self.high - self.low) / self.step + 1e-9)) + 1
            value = self.low + self.step * int(rng.integers(count))
            return int(value) if self.type == "int" else round(value, 12)
        if self.log:
            value = math.exp(rng.uniform(math.log(self.low), math.log(self.high)))
        else:
            value = rng.uniform(self.low, self.high)
        return int(round(value)) if self.type == "int" else value

    def neighbours(self, value) -> list:
        """The values one step either side of ``value`` inside the bounds: the step if there is
        one, else 5% of the range (of its logarithm with ``log``); for a categorical parameter the
        choices listed either side."""
        if self.type == "categorical":
            at = self.choices.index(value) if value in self.choices else -1
            return [self.choices[i] for i in (at - 1, at + 1) if at >= 0 and 0 <= i < len(self.choices)]
        if self.log and not self.step:
            factor = (self.high / self.low) ** 0.05
            candidates = [value / factor, value * factor]
        else:
            step = self.step or max(1 if self.type == "int" else 0, (self.high - self.low) * 0.05)
            candidates = [value - step, value + step]
        near = [int(round(v)) if self.type == "int" else round(v, 12) for v in candidates]
        return [v for v in near if self.low - 1e-9 <= v <= self.high + 1e-9 and v != value]

    @property
    def decimals(self) -> int | None:
        """The decimals of the step grid ``low + k * step`` (None without a step)."""
        if not self.step:
            return None
        return max(0, *(-Decimal(repr(float(v))).normalize().as_tuple().exponent for v in (self.step, self.low)))

    def rounded(self, value):
        """``value`` on the parameter's step grid as the number a person writes (``0.05``, not
        ``0.049999999999999996``); an int parameter's as an int; without a step, as drawn."""
        if self.type == "categorical" or isinstance(value, bool) or not isinstance(value, (int, float)):
            return value
        if self.type == "int":
            return int(round(value))
        return round(value, self.decimals) if self.step else value

    def shown(self, value) -> str:
        """``value`` as a person reads it: to the step's decimals where there is a step, else to
        6 significant digits."""
        if self.type == "categorical" or isinstance(value, bool) or not isinstance(value, (int, float)):
            return str(value)
        if self.type == "int":
            return str(int(round(value)))
        if self.step:
            return f"{value:.{self.decimals}f}"
        return f"{value:.6g}"

    def grid(self) -> list:
        if self.type == "categorical":
            return list(self.choices)
        step = self.step or (1 if self.type == "int" else None)
        if step is None:
            raise ConfigError(f"grid search needs a step for float parameter {self.name}")
        count = int(math.floor((self.high - self.low) / step + 1e-9)) + 1
        values = [self.low + step * i for i in range(count)]
        return [int(v) for v in values] if self.type == "int" else [round(v, 12) for v in values]


_COMPARE = {ast.Lt: operator.lt, ast.LtE: operator.le, ast.Gt: operator.gt, ast.GtE: operator.ge,
            ast.NotEq: operator.ne}
_ARITHMETIC = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv}


@dataclass(frozen=True)
class Relation:
    """A relation a point must keep, as written (``slow > fast``): comparisons (``<``, ``<=``,
    ``>``, ``>=``, ``!=``, chained) of ``+ - * /`` over names and numbers. It holds vacuously on a
    point that lacks one of its names (a conditional parameter not drawn)."""

    text: str
    names: tuple[str, ...]

    @classmethod
    def parse(cls, text, known=None) -> Relation:
        """The relation ``text``; a ConfigError unless it is one (naming only ``known`` names, if given)."""
        try:
            tree = ast.parse(text, mode="eval").body if isinstance(text, str) else None
        except SyntaxError:
            tree = None
        if not isinstance(tree, ast.Compare) or not all(type(op) in _COMPARE for op in tree.ops) or \
                not all(_arithmetic(node) for node in [tree.left, *tree.comparators]):
            raise ConfigError(f"relation {text!r}: write a comparison such as 'slow > fast' or "
                              "'take_profit >= 2 * stop_loss' (<, <=, >, >=, != over + - * /, names and numbers)")
        names = tuple(dict.fromkeys(n.id for n in ast.walk(tree) if isinstance(n, ast.Name)))
        unknown = [n for n in names if known is not None and n not in known]
        if unknown:
            raise ConfigError(f"relation {text!r}: {', '.join(unknown)} is neither a searched parameter nor a fixed "
                              "field")
        return cls(text, names)

    @functools.cached_property
    def _tree(self) -> ast.Compare:
        return ast.parse(self.text, mode="eval").body

    def holds(self, values: dict) -> bool:
        if any(name not in values for name in self.names):
            return True
        tree = self._tree
        left = _evaluate(tree.left, values)
        for op, node in zip(tree.ops, tree.comparators):
            right = _evaluate(node, values)
            if not _COMPARE[type(op)](left, right):
                return False
            left = right
        return True


def _arithmetic(node) -> bool:
    if isinstance(node, ast.BinOp):
        return type(node.op) in _ARITHMETIC and _arithmetic(node.left) and _arithmetic(node.right)
    if isinstance(node, ast.UnaryOp):
        return isinstance(node.op, ast.USub) and _arithmetic(node.operand)
    return isinstance(node, ast.Name) or (isinstance(node, ast.Constant) and type(node.value) in (int, float))


def _evaluate(node, values: dict) -> float:
    if isinstance(node, ast.BinOp):
        left, right = _evaluate(node.left, values), _evaluate(node.right, values)
        return math.inf if isinstance(node.op, ast.Div) and right == 0 else _ARITHMETIC[type(node.op)](left, right)
    if isinstance(node, ast.UnaryOp):
        return -_evaluate(node.operand, values)
    if isinstance(node, ast.Name):
        return float(values[node.id])
    return float(node.value)


def parse_relations(raw, known) -> list[Relation]:
    """A list of relations (see :class:`Relation`) over the ``known`` names."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise ConfigError(f"relations must be a list such as ['slow > fast'], not {raw!r}")
    return [Relation.parse(text, known) for text in raw]


def parse_space(raw: dict) -> list[Param]:
    """Validate a space mapping into parameters; errors name the parameter."""
    if not isinstance(raw, dict) or not raw:
        raise ConfigError("the search space is empty")
    params, seen = [], set()
    for name, spec in raw.items():
        if not isinstance(name, str):
            raise ConfigError(f"space parameter {name!r}: a name must be a string")
        if not isinstance(spec, dict) or spec.get("type") not in TYPES:
            raise ConfigError(f"space parameter {name}: needs a type, one of {', '.join(TYPES)}")
        unknown = set(spec) - {"type", "low", "high", "step", "log", "choices", "when"}
        if unknown:
            raise ConfigError(f"space parameter {name}: unknown key(s) {', '.join(sorted(unknown))}")
        if not isinstance(spec.get("when") or {}, dict):
            raise ConfigError(f"space parameter {name}: when must be a mapping of earlier parameters to values")
        when = tuple((k, tuple(v) if isinstance(v, list) else (v,)) for k, v in (spec.get("when") or {}).items())
        for parent, _ in when:
            if parent not in seen:
                raise ConfigError(f"space parameter {name}: condition on {parent}, which is not an earlier parameter")
        if spec["type"] == "categorical":
            choices = spec.get("choices")
            if not isinstance(choices, list) or not choices:
                raise ConfigError(f"space parameter {name}: categorical needs a non-empty list of choices")
            param = Param(name, "categorical", choices=tuple(choices), when=when)
        else:
            try:
                low, high = float(spec["low"]), float(spec["high"])
                step = float(spec["step"]) if spec.get("step") is not None else None
            except (KeyError, TypeError, ValueError, OverflowError):
                raise ConfigError(f"space parameter {name}: needs numeric low and high (and step)") from None
            if not all(math.isfinite(v) for v in (low, high, step or 1, high - low)):
                raise ConfigError(f"space parameter {name}: low, high and step must be finite numbers")
            log = bool(spec.get("log", False))
            if not low < high or (step is not None and step <= 0) or (log and (low <= 0 or step)):
                raise ConfigError(f"space parameter {name}: needs low < high, a positive step, "
                                  "and log only with low > 0 and no step")
            _check_precision(name, spec["type"], low, high, step)
            param = Param(name, spec["type"], low, high, step, log, when=when)
        params.append(param)
        seen.add(name)
    return params


def _check_precision(name: str, kind: str, low: float, high: float, step: float | None) -> None:
    """A :class:`ConfigError` for bounds an ``int`` cannot hold exactly, or a step finer than the
    floats of its range can tell apart (there would be more grid points than distinct values)."""
    if kind == "int" and (max(abs(low), abs(high)) > MAX_EXACT or (step is not None and step < 1)):
        raise ConfigError(f"space parameter {name}: an int parameter needs bounds within +-2**53 and a step of "
                          "at least 1")
    if step is not None and ((high - low) / step > MAX_EXACT or step < 4 * math.ulp(max(abs(low), abs(high)))):
        raise ConfigError(f"space parameter {name}: step {step:g} is below the float precision of its range "
                          f"{low:g} to {high:g} (at most 2**53 steps)")


def suggest(space: list[Param], trial: optuna.Trial) -> dict:
    """Draw a point through an optuna trial (TPE, NSGA-II, ...), honouring conditions."""
    drawn: dict[str, Any] = {}
    for param in space:
        if param.applies(drawn):
            drawn[param.name] = param.suggest(trial)
    return drawn


def draw(space: list[Param], seed: int | None, index: int) -> dict:
    """The ``index``-th random point of a seeded search: depends only on (seed, index), never on
    the order trials finish in or the number of workers."""
    rng = np.random.default_rng([seed if seed is not None else 0, index])
    drawn: dict[str, Any] = {}
    for param in space:
        if param.applies(drawn):
            drawn[param.name] = param.draw(rng)
    return drawn


def grid_points(space: list[Param]) -> list[dict]:
    """Every point of the grid, conditional parameters expanded only where they apply."""
    points = [{}]
    for param in space:
        expanded = []
        for point in points:
            if param.applies(point):
                expanded.extend({**point, param.name: value} for value in param.grid())
            else:
                expanded.append(point)
        points = expanded
    return points


def nudged(space: list[Param], params: dict, names) -> list[dict]:
    """``params`` with the parameters ``names`` each moved to its neighbours (all combinations
    when several, ``params`` itself left out); a point whose conditional parameters would change
    is left out."""
    by_name = {p.name: p for p in space}
    points = [dict(params)]
    for name in names:
        if name in params:
            points = [{**point, name: v} for point in points for v in [params[name], *by_name[name].neighbours(params[name])]]
    applicable = {p.name for p in space if p.applies(params)}
    return [point for point in points[1:] if {p.name for p in space if p.applies(point)} == applicable]


def distributions(space: list[Param], drawn: dict) -> dict:
    return {p.name: p.distribution() for p in space if p.name in drawn}


def shown_value(space: list[Param], name: str, value) -> str:
    """``value`` of parameter ``name`` as :meth:`Param.shown` writes it; a name the space does not
    hold (a study's older space) to 6 significant digits."""
    param = next((p for p in space if p.name == name), None)
    if param:
        return param.shown(value)
    return f"{value:.6g}" if isinstance(value, float) else str(value)


def shown(space: list[Param], params: dict) -> str:
    """``params`` as ``name=value, ...``, each value as :func:`shown_value` writes it."""
    return ", ".join(f"{k}={shown_value(space, k, v)}" for k, v in params.items())


def tidy(params: dict) -> dict:
    """Floats rid of arithmetic noise: 0.05 rather than 0.050000000000000044, 0 rather than 5.6e-17."""
    return {k: round(v, 12) if isinstance(v, float) else v for k, v in params.items()}


def on_steps(space, params: dict) -> dict:
    """``params`` as every table, ``--json`` and export give them: each on its parameter's step
    grid (:meth:`Param.rounded`); a name the space does not hold (a study's older space), tidied."""
    by_name = {p.name: p for p in space}
    return {k: by_name[k].rounded(v) if k in by_name else tidy({k: v})[k] for k, v in params.items()}


def config_fields(space, drawn: dict) -> dict:
    """The drawn values that are controller config fields, on their steps."""
    return on_steps(space, {k: v for k, v in drawn.items() if not k.startswith("_")})

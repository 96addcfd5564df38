"""Windows for out-of-sample checks: a holdout after the in-sample window, and walk-forward folds.

A backtest window ``[start, end]`` trades on the ticks from ``start`` through ``end``; the tick at
``end`` trades on the candle that opens there, so a run over ``[start, end]`` has seen data up to
``end + tick``. Two windows are disjoint when the first's data ends, plus ``gap``, before the
second starts: no position of the first can live into the second when ``gap`` is at least the
longest a position can live (its ``time_limit``). A window's indicator warm-up, the candles
before its start, may come from an earlier window: that is data the controller would have had.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from hbopt.errors import ConfigError, DataError

DAY = 86400


@dataclass(frozen=True)
class Segment:
    start: int
    end: int

    @property
    def days(self) -> float:
        return (self.end - self.start) / DAY

    def as_list(self) -> list[int]:
        return [self.start, self.end]


def disjoint(first: Segment, then: Segment, tick: int, gap: int) -> bool:
    return first.end + tick + gap <= then.start


def _floor(ts: float, tick: int) -> int:
    return int(ts // tick * tick)


def holdout_split(window: Segment, fraction: float, tick: int, gap: int) -> tuple[Segment, Segment | None]:
    """The in-sample window and the holdout: the last ``fraction`` of ``window``, its first ``gap``
    seconds left unused. ``fraction`` 0: the whole window, no holdout."""
    if fraction == 0:
        return window, None
    cut = _floor(window.end - fraction * (window.end - window.start), tick)
    in_sample, holdout = Segment(window.start, cut - tick), Segment(cut + gap, window.end)
    if in_sample.end <= in_sample.start or holdout.end - holdout.start < tick:
        raise ConfigError(f"holdout {fraction:g} of {window.days:.4g} days with a {gap / 3600:g} h gap leaves "
                          "no room for both windows; use a longer window or a smaller holdout")
    return in_sample, holdout


def folds(window: Segment, k: int, tick: int, gap: int, anchored: bool = False,
          train_blocks: int = 3) -> list[tuple[Segment, Segment]]:
    """``k`` walk-forward folds ``(train, test)``: the window cut into ``k + train_blocks`` equal
    blocks; fold ``i`` tests on block ``train_blocks + i`` (its first ``gap`` seconds unused) and
    trains on the ``train_blocks`` blocks before it (rolling) or on everything before it
    (``anchored``). Test windows follow one another, so their results stitch into one
    out-of-sample run."""
    if k < 1 or train_blocks < 1:
        raise ConfigError("walk-forward needs at least one fold and one training block")
    block = (window.end - window.start) / (k + train_blocks)
    edges = [_floor(window.start + i * block, tick) for i in range(k + train_blocks)] + [window.end]
    out = []
    for i in range(k):
        test_from = edges[train_blocks + i]
        train = Segment(window.start if anchored else edges[i], test_from - tick)
        test = Segment(test_from + gap, edges[train_blocks + i + 1] - (tick if i < k - 1 else 0))
        if test.end - test.start < tick or train.end <= train.start:
            raise ConfigError(f"{k} folds of {window.days:.4g} days with a {gap / 3600:g} h gap leave no room "
                              "for a test window; use fewer folds or a longer window")
        out.append((train, test))
    return out


def require_warmup_fits(pair: str, warmup: int, segment: Segment, what: str) -> None:
    """A :class:`DataError` unless the ``what`` window ``segment`` is longer than the indicator
    warm-up its trials may need: Hummingbot's engine shows a controller only the candles inside
    the window it runs, so a trial whose warm-up fills it has no tick to trade and fails."""
    if warmup >= segment.end - segment.start:
        raise DataError(f"{pair}: the space's trials need up to {warmup / DAY:.3g} d of indicator warm-up, as long as "
                        f"the {segment.days:.3g} d {what} window or longer (Hummingbot's engine shows a controller "
                        "only the candles inside it); use a longer window or a narrower space")


def position_lifetime(spec, config: dict, user_module: str | None) -> int:
    """The longest a position of the study can live, in seconds: the highest ``time_limit`` its
    space can draw, else that of ``config`` (a full controller config of the study: its fixed or
    default one); 0 when the controller has none."""
    from hbopt.engine.controllers import load_config

    searched = [p.high for p in spec.space if p.name == "time_limit" and p.type in ("int", "float")]
    if searched:
        return int(math.ceil(searched[0]))
    return int(math.ceil(getattr(load_config(config, user_module), "time_limit", None) or 0))


@dataclass(frozen=True)
class DataWindows:
    """A spec's whole window per pair (the last ``days`` the data covers, or ``start``-``end``)
    with its warm-up (s), the tick (s) and the gap (s) that keeps any two windows apart."""

    whole: dict[str, tuple[Segment, int]]
    tick: int
    gap: int


def data_windows(spec, user_module: str | None, candles) -> DataWindows:
    """The spec's :class:`DataWindows` on ``candles`` (the run's, :func:`mirrored_candles`). The window is found for a loadable point of the space;
    its warm-up is the longest of that point's and those of the space's far corners (every
    parameter at its highest, then each categorical choice over that), so the data is known to
    cover the warm-up a trial may need before any trial runs: a :class:`DataError` if it does not."""
    from hbopt.cache.candles import interval_seconds
    from hbopt.engine import data_window
    from hbopt.search.space import config_fields, shown
    from hbopt.search.spec import loadable_point

    tick = interval_seconds(spec.resolution)
    points = [loadable_point(spec, user_module), *far_points(spec, user_module)]
    whole = {}
    for pair in spec.pairs:
        configs = [spec.config_for(pair, config_fields(spec.space, point)) for point in points]
        found = data_window(configs[0], spec.resolution, days=spec.days, start=spec.start, end=spec.end,
                            candles=candles, user_module=user_module)
        warmup = found["warmup"]
        for point, config in zip(points[1:], configs[1:]):
            try:
                warmup = max(warmup, data_window(config, spec.resolution, start=found["start"], end=found["end"],
                                                 candles=candles, user_module=user_module)["warmup"])
            except DataError as exc:
                raise DataError(f"{exc}, for the warm-up of the space's point {shown(spec.space, point)}; use a shorter "
                                "window or a narrower space") from None
        whole[pair] = (Segment(found["start"], found["end"]), warmup)
    lifetime = position_lifetime(spec, spec.config_for(spec.pairs[0], config_fields(spec.space, points[0])), user_module)
    return DataWindows(whole, tick, -(-lifetime // tick) * tick)


def far_points(spec, user_module: str | None) -> list[dict]:
    """The space's highest point and, over it, each other choice of each categorical parameter:
    those that keep the relations and load (the candles a trial reads grow with its periods)."""
    from hbopt.engine.backtest import backtest_config
    from hbopt.search.space import config_fields

    highest = {p.name: p.highest for p in spec.space}
    points = [highest] + [{**highest, p.name: choice} for p in spec.space if p.type == "categorical"
                          for choice in p.choices[:-1]]
    kept = []
    for point in filter(spec.allows, points):
        try:
            backtest_config(spec.config_for(spec.pairs[0], config_fields(spec.space, point)), user_module)
        except Exception:  # a corner the controller refuses has no warm-up to count
            continue
        kept.append(point)
    return kept


def study_windows(spec, user_module: str | None, candles) -> dict:
    """On ``candles`` (the run's), per pair, the study's whole window and how it is used, each ``[start, end]``:
    ``{"window", "in_sample", "holdout" (None without one), "warmup" (s), "gap" (s)}``."""
    found = data_windows(spec, user_module, candles)
    out = {}
    for pair, (whole, warmup) in found.whole.items():
        in_sample, holdout = holdout_split(whole, spec.holdout, found.tick, found.gap)
        assert holdout is None or disjoint(in_sample, holdout, found.tick, found.gap)
        require_warmup_fits(pair, warmup, in_sample, "in-sample")
        if holdout:
            require_warmup_fits(pair, warmup, holdout, "holdout")
        out[pair] = {"window": whole.as_list(), "in_sample": in_sample.as_list(),
                     "holdout": holdout.as_list() if holdout else None, "warmup": warmup, "gap": found.gap}
    return out

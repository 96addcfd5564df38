"""Candle arrays and window frames served from a source (the mirror), memoised within a bound.

A backtest worker asks for the same series trial after trial, in windows that differ with each
trial's warm-up. ``CandleWindows`` keeps, per series and interval, the array and one frame of
the whole series, up to ``max_bytes`` (least recently used dropped first), and hands out
windows as slices of that frame: no copy, so memory stays flat however many windows are asked
for. pandas' copy-on-write keeps a consumer's changes to its own slice.
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Callable

import numpy as np
import pandas as pd

from hbopt.cache.candles import resample_array, to_frame
from hbopt.cache.funding import FUNDING
from hbopt.errors import DataError

#: ``(connector, pair, interval) -> candle array`` (rows x the ten candle columns), e.g. ``Mirror.load``.
CandleSource = Callable[[str, str, str], np.ndarray]


class CandleWindows:
    def __init__(self, source: CandleSource, max_bytes: int = 0):
        self._source, self.max_bytes = source, max_bytes
        self._memo: OrderedDict[tuple, tuple[object, int]] = OrderedDict()
        self._bytes = 0
        self.hits = self.misses = 0

    def _remember(self, key: tuple, make: Callable[[], object], size: Callable[[object], int]):
        if key in self._memo:
            self.hits += 1
            self._memo.move_to_end(key)
            return self._memo[key][0]
        self.misses += 1
        value = make()
        nbytes = size(value)
        if nbytes <= self.max_bytes:
            self._memo[key] = (value, nbytes)
            self._bytes += nbytes
            while self._bytes > self.max_bytes:
                _, (_, old_bytes) = self._memo.popitem(last=False)
                self._bytes -= old_bytes
        return value

    @property
    def cached_bytes(self) -> int:
        return self._bytes

    def array(self, connector: str, pair: str, interval: str) -> np.ndarray:
        """The whole series at ``interval`` (memory-mapped arrays are not counted against the bound)."""
        def size(arr):
            return 0 if isinstance(arr, np.memmap) else arr.nbytes
        return self._remember(("array", connector, pair, interval),
                              lambda: self._source(connector, pair, interval), size)

    def frame(self, connector: str, pair: str, interval: str, first: int, last: int) -> pd.DataFrame:
        """Rows ``first..last`` (indices into :meth:`array`) as a candle frame indexed from 0: only
        those rows are copied out of the (memory-mapped) series and kept, so what a worker holds
        is the windows its trials read, whatever the length of the series."""
        return self._remember(("frame", connector, pair, interval, first, last),
                              lambda: to_frame(np.array(self.array(connector, pair, interval)[first:last + 1])),
                              lambda df: int(df.memory_usage(index=False).sum())).copy()


def resampling_source(minutes: np.ndarray, funding: np.ndarray | None = None) -> CandleSource:
    """A source serving one in-memory series of 1m candles at any interval it divides, and
    ``funding`` as every pair's funding rates (for benchmarks and tests; the pair and connector
    asked for are ignored)."""
    def candles(connector: str, pair: str, interval: str) -> np.ndarray:
        if interval == FUNDING:
            if funding is None:
                raise DataError(f"no funding rates for {connector} {pair}")
            return funding
        return minutes if interval == "1m" else resample_array(minutes, "1m", interval)
    return candles

"""A throwaway hbopt home holding synthetic markets, for benchmarks."""
from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from pathlib import Path

from hbopt.cache import synth
from hbopt.cache.mirror import Mirror
from hbopt.cache.store import CandleKey, CandleStore

_VARIABLES = ("HBOPT_HOME", "HBOPT_MIRROR_DIR")


@contextmanager
def pointed_at(folder: Path):
    """Within the block, ``$HBOPT_HOME`` and ``$HBOPT_MIRROR_DIR`` point to ``folder/home`` and
    ``folder/mirror``; both are restored afterwards."""
    saved = {k: os.environ.get(k) for k in _VARIABLES}
    os.environ.update(HBOPT_HOME=str(Path(folder) / "home"), HBOPT_MIRROR_DIR=str(Path(folder) / "mirror"))
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@contextmanager
def scratch_market(connector: str, regimes: dict[str, str], days: float, seed: int):
    """Within the block, ``$HBOPT_HOME`` and ``$HBOPT_MIRROR_DIR`` point into a temporary folder
    whose store and mirror hold ``days`` of seeded synthetic 1m candles for each pair of
    ``regimes`` (pair -> :func:`~hbopt.cache.synth.generate`'s regime); both are restored and the
    folder removed afterwards. Yields the folder (room for scratch files)."""
    with tempfile.TemporaryDirectory(prefix="hbopt-bench-") as scratch, pointed_at(Path(scratch)):
        for pair, regime in regimes.items():
            CandleStore().add(CandleKey(connector, pair, "1m"), synth.generate(days, "1m", seed=seed, regime=regime),
                              {"synthetic": True})
        Mirror.default().refresh()
        yield Path(scratch)

"""Where hbopt keeps its files. Read from the environment at call time so tests can redirect."""
import os
from pathlib import Path


def home() -> Path:
    """``$HBOPT_HOME`` (default ``~/.hbopt``): the candle store and studies live here."""
    return Path(os.environ.get("HBOPT_HOME") or Path.home() / ".hbopt").expanduser()


def store_dir() -> Path:
    return home() / "candles"


def trading_rules_file() -> Path:
    """Optional local trading rules, see ``hbopt.engine.trading_rules``."""
    return home() / "trading_rules.json"


def mirror_dir() -> Path:
    """``$HBOPT_MIRROR_DIR`` (default ``/tmp/hbot_data``): memory-mappable copy of the store."""
    return Path(os.environ.get("HBOPT_MIRROR_DIR") or "/tmp/hbot_data").expanduser()


DEFAULT_LOCK_WAIT = 120.0


def lock_wait() -> float:
    """``$HBOPT_WAIT`` (default 120): seconds to wait for a lock another process holds before giving
    up with exit 6. ``hbopt --wait SECONDS`` sets it, for the command and its workers."""
    try:
        wait = float(os.environ.get("HBOPT_WAIT") or DEFAULT_LOCK_WAIT)
    except ValueError:
        return DEFAULT_LOCK_WAIT
    return wait if 0 <= wait < float("inf") else DEFAULT_LOCK_WAIT

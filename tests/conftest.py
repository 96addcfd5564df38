"""Shared fixtures: every test gets its own empty $HBOPT_HOME and mirror folder."""
from __future__ import annotations

import sys

import pytest

from hbopt.cache import synth
from hbopt.cache.mirror import Mirror
from hbopt.cache.store import CandleKey, CandleStore
from hbopt.cli import main

CONNECTOR, PAIR = "binance_perpetual", "BTC-USDT"
KEY_1M = CandleKey(CONNECTOR, PAIR, "1m")


@pytest.fixture(autouse=True)
def hbopt_env(tmp_path, monkeypatch):
    """Isolated store and mirror folders."""
    monkeypatch.setenv("HBOPT_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("HBOPT_MIRROR_DIR", str(tmp_path / "mirror"))
    monkeypatch.delenv("HBOPT_DEBUG", raising=False)
    return tmp_path


@pytest.fixture
def store() -> CandleStore:
    return CandleStore()


@pytest.fixture
def market(store):
    """12 days of seeded synthetic 1m candles in the store, mirrored. Returns the frame."""
    df = synth.generate(12, "1m", seed=11)
    store.add(KEY_1M, df, {"source": "synth", "synthetic": True})
    Mirror.default().refresh()
    return df


class Run:
    def __init__(self, code, out, err):
        self.code, self.out, self.err = code, out, err


@pytest.fixture
def hbopt(capsys, monkeypatch):
    """Run the hbopt CLI in-process: ``hbopt("data", "list")`` -> Run(code, out, err)."""
    def run(*args):
        monkeypatch.setattr(sys, "argv", ["hbopt", *map(str, args)])
        capsys.readouterr()
        try:
            main()
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        captured = capsys.readouterr()
        return Run(code, captured.out, captured.err)
    return run

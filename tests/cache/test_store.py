import json
import os
import subprocess
import sys

import pandas as pd

from hbopt.cache import synth
from hbopt.cache.store import CandleKey, CandleStore

KEY = CandleKey("binance", "BTC-USDT", "1m")


def test_two_imports_at_once_lose_no_rows(tmp_path):
    candles = synth.generate(40, "1m", seed=3)  # 57,600 candles: each import takes a while
    halves = [tmp_path / "first.parquet", tmp_path / "second.parquet"]
    candles.iloc[: len(candles) // 2].to_parquet(halves[0])
    candles.iloc[len(candles) // 2:].to_parquet(halves[1])
    for attempt in range(3):  # without the lock one write or another is lost nearly every time
        home = tmp_path / f"home{attempt}"
        env = {**os.environ, "HBOPT_HOME": str(home)}
        imports = [subprocess.Popen([sys.executable, "-m", "hbopt", "data", "import", half, "--connector", "binance",
                                     "--pair", "BTC-USDT"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                   for half in halves]
        for run in imports:
            _, err = run.communicate(timeout=60)
            assert run.returncode == 0, err
        pd.testing.assert_frame_equal(CandleStore(home / "candles").read(KEY), candles)


def test_an_unreadable_file_is_listed_with_its_error_beside_the_others(store, hbopt):
    eth = CandleKey("binance", "ETH-USDT", "1m")
    store.add(KEY, synth.generate(1, "1m", seed=1), {"source": "synth", "synthetic": True})
    store.add(eth, synth.generate(1, "1m", seed=2), {"source": "synth", "synthetic": True})
    store.path(eth).write_bytes(os.urandom(2000))
    btc_row, eth_row = store.infos()
    assert btc_row["rows"] == 1440 and "error" not in btc_row
    assert eth_row["file"] == "binance|ETH-USDT|1m.parquet" and eth_row["error"].startswith(
        "cannot read binance|ETH-USDT|1m.parquet: ")
    run = hbopt("data", "list", "--json")
    assert run.code == 0 and json.loads(run.out) == [btc_row, eth_row]
    run = hbopt("data", "list")
    assert run.code == 0 and "│ error" in run.out and "  cannot read binance|ETH-USDT|1m.parquet: " in run.out

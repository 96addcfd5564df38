import json
import multiprocessing as mp

import numpy as np
import pytest

from hbopt.cache import synth
from hbopt.cache.candles import resample_array
from hbopt.cache.mirror import Mirror
from hbopt.cache.store import CandleKey
from hbopt.errors import DataError

BTC = CandleKey("binance_perpetual", "BTC-USDT", "1m")
ETH = CandleKey("binance_perpetual", "ETH-USDT", "1m")


def states(mirror):
    return {row["file"]: row["state"] for row in mirror.status()}


def test_refresh_copies_only_what_changed_and_drops_what_left_the_store(store):
    mirror = Mirror.default()
    store.add(BTC, synth.generate(2, seed=1), {"synthetic": True})
    store.add(ETH, synth.generate(2, seed=2), {"synthetic": True})
    assert states(mirror) == {BTC.stem: "missing", ETH.stem: "missing"}
    assert sorted(mirror.refresh()["copied"]) == [BTC.stem, ETH.stem]
    assert mirror.refresh() == {"copied": [], "unchanged": [BTC.stem, ETH.stem], "removed": []}

    store.add(ETH, synth.generate(3, seed=2), {"synthetic": True}, replace=True)
    assert states(mirror) == {BTC.stem: "fresh", ETH.stem: "stale"}
    assert mirror.refresh()["copied"] == [ETH.stem]

    store.path(BTC).unlink()
    assert states(mirror)[BTC.stem] == "orphan"
    assert mirror.refresh()["removed"] == [BTC.stem]
    assert mirror.is_fresh()


def test_mirrored_array_equals_the_store_and_is_memory_mapped(store):
    df = synth.generate(2, seed=1)
    store.add(BTC, df, {"synthetic": True})
    mirror = Mirror.default()
    mirror.refresh()
    arr = mirror.load(*BTC.stem.split("|"))
    assert isinstance(arr, np.memmap) and not arr.flags.writeable
    np.testing.assert_array_equal(arr, df.to_numpy())
    side = json.loads((mirror.root / f"{BTC.stem}.json").read_text())
    assert side["rows"] == len(df) and side["first"] == df["timestamp"].iat[0] and len(side["source_checksum"]) == 64


def test_coarser_intervals_are_resampled_and_unknown_series_are_a_data_error(store):
    df = synth.generate(2, seed=1)
    store.add(BTC, df, {"synthetic": True})
    mirror = Mirror.default()
    mirror.refresh()
    np.testing.assert_array_equal(mirror.load("binance_perpetual", "BTC-USDT", "1h"),
                                  resample_array(df.to_numpy(), "1m", "1h"))
    with pytest.raises(DataError, match="no candles for binance_perpetual SOL-USDT at 1m"):
        mirror.load("binance_perpetual", "SOL-USDT", "1m")


def test_clear_empties_the_mirror_only(store):
    store.add(BTC, synth.generate(1, seed=1), {"synthetic": True})
    mirror = Mirror.default()
    mirror.refresh()
    assert mirror.clear() == [BTC.stem]
    assert states(mirror) == {BTC.stem: "missing"} and store.exists(BTC)


def _refresh_repeatedly(n):
    for _ in range(n):
        Mirror.default().refresh()


def _rewrite_store(n):
    from hbopt.cache.store import CandleStore

    for i in range(n):
        CandleStore().add(BTC, synth.generate(1 + i % 2, seed=i), {"synthetic": True}, replace=True)
        Mirror.default().refresh()


def test_concurrent_refreshes_and_readers_never_see_a_torn_file(store):
    store.add(BTC, synth.generate(1, seed=0), {"synthetic": True})
    Mirror.default().refresh()
    ctx = mp.get_context("spawn")
    writers = [ctx.Process(target=_rewrite_store, args=(12,)), ctx.Process(target=_refresh_repeatedly, args=(30,))]
    for w in writers:
        w.start()
    mirror = Mirror.default()
    reads = 0
    while any(w.is_alive() for w in writers) or reads < 20:
        arr = mirror.load("binance_perpetual", "BTC-USDT", "1m")
        assert arr.shape[0] in (1440, 2880) and np.all(np.diff(arr[:, 0]) == 60)
        reads += 1
    for w in writers:
        w.join()
        assert w.exitcode == 0
    mirror.refresh()
    assert mirror.is_fresh()
    assert not [p for p in mirror.root.iterdir() if p.name.endswith(".tmp")]

import json
import multiprocessing as mp
import os

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
    assert mirror.refresh() == {"copied": [], "unchanged": [BTC.stem, ETH.stem], "removed": [], "failed": {}}

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


def _mirrored(store, *keys):
    for i, key in enumerate(keys):
        store.add(key, synth.generate(2, seed=i), {"synthetic": True})
    mirror = Mirror.default()
    mirror.refresh()
    return mirror


def test_a_truncated_array_is_corrupt_refused_on_load_and_copied_again(store):
    mirror = _mirrored(store, BTC)
    array = mirror.root / f"{BTC.stem}.npy"
    array.write_bytes(array.read_bytes()[:-800])
    assert states(mirror) == {BTC.stem: "corrupt"}
    with pytest.raises(DataError, match=rf"mirror file .*{BTC.stem}\.npy is damaged .*run 'hbopt mirror refresh'"):
        mirror.load("binance_perpetual", "BTC-USDT", "1m")
    assert mirror.refresh()["copied"] == [BTC.stem]
    np.testing.assert_array_equal(mirror.load("binance_perpetual", "BTC-USDT", "1m"), store.read(BTC).to_numpy())


def test_flipped_bytes_of_the_same_size_are_corrupt(store):
    mirror = _mirrored(store, BTC)
    array = mirror.root / f"{BTC.stem}.npy"
    data = bytearray(array.read_bytes())
    data[len(data) // 2] ^= 0xFF
    array.write_bytes(bytes(data))
    assert states(mirror) == {BTC.stem: "corrupt"}
    assert mirror.refresh()["copied"] == [BTC.stem] and mirror.is_fresh()


def test_a_sidecar_without_the_array_checksum_is_stale_and_copied_again(store):
    mirror = _mirrored(store, BTC)
    sidecar = mirror.root / f"{BTC.stem}.json"
    old = {k: v for k, v in json.loads(sidecar.read_text()).items() if k not in ("bytes", "sha256")}
    sidecar.write_text(json.dumps(old))
    assert states(mirror) == {BTC.stem: "stale"}
    assert mirror.refresh()["copied"] == [BTC.stem] and mirror.is_fresh()


def test_an_unreadable_store_file_fails_alone_and_is_never_served_stale(store):
    mirror = _mirrored(store, BTC, ETH)
    store.path(ETH).write_bytes(b"garbage" * 300)
    assert states(mirror) == {BTC.stem: "fresh", ETH.stem: "unreadable"}
    report = mirror.refresh()
    assert report["unchanged"] == [BTC.stem] and list(report["failed"]) == [ETH.stem]
    assert report["failed"][ETH.stem].startswith(f"cannot read {ETH.stem}.parquet: ")
    assert not (mirror.root / f"{ETH.stem}.npy").exists()  # the old copy is gone, not served
    np.testing.assert_array_equal(mirror.load("binance_perpetual", "BTC-USDT", "1m"), store.read(BTC).to_numpy())
    with pytest.raises(DataError, match=rf"^cannot read {ETH.stem}\.parquet: .*the mirror holds none of its candles"):
        mirror.load("binance_perpetual", "ETH-USDT", "5m")


def test_mirror_refresh_command_mirrors_the_rest_then_exits_3_naming_the_unreadable_file(store, hbopt):
    store.add(BTC, synth.generate(1, seed=1), {"synthetic": True})
    store.add(ETH, synth.generate(1, seed=2), {"synthetic": True})
    store.path(ETH).write_bytes(store.path(ETH).read_bytes()[:500])  # truncated
    run = hbopt("mirror", "refresh", "--json")
    assert run.code == 3 and json.loads(run.out)["copied"] == [BTC.stem]
    assert run.err.strip() == f"error: 1 store file(s) could not be mirrored: {ETH.stem}"
    assert f"failed  {ETH.stem}: cannot read" in hbopt("mirror", "refresh").out
    rows = json.loads(hbopt("mirror", "status", "--json").out)["files"]
    assert [(r["file"], r["state"]) for r in rows] == [(BTC.stem, "fresh"), (ETH.stem, "unreadable")]
    assert rows[1]["error"].startswith(f"cannot read {ETH.stem}.parquet")


def test_a_series_stored_but_not_mirrored_says_to_refresh(store):
    store.add(BTC, synth.generate(1, seed=1), {"synthetic": True})
    with pytest.raises(DataError, match=rf"^{BTC.stem}\.parquet is stored but not mirrored; run 'hbopt mirror refresh'"):
        Mirror.default().load("binance_perpetual", "BTC-USDT", "1h")


def test_a_backtest_of_another_pair_runs_beside_an_unreadable_store_file(market, store, hbopt):
    store.add(ETH, synth.generate(3, seed=2), {"synthetic": True})
    Mirror.default().refresh()
    store.path(ETH).write_bytes(os.urandom(4000))
    run = hbopt("backtest", "--controller", "bollinger", "--connector", "binance_perpetual", "--pair", "BTC-USDT",
                "--days", "2", "--turbo", "--json")
    assert run.code == 0 and json.loads(run.out)["total_executors"] > 0
    run = hbopt("backtest", "--controller", "bollinger", "--connector", "binance_perpetual", "--pair", "ETH-USDT",
                "--days", "2", "--turbo")
    assert run.code == 3 and run.err.startswith(f"error: cannot read {ETH.stem}.parquet: ")

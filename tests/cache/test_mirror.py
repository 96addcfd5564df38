import json
import multiprocessing as mp
import os
import re
import subprocess
import sys

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


@pytest.mark.parametrize("damage, why", [
    (lambda side: {k: v for k, v in side.items() if k != "rows"}, "its sidecar lacks or garbles rows"),
    (lambda side: {**side, "rows": 5}, "it holds (2880, 10) float64 where its sidecar says (5, 10) float64"),
    (lambda side: "not a sidecar", "its sidecar is not a JSON object"),
], ids=["missing key", "wrong rows", "not an object"])
def test_a_damaged_sidecar_is_corrupt_refused_on_load_and_copied_again(store, damage, why):
    mirror = _mirrored(store, BTC)
    sidecar = mirror.root / f"{BTC.stem}.json"
    sidecar.write_text(json.dumps(damage(json.loads(sidecar.read_text()))))
    assert [(r["state"], r["error"]) for r in mirror.status()] == [("corrupt", why)]
    with pytest.raises(DataError, match=rf"mirror file .*{BTC.stem}\.npy is damaged \({re.escape(why)}\); run"):
        mirror.load("binance_perpetual", "BTC-USDT", "1m")
    assert mirror.refresh()["copied"] == [BTC.stem] and mirror.is_fresh()


def test_an_array_swapped_for_another_of_the_same_size_is_corrupt_and_never_served(store):
    mirror = _mirrored(store, BTC)
    array = mirror.root / f"{BTC.stem}.npy"
    planted = mirror.root / "planted.npy"
    np.save(planted, np.load(array) * 1.5)
    assert planted.stat().st_size == array.stat().st_size
    os.replace(planted, array)
    assert states(mirror) == {BTC.stem: "corrupt"}
    with pytest.raises(DataError, match="replaced or written to since it was mirrored"):
        mirror.load("binance_perpetual", "BTC-USDT", "1m")
    mirror.refresh()
    np.testing.assert_array_equal(mirror.load("binance_perpetual", "BTC-USDT", "1m"), store.read(BTC).to_numpy())


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


# --------------------------------------------------------------------- a shared /tmp: another user
OTHER = 65534  # nobody
as_root = pytest.mark.skipif(os.geteuid() != 0, reason="handing a file to another user needs root")


def test_the_mirror_is_made_for_its_owner_alone(store, hbopt):
    store.add(BTC, synth.generate(1, seed=1), {"synthetic": True})
    assert hbopt("mirror", "refresh").code == 0
    root = Mirror.default().root
    assert root.stat().st_mode & 0o777 == 0o700
    assert {p.name: p.stat().st_mode & 0o777 for p in root.iterdir()} == {
        ".lock": 0o600, f"{BTC.stem}.npy": 0o600, f"{BTC.stem}.json": 0o600}


@as_root
def test_a_mirror_another_user_made_first_is_refused_and_her_candles_never_read(store, hbopt):
    """She creates the folder before us and plants an array with a sidecar that matches it."""
    mirror = _mirrored(store, BTC)
    for path in [mirror.root, *mirror.root.iterdir()]:
        os.chown(path, OTHER, OTHER)
    why = f"mirror folder {mirror.root} belongs to nobody, not you: another user could feed it hbopt's data; " \
          "set $HBOPT_MIRROR_DIR to a folder of your own"
    for command in (["mirror", "status"], ["mirror", "refresh"], ["mirror", "clear"],
                    ["backtest", "--controller", "bollinger", "--pair", "BTC-USDT", "--days", "1"]):
        run = hbopt(*command)
        assert run.code == 4 and run.err == f"error: {why}\n", command
    assert len(list(mirror.root.iterdir())) == 3


def test_a_mirror_folder_that_is_a_link_is_refused_and_nothing_is_written_through_it(store, hbopt, hbopt_env,
                                                                                      monkeypatch):
    private = hbopt_env / "root-only"
    private.mkdir(mode=0o700)
    (hbopt_env / "linked").symlink_to(private / "mirror")
    monkeypatch.setenv("HBOPT_MIRROR_DIR", str(hbopt_env / "linked"))
    store.add(BTC, synth.generate(1, seed=1), {"synthetic": True})
    run = hbopt("mirror", "refresh")
    assert run.code == 4 and "is not a folder (it is a symbolic link)" in run.err and "HBOPT_MIRROR_DIR" in run.err
    assert list(private.iterdir()) == []


@pytest.mark.parametrize("planted", [".lock", f"{BTC.stem}.json", f"{BTC.stem}.npy"])
def test_a_lock_or_file_in_the_mirror_that_is_a_link_is_refused_and_its_target_left_alone(store, hbopt, hbopt_env,
                                                                                           planted):
    mirror = _mirrored(store, BTC)
    private = hbopt_env / "root-only"
    private.mkdir(mode=0o700)
    (mirror.root / planted).unlink()
    (mirror.root / planted).symlink_to(private / "target")
    for command in (["mirror", "refresh"], ["backtest", "--controller", "bollinger", "--pair", "BTC-USDT", "--days", "1"]):
        run = hbopt(*command)
        assert run.code == 4 and f"{planted} is a symbolic link" in run.err and "HBOPT_MIRROR_DIR" in run.err, command
    assert list(private.iterdir()) == []


@as_root
def test_a_file_in_the_mirror_of_another_user_or_writable_by_others_is_refused(store, hbopt):
    mirror = _mirrored(store, BTC)
    array = mirror.root / f"{BTC.stem}.npy"
    os.chown(array, OTHER, OTHER)
    run = hbopt("mirror", "status")
    assert run.code == 4 and f"mirror file {array} belongs to nobody, not you" in run.err
    os.chown(array, 0, 0)
    os.chmod(array, 0o666)
    run = hbopt("mirror", "refresh")
    assert run.code == 4 and f"mirror file {array} can be written by others (mode 666)" in run.err


HOLD = ("import fcntl, sys, time; f = open(sys.argv[1]); fcntl.flock(f, fcntl.LOCK_EX); print('held', flush=True); "
        "time.sleep(60)")


def test_a_held_mirror_or_store_lock_says_so_then_gives_up_with_exit_6(store, hbopt, tmp_path):
    mirror = _mirrored(store, BTC)
    csv = tmp_path / "candles.csv"
    store.read(BTC).to_csv(csv, index=False)
    for lock, command in ((mirror.root / ".lock", ["mirror", "refresh", "--wait", "1.2"]),
                          (mirror.root / ".lock", ["--wait", "1.2", "backtest", "--controller", "bollinger",
                                                   "--pair", "BTC-USDT", "--days", "1"]),
                          (store.root / f".{BTC.stem}.lock", ["data", "import", csv, "--connector", BTC.connector,
                                                              "--pair", BTC.pair, "--wait", "1.2"])):
        holder = subprocess.Popen([sys.executable, "-c", HOLD, str(lock)], stdout=subprocess.PIPE, text=True)
        try:
            assert holder.stdout.readline() == "held\n"
            run = hbopt(*command)
        finally:
            holder.kill()
        waiting, error = run.err.splitlines()
        assert run.code == 6 and waiting.startswith("waiting for ") and "giving up after 1.2 s" in waiting, command
        assert re.fullmatch(rf"error: .* is still locked by process {holder.pid} \(python\S*\) of \S+ after 1.2 s "
                            r"\(--wait SECONDS waits longer\)", error), error


def test_verify_finds_a_store_file_changed_in_place_with_its_size_and_times_kept(store, hbopt):
    store.add(BTC, synth.generate(2, seed=1), {"source": "import:abcdef.csv", "synthetic": True})
    mirror = Mirror.default()
    mirror.refresh()
    path, st = store.path(BTC), os.stat(store.path(BTC))
    data = path.read_bytes()
    with open(path, "r+b") as fh:  # same inode, same size
        fh.seek(data.index(b"abcdef"))
        fh.write(b"abcdeg")
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert states(mirror) == {BTC.stem: "fresh"}  # a refresh trusts an unchanged identity

    run = hbopt("mirror", "verify")
    assert run.code == 3 and f"repaired {BTC.stem}: its store file's bytes changed" in run.out
    assert f"1 mirror file(s) were damaged: {BTC.stem} (copied again)" in run.err
    again = hbopt("mirror", "verify", "--json")
    assert again.code == 0 and json.loads(again.out)["verified"] == [BTC.stem]


def test_verify_finds_array_values_a_sidecar_was_rewritten_to_trust(store):
    mirror = _mirrored(store, BTC)
    array, sidecar = mirror.root / f"{BTC.stem}.npy", mirror.root / f"{BTC.stem}.json"
    data = bytearray(array.read_bytes())
    data[-8:] = np.float64(1.5).tobytes()
    array.write_bytes(bytes(data))
    side = json.loads(sidecar.read_text())
    st = os.stat(array)
    side["array"].update(inode=st.st_ino, mtime_ns=st.st_mtime_ns, ctime_ns=st.st_ctime_ns)
    sidecar.write_text(json.dumps(side))
    assert states(mirror) == {BTC.stem: "fresh"}
    report = mirror.verify()
    assert report["repaired"] == {BTC.stem: "its values differ from its store file's"}
    np.testing.assert_array_equal(mirror.load("binance_perpetual", "BTC-USDT", "1m"), store.read(BTC).to_numpy())
    assert mirror.verify()["verified"] == [BTC.stem]


def test_a_lone_read_refreshes_only_its_pairs_files(store):
    mirror = _mirrored(store, BTC, ETH)
    store.add(BTC, synth.generate(3, seed=5), {"synthetic": True}, replace=True)
    store.add(ETH, synth.generate(3, seed=6), {"synthetic": True}, replace=True)
    np.testing.assert_array_equal(mirror.load_fresh("binance_perpetual", "BTC-USDT", "1m"), store.read(BTC).to_numpy())
    assert states(mirror) == {BTC.stem: "fresh", ETH.stem: "stale"}
    store.path(BTC).unlink()
    assert mirror.refresh(("binance_perpetual", "BTC-USDT"))["removed"] == [BTC.stem]
    assert states(mirror) == {ETH.stem: "stale"}

"""``hbopt bench``: both engines side by side on each built-in, each row saying whether they agree."""
import json


def test_each_row_times_both_engines_and_reports_their_parity(hbopt):
    run = hbopt("bench", "--days", "1", "--controllers", "grid,market_maker", "--json")
    assert run.code == 0, run.err
    rows = json.loads(run.out)
    assert [row["controller"] for row in rows] == ["grid", "market_maker"]
    for row in rows:
        assert row["parity"] and row["differences"] == [] and row["turbo_fallback"] is None
        assert row["executors"] > 0 and row["stock_ms"] > 0 and row["turbo_ms"] > 0
        assert row["speedup"] > 0
        assert row["costs"] == "exchange" and row["turbo_exchange_ms"] == row["turbo_ms"]
        assert row["turbo_hummingbot_ms"] > 0 and row["fallbacks"] == {"exchange": None, "hummingbot": None}
        assert row["exchange_ratio"] == round(row["turbo_exchange_ms"] / row["turbo_hummingbot_ms"], 2)


def test_the_store_bench_compares_a_large_store_with_a_one_pair_store():
    from hbopt.cache.store_bench import run_store_bench

    r = run_store_bench(pairs=3, days=8, trials=1, rounds=1, workers=1)
    assert (r["pairs"], r["rows_per_pair"], r["discover"]["studies"], r["discover"]["trials"]) == (3, 8 * 1440, 3, 3)
    assert r["noop_refresh_s"] > 0 and r["backtest_ratio"] > 0
    assert r["stores"]["many"]["store_mb"] > 2 * r["stores"]["one"]["store_mb"]
    assert 0 < r["discover"]["worker_peak_rss_mb"] and r["discover"]["workers_replaced"] == 0

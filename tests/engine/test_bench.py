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

"""``hbopt bench --pool``: the driver, the workers and the scaling, measured on real runs."""
import json

import pytest


def test_the_pool_bench_reports_the_driver_the_workers_and_the_scaling_per_sampler(hbopt):
    run = hbopt("bench", "--pool", "--workers", "1,2", "--trials", "24", "--days", "3", "--json")
    assert run.code == 0, run.err
    bench = json.loads(run.out)
    assert [r["sampler"] for r in bench["samplers"]] == ["random", "tpe"]
    for row in bench["samplers"]:
        assert row["workers"] == 2 and row["trials"] == 24 and row["replaced"] == 0
        assert row["ceiling_trials_per_s"] > row["trials_per_s"] > 0  # backtests that cost nothing go faster
        assert 0 < row["ceiling_driver_ms"] and 0 < row["driver_ms"] and 0 < row["busy_pct"] <= 110
        assert row["outside_backtests_ms"] > 0  # the driver and the workers, less the trials' own cpu_s
        busy = row["projected_busy_pct"]
        assert list(busy) == ["16", "48", "96"] and 100 >= busy["16"] >= busy["48"] >= busy["96"] > 0
        assert len(row["rss_over_time"]) == 10 and all(len(m["rss_mb"]) == 2 for m in row["rss_over_time"])
    assert [(r["workers"], r["scaling"]) for r in bench["scaling"]][0] == (1, 1.0)
    assert [r["workers"] for r in bench["scaling"]] == [1, 2]


def test_the_pool_bench_measures_ray_workers_the_same_way(hbopt):
    pytest.importorskip("ray")
    run = hbopt("bench", "--pool", "--backend", "ray", "--workers", "2", "--samplers", "tpe", "--trials", "20",
                "--days", "1", "--json")
    assert run.code == 0, run.err
    bench = json.loads(run.out)
    [row] = bench["samplers"]
    assert bench["backend"] == "ray" and row["workers"] == 2 and row["replaced"] == 0
    # the outside figure counts the driver's whole tree: the local Ray instance's own processes too
    assert row["outside_backtests_ms"] > row["driver_ms"] > 0 and row["backtest_ms"] > 0
    assert list(row["projected_busy_pct"]) == ["16", "48", "96"]


def test_the_pool_bench_refuses_an_unknown_sampler(hbopt):
    run = hbopt("bench", "--pool", "--samplers", "tpe,annealing")
    assert run.code == 2 and "--samplers" in run.err


def test_the_projection_is_the_trials_a_driver_feeds_over_those_the_workers_take():
    from hbopt.search.pool_bench import projected_busy

    # 100 ms trials: a driver spending 5 ms a trial feeds 200/s; 48 workers take 480/s
    assert projected_busy(0.1, 0.005) == {16: 100.0, 48: 41.7, 96: 20.8}

"""``hbopt bench --pool``: the driver, the workers and the scaling, measured on real runs."""
import json


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
        assert len(row["rss_over_time"]) == 10 and all(len(m["rss_mb"]) == 2 for m in row["rss_over_time"])
    assert [(r["workers"], r["scaling"]) for r in bench["scaling"]][0] == (1, 1.0)
    assert [r["workers"] for r in bench["scaling"]] == [1, 2]


def test_the_pool_bench_refuses_an_unknown_sampler(hbopt):
    run = hbopt("bench", "--pool", "--samplers", "tpe,annealing")
    assert run.code == 2 and "--samplers" in run.err

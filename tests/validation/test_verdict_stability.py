"""The verdict holds: on a random walk searched without costs (nothing to fail on but chance)
it fails, and on a mean-reverting market under the exchange's costs it passes, at 60 trials and
again after resuming the study to 160, whichever trial is best by then. ``hbopt bench
--verdict`` runs the same at five seeds (README: Will it hold?)."""
from hbopt.validation.verdict_bench import run_verdict_bench


def test_the_verdict_stays_fail_on_a_random_walk_and_pass_on_a_mean_reverting_market():
    rows = run_verdict_bench(days=40, market_seed=5, seeds=(3,), workers=2)
    assert [(r["market"], r["trials"], r["verdict"]) for r in rows] == [
        ("walk", 60, "fail"), ("walk", 160, "fail"), ("revert", 60, "pass"), ("revert", 160, "pass")], rows
    walk, revert = rows[1], rows[3]
    assert walk["best_in_sample"] > 0 and walk["p_value"] > 0.05  # chance looks good in sample, not on the holdout
    assert revert["profitable"] == revert["top"] and revert["p_value"] < 0.05
    assert rows[2]["best"] != revert["best"]  # more trials found another best; the evidence, and the verdict, stood

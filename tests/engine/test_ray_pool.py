"""The Ray backend on a local two-node cluster: the same trials as the local pool, candles sent
through the object store, and the same faults handled (a lost node, a timeout, memory recycling)."""
import json
import time

import pytest
import ray
from ray.cluster_utils import Cluster

from hbopt.engine.pool import Trial, WorkerSetup
from hbopt.engine.ray_pool import RayPool
from hbopt.search.storage import StudyFolder
from tests.conftest import CONNECTOR, PAIR, signal_controller

pytestmark = pytest.mark.xdist_group("ray")  # one cluster at a time on a small machine


@pytest.fixture(scope="module")
def cluster():
    """A head node and one worker node, one CPU each, started in this process."""
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    cluster.add_node(num_cpus=1)
    cluster.wait_for_nodes()
    yield cluster
    ray.shutdown()
    cluster.shutdown()


def trial(number: int, engine: str = "turbo", days: float = 1) -> Trial:
    config = {"controller_name": "bollinger", "connector_name": CONNECTOR, "trading_pair": PAIR}
    return Trial(number, ({"config": config, "days": days, "engine": engine},))


def outcomes_of(pool, trials) -> dict:
    pool.submit(trials)
    done = {}
    while pool.pending:
        done.update({o.trial.number: o for o in pool.poll(1.0)})
    return done


def test_random_search_gives_the_same_trials_on_ray_as_locally(market, hbopt, cluster):
    args = ["discover", "--controller", "bollinger", "--connector", CONNECTOR, "--pairs", PAIR, "--days", "2",
            "--turbo", "--sampler", "random", "--seed", "3", "--iter", "8", "--holdout", "0", "--no-validate",
            "--no-report", "--json"]
    assert hbopt(*args, "--study", "here", "--workers", "2").code == 0
    there = hbopt(*args, "--study", "there", "--backend", "ray", "--address", cluster.address)
    assert there.code == 0, there.err
    assert json.loads(there.out)[0]["run"]["failed"] == 0

    def trials(name):
        return sorted((t.user_attrs["draw_index"], t.params, t.values)
                      for t in StudyFolder(name).load().get_trials(deepcopy=False))
    assert trials("here") == trials("there")
    workers = {t.user_attrs["worker"] for t in StudyFolder("there").load().get_trials(deepcopy=False)}
    assert len(workers) == 2  # both nodes' actors ran trials; each had the candles sent to it


def test_a_lost_node_fails_only_its_trial_in_flight(market, cluster):
    node = cluster.add_node(num_cpus=1)
    cluster.wait_for_nodes()
    with RayPool(3, address=cluster.address) as pool:
        while len(pool.worker_stats()) < 3:
            pool.poll(0.5)
        lost = {s["pid"] for s in pool.worker_stats() if s["node"] == node.node_id[:8]}
        pool.submit([trial(n, "stock", 6) for n in range(6)])  # each a few seconds
        while not any(a.calls for a in pool._actors if a.info["pid"] in lost):
            pool.poll(0.1)
        time.sleep(1.0)  # its backtest is under way
        cluster.remove_node(node)
        done = {}
        while pool.pending:
            done.update({o.trial.number: o for o in pool.poll(1.0)})
    failed = [o for o in done.values() if o.error]
    assert sorted(done) == list(range(6))
    assert len(failed) == 1 and failed[0].worker in lost and "node was lost" in failed[0].error
    assert all(o.results[0]["total_executors"] >= 0 for o in done.values() if not o.error)
    assert pool.replaced >= 1


def test_a_trial_past_its_timeout_is_failed_and_its_actor_replaced(market, cluster):
    with RayPool(1, trial_timeout=2.0, address=cluster.address) as pool:
        done = outcomes_of(pool, [trial(0, "stock", 10), trial(1)])
    assert done[0].error == "timed out after 2s"
    assert done[1].error is None and done[1].results[0]["engine"] == "turbo"
    assert pool.replaced == 1


def test_actors_over_the_memory_limit_are_replaced_and_no_trial_is_lost(market, cluster):
    with RayPool(1, WorkerSetup(max_rss_mb=1), address=cluster.address) as pool:  # every actor is over 1 MB
        done = outcomes_of(pool, [trial(n) for n in range(3)])
    assert sorted(done) == [0, 1, 2] and all(o.error is None for o in done.values())
    assert pool.replaced == 2  # the first actor also finishes the trial queued on it, then goes


def test_a_users_controllers_reach_the_actors_as_files(market, cluster, tmp_path):
    controllers = signal_controller(tmp_path / "remote_controllers", "always_short", -1)
    config = {"controller_name": "always_short", "controller_type": "directional_trading",
              "connector_name": CONNECTOR, "trading_pair": PAIR}
    with RayPool(1, WorkerSetup(controllers_path=str(controllers)), address=cluster.address) as pool:
        done = outcomes_of(pool, [Trial(0, ({"config": config, "days": 1},))])
    assert done[0].error is None, done[0].error
    assert done[0].results[0]["total_short"] > 0 and done[0].results[0]["total_long"] == 0

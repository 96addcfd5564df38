"""Seeded searches reproduce: the same study, data, seed and worker count give the same trials
(parameters and values, in the same order) and the same best, for TPE and NSGA-II as for random
search, however unevenly the workers' trials take and however busy the machine is."""
import json
import multiprocessing
import pytest
import yaml

from hbopt.cache import synth
from hbopt.cache.mirror import Mirror
from hbopt.search.storage import StudyFolder
from tests.conftest import CONNECTOR, KEY_1M, PAIR, _controller_file

# A directional controller that is cheap to run, whose results depend on its two parameters,
# and whose trials take an uneven, unseeded time (up to a quarter second more).
UNEVEN = '''
import os
import time

import pandas as pd
from hummingbot.data_feed.candles_feed.data_types import CandlesConfig
from hummingbot.strategy_v2.controllers.directional_trading_controller_base import (
    DirectionalTradingControllerBase, DirectionalTradingControllerConfigBase)


class UnevenConfig(DirectionalTradingControllerConfigBase):
    controller_name: str = "uneven"
    length: int = 20
    band: float = 0.002


class Uneven(DirectionalTradingControllerBase):
    def get_candles_config(self):
        return [CandlesConfig(connector=self.config.connector_name, trading_pair=self.config.trading_pair,
                              interval="1m", max_records=self.config.length)]

    async def update_processed_data(self):
        time.sleep(os.urandom(1)[0] / 1024)
        df = self.market_data_provider.get_candles_df(self.config.connector_name, self.config.trading_pair, "1m",
                                                      self.config.length)
        drift = df["close"] / df["close"].rolling(self.config.length).mean() - 1
        df["signal"] = 0
        df.loc[drift < -self.config.band, "signal"] = 1
        df.loc[drift > self.config.band, "signal"] = -1
        self.processed_data = {"signal": df["signal"].iloc[-1], "features": df}
'''


def _hog(stop):
    while not stop.is_set():
        sum(range(10_000))


@pytest.fixture
def uneven(tmp_path, store):
    store.add(KEY_1M, synth.generate(3, "1m", seed=5), {"synthetic": True})
    Mirror.default().refresh()
    root = tmp_path / "controllers"
    _controller_file(root, "directional_trading", "uneven").write_text(UNEVEN)
    return root


def _trials(name: str) -> list[tuple]:
    return [(t.number, t.params, t.values, t.state.name) for t in StudyFolder(name).load().get_trials(deepcopy=False)]


@pytest.mark.parametrize("sampler, iterations", [("tpe", 30), ("nsga2", 64)])
def test_a_seeded_search_gives_the_same_trials_however_its_workers_are_timed(sampler, iterations, uneven, hbopt,
                                                                            tmp_path):
    study = {"controller": "uneven", "connector": CONNECTOR, "pairs": [PAIR], "window": {"days": 1}, "holdout": 0,
             "sampler": sampler, "seed": 7, "costs": "hummingbot",
             "space": {"length": {"type": "int", "low": 10, "high": 120, "step": 5},
                       "band": {"type": "float", "low": 0.0005, "high": 0.005}},
             "fixed": {"stop_loss": 0.01, "take_profit": 0.01, "time_limit": 1800}}
    (tmp_path / "study.yml").write_text(yaml.safe_dump(study))
    runs = []
    for name, busy in (("calm", False), ("busy", True)):
        stop = multiprocessing.Event()
        hogs = [multiprocessing.Process(target=_hog, args=(stop,)) for _ in range(2 if busy else 0)]
        for hog in hogs:
            hog.start()
        try:
            run = hbopt("discover", tmp_path / "study.yml", "--controllers-path", uneven, "--iter", iterations,
                        "--workers", "2", "--study", name, "--turbo", "--no-validate", "--no-report", "--json")
        finally:
            stop.set()
            for hog in hogs:
                hog.join()
        assert run.code == 0, run.err
        runs.append(json.loads(run.out)[0])
    calm, busy = _trials("calm"), _trials("busy")
    assert len(calm) == iterations and all(state == "COMPLETE" for *_, state in calm)
    assert len({json.dumps(params, sort_keys=True) for _, params, _, _ in calm}) > iterations * 0.8  # a real search
    assert calm == busy
    assert runs[0]["best"][0]["params"] == runs[1]["best"][0]["params"]
    assert runs[0]["best"][0]["values"] == runs[1]["best"][0]["values"]
    assert all(0 <= r["run"]["held_share"] < 1 for r in runs)

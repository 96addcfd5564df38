"""What a run is charged: the cost model chosen, each connector's fees from the table (with its
source), a user's fees file over it, and the user's overrides over both."""
import pytest

from hbopt import settings
from hbopt.engine.exchange.costs import FEE_TABLE, Costs, connector_costs, fee_table
from hbopt.errors import ConfigError

REQUIRED = ("binance", "binance_perpetual", "bybit", "bybit_perpetual", "okx", "okx_perpetual", "kucoin", "gate_io",
            "hyperliquid_perpetual")


def test_every_required_connector_has_published_rates_and_a_source():
    for name in REQUIRED:
        maker, taker, margin, liquidation, source = FEE_TABLE[name]
        assert 0 <= maker <= taker < 0.01 and source.startswith("https://")
        assert (margin is None) == (liquidation is None) == (not name.endswith("_perpetual"))


def test_overrides_win_over_the_fees_file_which_wins_over_the_table():
    (settings.home()).mkdir(parents=True, exist_ok=True)
    (settings.home() / "fees.yml").write_text("binance_perpetual: {taker: 0.0004}\nmy_dex: {maker: 0.0, taker: 0.003}\n")
    assert fee_table()["binance_perpetual"]["maker"] == 0.0002
    charged = connector_costs(Costs("exchange"), "binance_perpetual")
    assert (charged.maker, charged.taker, charged.maintenance_margin) == (0.0002, 0.0004, 0.004)
    assert "fees.yml over https://www.binance.com" in charged.source
    assert connector_costs(Costs("exchange", taker_fee=0.001), "my_dex").taker == 0.001
    stressed = connector_costs(Costs("exchange", slippage_bps=3).stressed(2), "my_dex")
    assert (stressed.taker, stressed.slippage, stressed.perpetual) == (0.006, 0.0006, False)


@pytest.mark.parametrize("make, message", [
    (lambda: connector_costs(Costs("exchange"), "nowhere"), "no fee rates known for connector 'nowhere'"),
    (lambda: connector_costs(Costs("exchange", maker_fee=0, taker_fee=0.001), "nowhere_perpetual"),
     "no maintenance margin or liquidation fee known"),
    (lambda: Costs("exact"), "costs must be one of exchange, hummingbot"),
    (lambda: Costs("exchange", taker_fee=0.5), "taker-fee must be a fraction"),
    (lambda: Costs("exchange", slippage_bps=-1), "slippage must be basis points"),
])
def test_unknown_or_impossible_costs_are_one_line_errors(make, message):
    with pytest.raises(ConfigError, match=message):
        make()

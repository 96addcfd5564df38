"""Warnings about runs whose numbers look normal but mean little: a degenerate configuration,
no trade at all, trades that could only lose the fees, too few trades to judge, an account
ruined, a Hummingbot summary far from the account, and features from candles coarser than the
ticks."""
from __future__ import annotations

from decimal import Decimal

from hummingbot.strategy_v2.models.executors import CloseType

from hbopt.cache.candles import interval_seconds
from hbopt.engine.market_data import utc

#: Hummingbot's net PnL this far from the account's, as a share of the capital, is warned about.
HUMMINGBOT_GAP = 0.01
#: Fewer positions than this make an objective computed from them mostly noise.
FEW_POSITIONS = 5
_DURATIONS = {"time_limit": "a position closes on the tick it opens, at its entry price",
              "cooldown_time": "it never delays an entry"}


def config_warnings(config, resolution: str) -> list[str]:
    """Time limits and cooldowns shorter than one tick of the resolution."""
    tick = interval_seconds(resolution)
    found = []
    for name, consequence in _DURATIONS.items():
        value = getattr(config, name, None)
        if isinstance(value, (int, float, Decimal)) and not isinstance(value, bool) and 0 < value < tick:
            found.append(f"{name} {value:g} s is shorter than the {resolution} resolution: {consequence}")
    return found


def outcome_warnings(executors: list, trade_cost: float) -> list[str]:
    """No executor, every position closed at its entry price (PnL only the fees), or too few
    positions for the metrics to mean much. ``executors`` are Hummingbot ``ExecutorInfo``."""
    if not executors:
        return ["no executor was created in the window"]
    filled = [e for e in executors if e.filled_amount_quote > 0]
    if not filled:
        return [f"none of the {len(executors)} executors ever filled: no position was taken"]
    found = []
    flat = sum(1 for e in filled if e.close_type != CloseType.POSITION_HOLD  # a hold's PnL is the hold's
               and abs(float(e.net_pnl_pct) + 2 * trade_cost) < 1e-12)
    if flat == len(filled) > 1:
        found.append(f"all {flat} positions closed at their entry price: the PnL is only the fees")
    if len(filled) < FEW_POSITIONS:
        found.append(f"only {len(filled)} position(s): too few for the metrics to mean much")
    return found


def account_warnings(account: dict, net_pnl_quote: float, liquidations: int = 0) -> list[str]:
    """An account that was ruined, positions the exchange liquidated, and a Hummingbot net PnL far
    from what the account made (its summary leaves out position holds' fees and open PnL; see
    :mod:`hbopt.engine.account`)."""
    found = []
    if liquidations:
        found.append(f"{liquidations} position{' was' if liquidations == 1 else 's were'} liquidated: the loss "
                     "reached the margin (the notional over the leverage) less the maintenance margin")
    if account["ruined_at"] is not None:
        found.append(f"the account was ruined on {utc(account['ruined_at'])}: its equity reached zero, and it "
                     "traded no more")
    if abs((net_pnl_quote or 0.0) - account["pnl_quote"]) > HUMMINGBOT_GAP * account["capital_quote"]:
        found.append(f"Hummingbot's net_pnl_quote ({net_pnl_quote:+.6g}) is not what the account made "
                     f"({account['pnl_quote']:+.6g} quote): its summary leaves out position holds' fees and open PnL")
    return found


def feature_timing_warning(features_interval: str | None, resolution: str, feature_timing: str) -> list[str]:
    """Say how features from candles coarser than the ticks were merged."""
    if features_interval is None or interval_seconds(features_interval) <= interval_seconds(resolution):
        return []
    early = interval_seconds(features_interval) - interval_seconds(resolution)
    if feature_timing == "close":
        return [f"the controller's features come from {features_interval} candles at a {resolution} resolution: "
                f"each reaches the ticks once its candle has closed (feature timing 'close')"]
    return [f"the controller's features come from {features_interval} candles merged on their open time "
            f"(feature timing 'open', as Hummingbot does): a {resolution} tick sees its candle's final values "
            f"up to {_duration(early)} before they exist (look-ahead)"]


def _duration(seconds: int) -> str:
    return f"{seconds / 3600:g} h" if seconds >= 7200 else f"{seconds / 60:g} min"

"""DCA executors: not simulated by turbo, on purpose.

Hummingbot's ``DCAExecutorSimulator`` is broken on the releases turbo is verified on: after
finding each level's fill it books every level's PnL from the last level's fill tick (a
variable left over from the loop before), which fails with a pandas length mismatch (ValueError)
whenever two levels fill, and it reads past the last price (IndexError) when a DCA has no stop
loss. Only single-level DCAs with a stop loss survive it. Turbo does not invent what Hummingbot
meant: a run that creates a DCA executor runs on the stock engine, which gives Hummingbot's
answer, or Hummingbot's error.
"""
from __future__ import annotations

from hbopt.engine.turbo.policies import HUMMINGBOT_VERSION, Unsupported


def refuse(config) -> None:
    """Raise :class:`Unsupported` for a DCA executor, saying why."""
    raise Unsupported(f"the controller created a DCA executor, and Hummingbot's DCA simulator is broken on "
                      f"hummingbot {HUMMINGBOT_VERSION} (it books every level from the last level's fill); "
                      "the stock engine runs it as Hummingbot does")

"""The exchange cost model: fills at the price an exchange gives, the fees it charges (maker and
taker, per connector), slippage, margin and liquidation. :mod:`.costs` says what a run is
charged; one module per executor type (:mod:`.positions`, :mod:`.orders`, :mod:`.grids`) decides each
executor's life; :mod:`.simulators` puts them into hbopt's stock engine, and turbo runs the same
lives."""

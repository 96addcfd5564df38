"""hbopt's built-in controllers, laid out like Hummingbot's ``controllers/`` package so that
``get_controller_config_instance_from_dict(cfg, controllers_module="hbopt.controllers")`` loads
them. Each module also carries ``SEARCH_SPACE``, its default parameter space for searches, and
may carry ``OBJECTIVE``, the metric to search it on when a study names none (else ``account.pnl_quote``),
and ``SEARCH_RELATIONS``, relations its points must keep (else those inferred: ``slow > fast``).
"""

"""hbopt: offline, multi-core parameter optimizer for Hummingbot V2 controllers.

``hbopt.backtest``, ``hbopt.discover``, ``hbopt.validate`` and ``hbopt.walkforward`` are the
Python API (see :mod:`hbopt.api`); they load on first use, so importing hbopt stays instant.
"""

_API = ("backtest", "discover", "validate", "walkforward", "StudyRun")


def __getattr__(name: str):
    """The API's functions and ``__version__``, resolved on first use."""
    if name in _API:
        from hbopt import api

        return getattr(api, name)
    if name != "__version__":
        raise AttributeError(f"module 'hbopt' has no attribute {name!r}")
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("hbopt")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "0.0.0"


def __dir__():
    return sorted([*globals(), *_API, "__version__"])

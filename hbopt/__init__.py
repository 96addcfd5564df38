"""hbopt: offline, multi-core parameter optimizer for Hummingbot V2 controllers."""


def __getattr__(name: str):
    """``__version__``, read from the installed package on first use (importing hbopt stays instant)."""
    if name != "__version__":
        raise AttributeError(f"module 'hbopt' has no attribute {name!r}")
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("hbopt")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "0.0.0"

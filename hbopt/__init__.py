"""hbopt: offline, multi-core parameter optimizer for Hummingbot V2 controllers."""
from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("hbopt")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0"

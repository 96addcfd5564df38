"""Errors a user can cause, each with the exit code the CLI returns for it.

Exit codes (also in README.md):
  0 success; 1 internal error (a bug in hbopt: please report); 2 bad command-line usage;
  3 data error (missing/uncovered window, malformed, invalid or corrupt candle file);
  4 configuration error (unknown controller, field or value; an unusable folder);
  5 network access attempted while offline; 6 busy (a lock is held by another run);
  7 the turbo engine disagreed with Hummingbot's (``hbopt bench``);
  8 the controller's code or Hummingbot raised (the message names the file and line);
  130 interrupted (Ctrl-C).
"""


class HboptError(Exception):
    """An error whose message is meant for the user, printed as one line."""

    exit_code = 1


class UsageError(HboptError):
    exit_code = 2


class DataError(HboptError):
    exit_code = 3


class ConfigError(HboptError):
    exit_code = 4


class NetworkBlockedError(HboptError):
    exit_code = 5


class BusyError(HboptError):
    exit_code = 6


class ParityError(HboptError):
    exit_code = 7


class ControllerError(HboptError):
    """The controller's own code, or Hummingbot running it, raised."""

    exit_code = 8


def describe(exc: BaseException) -> str:
    """``"ClassName: message"``: how an error travels as text (from a worker to the parent)."""
    return f"{type(exc).__name__}: {exc}"


def from_description(text: str) -> HboptError:
    """The error :func:`describe` wrote, as an instance of its class (``HboptError`` for text that
    names no hbopt error, such as a worker that died)."""
    name, _, message = text.partition(": ")
    for cls in (UsageError, DataError, ConfigError, NetworkBlockedError, BusyError, ParityError, ControllerError):
        if cls.__name__ == name:
            return cls(message)
    return HboptError(text)

"""Errors a user can cause, each with the exit code the CLI returns for it.

Exit codes (also in README.md):
  0 success; 1 internal error (a bug: please report); 2 bad command-line usage;
  3 data error (missing/uncovered window, malformed or invalid candle file);
  4 configuration error (unknown controller, field or value);
  5 network access attempted while offline; 6 busy (a lock is held by another run);
  7 the turbo engine disagreed with Hummingbot's (``hbopt bench``); 130 interrupted (Ctrl-C).
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

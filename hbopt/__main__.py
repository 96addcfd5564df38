"""``python -m hbopt`` and the ``hbopt`` console script.

The command line is imported inside the handler, so a Ctrl-C while Python is still importing it
ends as quietly as one during a command: ``interrupted``, exit 130.
"""
import sys


def main() -> None:
    try:
        from hbopt.cli import main as run
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        sys.exit(130)
    run()


if __name__ == "__main__":
    main()

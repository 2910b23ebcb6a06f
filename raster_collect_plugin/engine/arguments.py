"""The command line's option parser, standard library only (``doctor`` and ``setup-engine``
run in a Python without the engine's packages; ``cli._Parser`` builds on it)."""

from __future__ import annotations

import argparse
import sys

UNKNOWN = "unrecognized arguments"


class OneLineParser(argparse.ArgumentParser):
    """An ArgumentParser whose refusals (an unknown option, a bad choice, a missing value) are
    one line on stderr and exit 2, as every bad input is: no usage block above the line; an
    unknown option points to ``--help``."""

    def error_line(self, message: str) -> str:
        """``PROG: error: MESSAGE``, the one line of a refusal."""
        hint = f" ({self.prog} --help lists the options)" if message.startswith(UNKNOWN) else ""
        return f"{self.prog}: error: {message}{hint}"

    def error(self, message: str):
        print(self.error_line(message), file=sys.stderr)
        raise SystemExit(2)

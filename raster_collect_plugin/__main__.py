"""``python -m raster_collect_plugin`` runs the command line."""

import os
import signal
import sys

from .cli import main

code = main()


def _exit_now(signum, frame) -> None:
    """The outcome is decided: a late Ctrl-C/SIGTERM while Python shuts down (joining
    threads, atexit) ends the process with it at once, not with a traceback."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)


signal.signal(signal.SIGINT, _exit_now)
signal.signal(signal.SIGTERM, _exit_now)
sys.exit(code)

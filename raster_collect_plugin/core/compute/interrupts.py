"""Ctrl-C and SIGTERM are never lost, and blocking calls stay interruptible or bounded.

A signal's Python handler runs between bytecodes of the main thread. While the main thread sits
in a long C call (GDAL reading a GeoPackage through pyogrio), the handler waits; and when the
handler's KeyboardInterrupt is raised inside a C callback (GDAL's error handler, a destructor)
it can be printed as "Exception ignored" and lost. So the handler also records the request in a
flag that every cancel check reads, and long blocking calls run in a helper thread while the
main thread waits in short, interruptible steps (:func:`call_interruptibly`).
"""

from __future__ import annotations

import contextlib
import signal
import threading
from typing import Any, Callable, Iterator, Optional

_requested = threading.Event()
# how many deferred_signals() blocks are open, in any thread (dask's run write_cog and stack
# copies side by side): while one is, the handler records and a C callback reads it
_deferred = 0
_deferred_lock = threading.Lock()
_WAIT_STEP = 0.05


class Interrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM: unwind, remove partial outputs, keep finished work."""


def _handler(signum, frame) -> None:
    first = not _requested.is_set()
    _requested.set()
    if first and not _deferred:
        raise Interrupted(signal.Signals(signum).name)


def install_handlers(previous: Optional[dict] = None) -> Optional[dict]:
    """Route SIGTERM and SIGINT to the handler (main thread only); returns the previous
    handlers for :func:`restore_handlers`, or None off the main thread. ``previous``: a dict
    filled as each handler goes in, so a caller that installs them inside its ``try`` (a
    signal can arrive, and raise, before this returns) still restores what was replaced."""
    if threading.current_thread() is not threading.main_thread():
        return None
    previous = {} if previous is None else previous
    _requested.clear()
    for signum in (signal.SIGTERM, signal.SIGINT):
        previous[signum] = signal.getsignal(signum)  # kept before the handler can raise
        signal.signal(signum, _handler)
    return previous


def restore_handlers(previous: Optional[dict]) -> None:
    """Put the previous handlers back; the run is over, so its interrupt flag is cleared."""
    for signum, handler in (previous or {}).items():
        signal.signal(signum, handler)
    if previous is not None:
        _requested.clear()


def interrupted() -> bool:
    """True once Ctrl-C/SIGTERM arrived (usable as a workflow cancel check)."""
    return _requested.is_set()


def acknowledge_interrupt() -> None:
    """The signal was the expected end of the work (a cluster runs until it is stopped), not
    a cancellation: clear the request."""
    _requested.clear()


def check_interrupted() -> None:
    """Raise Interrupted if a signal arrived (even if its exception was swallowed)."""
    if _requested.is_set():
        raise Interrupted("interrupted")


@contextlib.contextmanager
def deferred_signals() -> Iterator[None]:
    """Within: a signal only records the request (raised inside a C library's Python callback,
    a GDAL progress function, the exception would be printed and lost), so the callback can
    read :func:`interrupted` and ask the library to stop; on leaving, a recorded request
    raises Interrupted (also in place of the error the stopped call raised)."""
    global _deferred
    with _deferred_lock:
        _deferred += 1
    try:
        yield
    finally:
        with _deferred_lock:  # a saved-and-restored flag stayed set when two threads' blocks
            _deferred -= 1  # ended out of order, and Ctrl-C then never raised again
        check_interrupted()  # replaces the stopped call's own error


def call_interruptibly(function: Callable[..., Any], *args, timeout: Optional[float] = None,
                       what: str = "the call", **kwargs) -> Any:
    """Run ``function`` in a daemon thread; the caller waits in short steps, so a signal stops
    the wait at once, and ``timeout`` (seconds) bounds it (TimeoutError naming ``what``)."""
    outcome: dict = {}

    def target() -> None:
        try:
            outcome["value"] = function(*args, **kwargs)
        except BaseException as error:  # handed to the waiting thread
            outcome["error"] = error

    worker = threading.Thread(target=target, daemon=True, name=f"bounded: {what}")
    worker.start()
    waited = 0.0
    while worker.is_alive():
        worker.join(_WAIT_STEP)
        waited += _WAIT_STEP
        check_interrupted()
        if timeout is not None and waited >= timeout and worker.is_alive():
            raise TimeoutError(f"{what} did not finish within {timeout:g} s")
    check_interrupted()
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("value")

"""One place that turns an exception into what a user reads: a kind and one line.

Every door uses it: the CLI prints the line and exits 2 (bad input) or 1 (failure); ``job
--events`` also emits it as an error event for QGIS. Kinds: ``bad_input`` (the user can fix
it), ``failure`` (the service or machine failed), ``cancelled``. Unknown errors return None
(bugs keep their traceback in the log).
"""

from __future__ import annotations

import errno
from typing import Iterator, Optional, Tuple

NO_SPACE = "no space left on device: free space or choose another --output"
STORE_UNREACHABLE = ("object storage stopped answering ({}): check that the endpoint "
                     "(AWS_ENDPOINT_URL) is up and reachable, then rerun")
AUTH_FAILED = ("authentication failed: check the client id/secret (SH_CLIENT_ID / "
               "SH_CLIENT_SECRET or the QGIS authentication configuration)")


def _chain(error: BaseException) -> Iterator[BaseException]:
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        yield error
        error = error.__cause__ or error.__context__


def _is_no_space(error: BaseException) -> bool:
    if isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    text = str(error)
    return "No space left on device" in text or "Disk quota exceeded" in text


def _is_auth_failure(error: BaseException) -> bool:
    name = type(error).__name__
    if name in ("InvalidClientError", "UnauthorizedClientError", "InvalidClientIdError"):
        return True
    text = str(error)
    return "/oauth/token" in text and ("401" in text or "invalid_client" in text
                                       or "Unauthorized" in text)


def _first_line(error: BaseException) -> str:
    """The error's first line, cut at 400 characters (a library's text can be long) unless
    the error is one the engine words whole (``whole_line``: a size refusal's numbers and way
    out, cut at "or a larger --" before)."""
    text = str(error).strip()
    if not text:
        return type(error).__name__
    line = text.splitlines()[0]
    return line if getattr(error, "whole_line", False) else line[:400]


def classify(error: BaseException) -> Optional[Tuple[str, str]]:
    """(kind, one-line message) for a known problem, else None."""
    from ..areas.aoi import AoiError
    from ..areas.zones import ZoneError
    from ..composites.requests import Cancelled, RequestError
    from ..compute.cluster import ClusterError
    from ..pixels.expression import ExpressionError
    from ..pixels.load import LoadError
    from ..sources.providers.base import ProviderError
    from .spec import JobError

    chain = list(_chain(error))
    if isinstance(error, (KeyboardInterrupt, Cancelled, InterruptedError)):
        return "cancelled", "cancelled"
    if any(_is_no_space(e) for e in chain):
        return "failure", NO_SPACE
    from ..runs.storage import unreachable_store

    unreachable = [e for e in chain if unreachable_store(e)]
    if unreachable:
        return "failure", STORE_UNREACHABLE.format(_first_line(unreachable[0]))
    if any(_is_auth_failure(e) for e in chain):
        return "bad_input", AUTH_FAILED
    if getattr(error, "exit_kind", None) in ("bad_input", "failure"):
        return error.exit_kind, _first_line(error)
    if isinstance(error, (AoiError, ZoneError, RequestError, ExpressionError, JobError,
                          ClusterError)):
        return "bad_input", _first_line(error)
    if isinstance(error, (ProviderError, LoadError, TimeoutError)):
        return "failure", _first_line(error)
    if isinstance(error, PermissionError):
        return "bad_input", (f"permission denied: {error.filename or _first_line(error)}: "
                             "choose a folder you can write to (--output)")
    if isinstance(error, OSError) and error.errno == errno.EROFS:
        return "bad_input", f"read-only file system ({error.filename}): choose another --output"
    return None

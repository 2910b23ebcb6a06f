"""The ``raster-collect`` command line (also ``python -m raster_collect_plugin``).

``doctor`` and ``setup-engine`` check / create the engine with the standard library only, so
they run in a Python that lacks the engine's packages.
Exit codes: 0 ok, 2 bad input (one line naming the problem and the fix), 1 other failures.
One module per command family; each adds its subcommands with ``register``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from importlib import import_module
from typing import Optional, Sequence

from ..engine.arguments import OneLineParser

# Before numpy loads: its OpenBLAS threads spin (sched_yield) after each BLAS call, 14 % of a
# composite job's CPU on 2 cores (perf, issue 31); the engine runs its work in dask threads
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

# The command families (and the engine's packages they import) are imported only once the
# command is known: ``doctor`` and ``setup-engine`` must run where numpy & co. are missing.
__all__ = ["build_parser", "main"]


# which module adds each command: a run imports only its own family (and its packages)
_FAMILIES = {"search": "imagery", "composite": "imagery", "zonal": "zonal", "storm": "storm",
             "sentinel-hub": "sentinel_hub", "sentinel-hub-byoc": "byoc",
             "hexagons": "utilities", "sample": "utilities",
             "job": "utilities", "cluster": "utilities", "demo": "utilities",
             "unlock": "utilities",
             "monitor": "monitoring", "watch": "monitoring", "validate": "validation"}

# job kinds that exit 1 when some forests or tiles failed, as their commands do
SENTINEL_HUB_JOB_KINDS = ("sentinel-hub-statistics", "sentinel-hub-batch-processing",
                          "sentinel-hub-byoc")


def _command_in(arguments: Sequence[str]) -> Optional[str]:
    """The subcommand named in ``arguments`` (the first word that is not an option)."""
    words = [word for word in arguments if not word.startswith("-")]
    return words[0] if words and words[0] in _FAMILIES else None


class UsageError(SystemExit):
    """A command line argparse refuses (exit 2); ``message`` is argparse's one line."""

    def __init__(self, message: str):
        super().__init__(2)
        self.message = message


class _Parser(OneLineParser):
    """argparse's parser (one line on stderr, exit 2) raising ``UsageError``, so ``--json``
    and ``--events`` can report a usage error too. Subcommands inherit it."""

    def __init__(self, *args, **kwargs):
        # no prefixes of options: `composite --cloud 20` was taken as --cloud-buffer 20 (metres)
        # where --max-cloud was meant; README writes every option in full
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def parse_args(self, args=None, namespace=None):
        namespace, extras = self.parse_known_args(args, namespace)
        if extras:
            command = self.subcommand(getattr(namespace, "command", None))
            (command or self).refuse_unknown(extras)
        return namespace

    def subcommand(self, name: Optional[str]) -> Optional[_Parser]:
        """The parser of the subcommand ``name`` (None if there is none of that name)."""
        for action in self._actions:
            if isinstance(action, argparse._SubParsersAction) and name in action.choices:
                return action.choices[name]
        return None

    def refuse_unknown(self, extras: Sequence[str]):
        """Words this command does not take: one line, and for a shortened option the options
        it begins (an option this command refuses by name says why, as when written in
        full)."""
        for word in extras:
            option = word.split("=", 1)[0]
            if not option.startswith("--"):
                continue
            begun = sorted({name for name in self._option_string_actions
                            if name.startswith(option) and name != option})
            refused = [self._option_string_actions[name] for name in begun]
            if len(begun) == 1 and hasattr(refused[0], "why"):
                self.error(refused[0].why)
            if begun:
                shown = [name for name, action in zip(begun, refused)
                         if action.help != argparse.SUPPRESS] or begun
                self.error(f"{option} is not an option: options are written in full "
                           f"(did you mean {' or '.join(shown)}?)")
        self.error(f"unrecognized arguments: {' '.join(extras)}")

    def error(self, message: str):
        line = self.error_line(message)
        print(line, file=sys.stderr)
        raise UsageError(line.replace(": error: ", ": ", 1))


def build_parser(command: Optional[str] = None) -> argparse.ArgumentParser:
    """The parser; with ``command``, only that command's family is imported and added."""
    parser = _Parser(
        prog="raster-collect",
        description="Cloud-masked satellite indices, composites and zonal statistics for forests.")
    parser.add_argument("--json", action="store_true", help="print a machine-readable summary")
    parser.add_argument("--quiet", action="store_true", help="print nothing but errors")
    names = [_FAMILIES[command]] if command in _FAMILIES else dict.fromkeys(_FAMILIES.values())
    commands = parser.add_subparsers(dest="command", required=True)
    for name in names:
        import_module(f"{__name__}.{name}").register(commands)
    for subcommand in commands.choices.values():  # also after the command: `search ... --json`
        subcommand.add_argument("--json", action="store_true", default=argparse.SUPPRESS,
                                help="print a machine-readable summary")
        subcommand.add_argument("--quiet", action="store_true", default=argparse.SUPPRESS,
                                help="print nothing but errors")
    if command is None:
        commands.add_parser("doctor", help="check that this Python can run the engine "
                                           "(--json for the plugin)")
        commands.add_parser("setup-engine", help="create or repair the processing engine "
                                                 "(a virtual environment; --help for options)")
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the command line; returns the process exit code."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    if "doctor" in arguments[:2]:  # standard library only: runs where packages are missing
        from ..engine.doctor import main as doctor_main

        return doctor_main(arguments[arguments.index("doctor") + 1:])
    if "setup-engine" in arguments[:2]:  # standard library only, like doctor
        from ..engine.install import main as setup_main

        return setup_main(arguments[arguments.index("setup-engine") + 1:])
    from ..core.compute import install_handlers, interrupted, restore_handlers

    # first, before the engine's imports (seconds): a signal is never lost nor a traceback,
    # also one arriving while the handlers go in (the handler raises before they are returned)
    previous: dict = {}
    installed = None
    try:
        installed = install_handlers(previous)
        return _main(argv, interrupted)
    except KeyboardInterrupt:  # while importing or parsing, before _main could catch it
        return _cancelled("--events" in arguments)
    except BrokenPipeError:
        if not _stdout_gone():
            raise
        # `raster-collect search ... | head`: the reader has all it wanted; no traceback, and
        # none either when Python flushes stdout at exit
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1  # EXIT_FAILURE: the output was cut short
    finally:  # None off the main thread, where nothing was installed
        restore_handlers(previous if installed is not None or previous else None)


def _stdout_gone() -> bool:
    """stdout is a pipe whose reader has left (POSIX; elsewhere: not known, False)."""
    try:
        import select

        poller = select.poll()
        poller.register(sys.stdout.fileno(), select.POLLOUT)
        return any(events & select.POLLERR for _, events in poller.poll(0))
    except (AttributeError, OSError, ValueError):  # no poll (Windows), stdout not a file
        return False


def _json_error(kind: str, message: str, code: int) -> dict:
    """What ``--json`` prints when a command fails: the error's kind (``bad_input``,
    ``failure``, ``cancelled``...), its one-line message and the exit code."""
    return {"error": {"kind": kind, "message": message}, "exit_code": code}


def _cancelled(events: bool) -> int:
    """The one line (and event) of a cancelled run; its exit code."""
    if events:
        print(json.dumps({"event": "cancelled"}), flush=True)
    print("raster-collect: interrupted; completed work is kept, rerun to resume",
          file=sys.stderr)
    return 1  # EXIT_FAILURE (common.py imports the engine's packages)


def _main(argv, interrupted) -> int:
    from ..core.jobs import classify
    from .common import EXIT_BAD_INPUT, EXIT_FAILURE, EXIT_OK

    arguments = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(_command_in(arguments))
    try:
        args = parser.parse_args(arguments)
    except UsageError as usage:
        if "--events" in arguments:
            print(json.dumps({"event": "error", "kind": "bad_input", "message": usage.message}),
                  flush=True)
        elif "--json" in arguments:
            print(json.dumps(_json_error("bad_input", usage.message, 2), indent=2), flush=True)
        raise
    events = getattr(args, "events", False)

    as_json = getattr(args, "json", False) and not events

    def fail(kind: str, message: str, code: int, conflict: Optional[dict] = None) -> int:
        if events:  # a refused rerun's runs too: the plugin words it in its own parameters
            print(json.dumps({"event": "error", "kind": kind, "message": message,
                              **({"conflict": conflict} if conflict else {})}, default=str),
                  flush=True)
        elif as_json:  # stdout stays one JSON document, also when the command fails
            print(json.dumps(_json_error(kind, message, code), indent=2), flush=True)
        print(f"raster-collect: error: {message}", file=sys.stderr)
        return code

    def cancelled() -> int:
        if as_json:
            print(json.dumps(_json_error("cancelled", "interrupted; completed work is kept, "
                                         "rerun to resume", 1), indent=2), flush=True)
        return _cancelled(events)

    from .common import windows_path_in

    # before any work, in the job spec's words
    problem = windows_path_in(parser.subcommand(args.command), args)
    if problem:
        return fail("bad_input", problem, EXIT_BAD_INPUT)
    try:
        summary = args.handler(args)
        if interrupted():  # the signal's exception was swallowed somewhere below
            return cancelled()
    except KeyboardInterrupt:
        return cancelled()
    except Exception as problem:  # noqa: BLE001 - mapped to one line, or re-raised
        if isinstance(problem, BrokenPipeError) and _stdout_gone():
            raise  # the reader of our output left (main ends quietly)
        known = classify(problem)
        if known is None:
            fail("failure", f"unexpected {type(problem).__name__}: {problem} (see the log)",
                 EXIT_FAILURE)
            raise
        kind, message = known
        conflict = None
        if hasattr(problem, "worded") and args.command != "job":  # a refused rerun
            from .common import option_words

            message = problem.worded(option_words(parser.subcommand(args.command)))
        elif hasattr(problem, "worded"):
            conflict = {"location": str(problem.location), "old": problem.old,
                        "record": problem.record}
        if kind == "cancelled":
            return cancelled()
        return fail(kind, message, EXIT_BAD_INPUT if kind == "bad_input" else EXIT_FAILURE,
                    conflict)
    if args.json:
        print(json.dumps(summary, indent=2, default=str))
    elif not args.quiet and args.command not in ("search",):
        from .plain import plain_lines

        for line in plain_lines(summary):  # mappings indented, not a dictionary's repr
            print(line)
    if summary.get("errors") and (args.command in ("sentinel-hub", "sentinel-hub-byoc") or
                                  getattr(args, "job_kind", None) in SENTINEL_HUB_JOB_KINDS):
        return EXIT_FAILURE  # some forests or tiles failed: the summary names them
    if summary.get("errors") and "search" in (args.command, getattr(args, "job_kind", None)):
        # the list is not complete (what the other sources found is written): each source's
        # error on one line; after a job's result event no error event, which would replace
        # the result the plugin shows
        for message in summary["errors"].values():
            print(f"raster-collect: error: {message}", file=sys.stderr)
        return EXIT_FAILURE
    if summary.get("failed"):
        for key, reason in summary["failed"].items():
            print(f"raster-collect: forest {key} failed: {reason}", file=sys.stderr)
        return EXIT_FAILURE
    return EXIT_OK

"""The ``raster-collect`` command line (also ``python -m raster_collect_plugin``).

Exit codes: 0 ok, 2 bad input (one line naming the problem and the fix), 1 other failures.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import List, Optional

EXIT_OK, EXIT_FAILURE, EXIT_BAD_INPUT = 0, 1, 2


class BadInput(Exception):
    """A problem with what the user asked for; the message says how to fix it."""


def _cmd_sample(args: argparse.Namespace) -> dict:
    from .core.sample_data import make_sample, small_spec

    sample = make_sample(Path(args.output), small_spec() if args.small else None)
    return {
        "root": str(sample.root),
        "forests": str(sample.forests_path),
        "catalog": str(sample.catalog_path),
        "items": {name: len(items) for name, items in sample.items.items()},
        "damaged_forest_ids": sample.damaged_ids,
    }


def _cmd_demo(args: argparse.Namespace) -> dict:
    output = Path(args.output)
    summary = _cmd_sample(argparse.Namespace(output=str(output / "sample"), small=False))
    return {"sample": summary}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="raster-collect",
        description="Cloud-masked satellite indices, composites and zonal statistics for forests.",
    )
    parser.add_argument("--json", action="store_true", help="print a machine-readable summary")
    parser.add_argument("--quiet", action="store_true", help="print nothing but errors")
    commands = parser.add_subparsers(dest="command", required=True)

    sample = commands.add_parser("sample", help="generate the embedded synthetic sample")
    sample.add_argument("--output", default="outputs/sample", help="folder to write it to")
    sample.add_argument("--small", action="store_true", help="a tiny sample (tests)")
    sample.set_defaults(handler=_cmd_sample)

    demo = commands.add_parser("demo", help="run the main job on the embedded sample")
    demo.add_argument("--output", default="outputs/demo", help="folder for the demo outputs")
    demo.set_defaults(handler=_cmd_demo)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    """Run the command line; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        summary = args.handler(args)
    except BadInput as problem:
        print(f"raster-collect: error: {problem}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("raster-collect: interrupted", file=sys.stderr)
        return EXIT_FAILURE
    if args.json:
        print(json.dumps(summary, indent=2, default=str))
    elif not args.quiet:
        for key, value in summary.items():
            print(f"{key}: {value}")
    return EXIT_OK

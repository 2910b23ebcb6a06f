"""``validate``: a monitoring folder's per-pixel outputs against reference polygons of
disturbance (date + extent): per-pixel and per-compartment precision, recall, F1 and detection
delay, written as JSON, CSV and Markdown (the job kind ``validate``)."""

from __future__ import annotations

from pathlib import Path

from .common import BadInput


def validate_spec_from(args) -> dict:
    """The validate job spec the options describe."""
    spec = {"kind": "validate", "monitoring_dir": args.monitoring,
            "references": args.references, "date_field": args.date_field,
            "min_fraction": args.min_fraction}
    optional = {"references_layer": args.references_layer, "aoi": args.compartments,
                "layer": args.layer, "id_field": args.id_field, "output_dir": args.output}
    spec.update({k: v for k, v in optional.items() if v not in (None, "")})
    return spec


def _cmd_validate(args) -> dict:
    from ..core.jobs import run_job

    if not Path(args.monitoring).is_dir():
        raise BadInput(f"--monitoring {args.monitoring} is not a folder: give the folder "
                       "'raster-collect monitor --output' wrote")
    if not 0 <= args.min_fraction <= 1:
        raise BadInput(f"--min-fraction must be between 0 and 1 (e.g. 0.02), not "
                       f"{args.min_fraction}")
    if args.layer and not args.compartments:  # else the folder's compartments, silently
        raise BadInput("--layer is the layer of --compartments: give --compartments too, or "
                       "leave --layer out (the folder's own compartments)")
    result = run_job(validate_spec_from(args))
    if args.json:
        return result
    if not args.quiet:
        print(format_headline(result))
    return {"output_dir": result["output_dir"]}


def format_headline(result: dict) -> str:
    """The headline numbers in words (core.validation.headline's lines) and the report."""
    from ..core.validation.headline import headline_lines

    return "\n".join([*headline_lines(result), f"report: {result['files']['report']} "
                                               "(tables and JSON beside it)"])


def register(commands) -> None:
    """Add the validate subcommand."""
    validate = commands.add_parser(
        "validate", help="score a monitoring folder against your reference polygons of "
                         "disturbance: precision, recall, F1, detection delay")
    validate.add_argument("--monitoring", required=True,
                          help="the folder 'monitor --output' wrote")
    validate.add_argument("--references", required=True,
                          help="reference polygons of disturbance (a date field + extent)")
    validate.add_argument("--references-layer",
                          help="their layer (needed when the file has several polygon "
                               "layers)")
    validate.add_argument("--date-field", default="date",
                          help="the references' date of disturbance (default date)")
    validate.add_argument("--compartments",
                          help="compartment polygons (default: those the folder monitors)")
    validate.add_argument("--layer", help="the compartments' layer")
    validate.add_argument("--id-field",
                          help="the compartments' id field (default: the folder's)")
    validate.add_argument("--min-fraction", type=float, default=0.02,
                          help="share of a compartment's pixels that flags it (default 0.02)")
    validate.add_argument("--output", help="report folder (default MONITORING/validation)")
    validate.set_defaults(handler=_cmd_validate)

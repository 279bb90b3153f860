"""``avaffect models``: the table of every registered model."""

from __future__ import annotations

import argparse

DESCRIPTION = """\
List every model of Kollias & Zafeiriou (BMVC 2019) that avaffect can build: what it
reproduces, its parameters, its cost per frame (GFLOPs at a 96x96 face; one step of a
recurrent model, with a 1 s spectrogram for audio models), its inputs per frame and its
outputs. Every paper model has a `_lite` variant with smaller widths for real time on a CPU.
"""

EPILOG = """\
examples:
  avaffect models                 the table
  avaffect models --json          the same as JSON (a list of objects, one per model)

Build one in Python with avaffect.train.models.create_model(NAME, **kwargs), e.g.
create_model("st_vgg", task="va") or create_model("mt_vgg_lite", width=0.125).
"""


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "models",
        help="list every model of the paper: size, GFLOPs, inputs, outputs",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.set_defaults(func=run)


def format_shapes(shapes: dict[str, list[int]]) -> str:
    short = {"spectrogram": "spec"}
    return " ".join(f"{short.get(k, k)}[{','.join(map(str, v))}]" for k, v in shapes.items())


def format_count(n: int) -> str:
    return f"{n / 1e6:.1f}M" if n >= 100_000 else f"{n / 1e3:.1f}K"


def format_table(summaries) -> str:
    header = ("NAME", "REPRODUCES", "PARAMS", "GFLOPS", "INPUTS", "OUTPUTS")
    rows = [
        (
            s.name,
            s.reproduces,
            format_count(s.parameters),
            f"{s.gflops:.3g}",
            format_shapes(s.inputs),
            format_shapes(s.outputs),
        )
        for s in summaries
    ]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in [header, *rows]
    ]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    import json

    from .summary import summarise_all

    summaries = summarise_all()
    if args.json:
        print(json.dumps([s.to_dict() for s in summaries], indent=2))
    else:
        print(format_table(summaries))
        print("\nGFLOPs per frame at batch 1; inputs per frame (hidden: layers, units per face).")
    return 0

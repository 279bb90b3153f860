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
  avaffect models --shipped       the trained models inside the package: the names that
                                  --checkpoint and load_engine accept, with their accuracy

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
    parser.add_argument(
        "--shipped",
        action="store_true",
        help="list the trained models shipped in the package (usable as --checkpoint NAME)",
    )
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
    return align_columns(header, rows)


def align_columns(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    """A header and rows of strings as left-aligned columns two spaces apart."""
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in [header, *rows]
    ]
    return "\n".join(lines)


def shipped_rows() -> list[dict]:
    """One dict per shipped model present in this install, read from checkpoint headers only."""
    from avaffect.checkpoint import read_config
    from avaffect.shipped import DEFAULT_AV_MODEL, DEFAULT_MODEL, SHIPPED, available_shipped

    rows = []
    for name, path in available_shipped().items():
        config = read_config(path)
        rows.append(
            {
                "name": name,
                "model": config.model,
                # a model that sees a face was built with its size (train.model_setup.model_kwargs
                # passes face_size to every factory that takes one); the audio stream alone was
                # not, and its config keeps the default face spec, which it never used
                "face": f"{config.face.size}px {config.face.color}" if "face_size" in config.model_kwargs else "",
                "audio": config.audio is not None,
                "audio_rate": config.audio.sample_rate if config.audio is not None else None,
                "megabytes": round(path.stat().st_size / 1e6, 2),
                "expr_acc": config.metrics.get("expr_acc"),
                # pack added inference options (mirror averaging) after the run chose it
                "acc_before_pack": bool(config.extra.get("packed", {}).get("added_model_kwargs")),
                # an ArcFace model chose its epoch by its class weights, but the file
                # classifies by cosine to the class centres fitted afterwards
                "acc_by_class_weights": "centres" in config.extra,
                "trained_on": config.training.get("dataset", ""),
                "default": name == DEFAULT_MODEL,
                "default_with_sound": name == DEFAULT_AV_MODEL,
                "description": SHIPPED[name][1],
                "path": str(path),
            }
        )
    return rows


SHIPPED_FOOTNOTE = """
* the default of live, analyze, serve and bench; + of live and analyze when there is sound.
ACC: expression accuracy on the data it was selected on (FER2013 PublicTest; per frame of
its pseudo-video for a recurrent model; per step of the validation actors' speech for the
audio models (0.4 s with Surprise, 0.2 s CREMA-D alone), of the validation face/voice pairs
for the audio-visual one (0.1 s));
^ measured before `avaffect pack` added mirror averaging; ~ by the ArcFace class weights,
while the file classifies by cosine to its class centres; docs/defaults.md has the full
evaluation on held-out data, of the files as shipped."""


def format_shipped(rows: list[dict]) -> str:
    header = ("NAME", "MODEL", "FACE", "AUDIO", "MB", "ACC", "DESCRIPTION")
    lines = [
        (
            r["name"] + (" *" if r["default"] else " +" if r["default_with_sound"] else ""),
            r["model"],
            r["face"] or "-",
            "-" if r["audio_rate"] is None else f"{r['audio_rate'] / 1000:g} kHz",
            f"{r['megabytes']:.1f}",
            _accuracy(r),
            r["description"],
        )
        for r in rows
    ]
    return align_columns(header, lines)


def _accuracy(row: dict) -> str:
    """The ACC cell: the figure and the footnote marks that say what it measured."""
    if row["expr_acc"] is None:
        return "-"
    marks = ("^" if row["acc_before_pack"] else "") + ("~" if row["acc_by_class_weights"] else "")
    return f"{row['expr_acc']:.3f}{marks}"


def run(args: argparse.Namespace) -> int:
    import json

    from avaffect.train.models.summary import summarise_all

    if args.shipped:
        rows = shipped_rows()
        if args.json:
            print(json.dumps(rows, indent=2))
        elif not rows:
            print("no shipped model in this install; reinstall avaffect")
        else:
            print(format_shipped(rows))
            print(SHIPPED_FOOTNOTE)
        return 0

    summaries = summarise_all()
    if args.json:
        print(json.dumps([s.to_dict() for s in summaries], indent=2))
    else:
        print(format_table(summaries))
        print("\nGFLOPs per frame at batch 1; inputs per frame (hidden: layers, units per face).")
    return 0

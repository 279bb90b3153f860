"""``avaffect train`` and ``avaffect eval``.

Heavy imports (torch, the models, the datasets) happen inside the commands, so that
``avaffect --help`` stays fast.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

from avaffect.engines.options import BACKEND_CHOICES, PRECISION_CHOICES
from avaffect.errors import AvaffectError
from avaffect.output_paths import writable_folder

TRAIN_EPILOG = """\
examples:
  avaffect train --list
  avaffect train mt_vgg --data /data/Aff-Wild2
  avaffect train mt_vgg --data /data/Aff-Wild2 batch_size=64 optim.lr=5e-5 model.kwargs.width=0.5
  avaffect train mt_vgg --data /data/Aff-Wild2 --resume          # continue runs/mt_vgg exactly
  avaffect train mt_arcres_retrain_fer2013 --data fer2013.csv model.init_from=runs/mt_arcres/best.safetensors
  avaffect train my_recipe.toml --data /data/Aff-Wild2 --out runs/try1 --dry-run
  torchrun --nproc-per-node 4 -m avaffect.cli train mt_vgg --data /data/Aff-Wild2   # DDP, 4 GPUs

overrides are KEY=VALUE with dotted keys for sections (optim.lr, data.val_limit, face.size,
model.kwargs.width) and TOML values (steps=500, amp=false, loss.weights={va=1, au=0.5, expr=1});
a bare word is a string (model.name=mt_vgg_lite). A run writes <out>/config.toml, metrics.csv,
last.safetensors (+ last.state.safetensors for --resume) and best.safetensors.
"""

EVAL_EPILOG = """\
examples:
  avaffect eval --checkpoint runs/mt_vgg/best.safetensors --dataset affwild2 --path /data/Aff-Wild2
  avaffect eval --checkpoint runs/mt_arcres_retrain_fer2013/best.safetensors --dataset fer2013 \\
      --path fer2013.csv --split validation --json
  avaffect eval --checkpoint best.safetensors --dataset rafdb --path /data/RAF-DB --limit 500
  avaffect eval --checkpoint default_stream_fer2013 --dataset fer2013_crema_av --split test \\
      --path fer2013.npz --option crema_d=crema_d_audio --option priors=true
  avaffect eval --checkpoint default_audio_crema_d --dataset fer2013_crema_av --split test \\
      --path fer2013.npz --option crema_d=crema_d_audio --option priors=true --sequence-length 32

  # the ONNX Runtime engine, int8 and fp32, frame by frame as live runs it
  avaffect eval --checkpoint default_frame_fer2013 --dataset fer2013 --path fer2013.npz \\
      --split PublicTest --backend onnxruntime --precision int8

--option sets a dataset option (as a recipe's data.options); on the database the checkpoint
was trained on, its own options are the defaults. --sequence-length scores a recurrent model
on sequences of another model's length (here the fused model's 32 steps), so both see the same ones.

measures: CCC for valence/arousal, F1 for AUs and expressions; accuracy on FER2013 and mean
diagonal on RAF-DB (the paper's). Expression databases also get per-class F1 and the
confusion matrix. The data is read with the checkpoint's own face crop and audio settings.
"""


class _OverridesParser(argparse.ArgumentParser):
    """Parses intermixed, so that KEY=VALUE overrides may follow options (``train mt_vgg --data
    D optim.lr=0.01``): plain argparse stops filling positionals once an option came between."""

    _inner = False

    def parse_known_args(self, args=None, namespace=None):
        if self._inner:  # parse_known_intermixed_args calls back into this method
            return super().parse_known_args(args, namespace)
        self._inner = True
        try:
            return self.parse_known_intermixed_args(args, namespace)
        finally:
            self._inner = False


def _add_overrides_parser(subparsers, name: str, **kwargs) -> argparse.ArgumentParser:
    """``subparsers.add_parser`` with :class:`_OverridesParser` as the parser's class."""
    default_class = subparsers._parser_class
    subparsers._parser_class = _OverridesParser
    try:
        return subparsers.add_parser(name, **kwargs)
    finally:
        subparsers._parser_class = default_class


def add_train_parser(subparsers) -> None:
    parser = _add_overrides_parser(
        subparsers,
        "train",
        help="train a network with one of the paper's recipes",
        description="Train a network of Kollias & Zafeiriou (BMVC 2019) from a recipe: a shipped "
        "name (see --list) or a .toml file, adjusted with KEY=VALUE overrides.",
        epilog=TRAIN_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("recipe", nargs="?", help="shipped recipe name or path to a .toml recipe")
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="settings that replace the recipe's")
    parser.add_argument("--list", action="store_true", help="list the shipped recipes and what each reproduces")
    parser.add_argument("--data", metavar="PATH", help="the database (folder or file); sets data.path")
    parser.add_argument("--out", metavar="DIR", help="run folder (default: runs/RECIPE)")
    parser.add_argument("--resume", action="store_true", help="continue the run in the run folder exactly")
    parser.add_argument("--dry-run", action="store_true", help="print the resolved config as TOML and stop")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar (e.g. in CI logs)")
    parser.set_defaults(func=run_train)


def add_eval_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "eval",
        help="score a checkpoint on a database with the paper's measures",
        description="Evaluate a checkpoint on a database and print the paper's measures for it.",
        epilog=EVAL_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--checkpoint", required=True, metavar="CKPT", help="a .safetensors checkpoint or a shipped model name")
    parser.add_argument("--dataset", required=True, metavar="NAME", help="database kind: affwild2, fer2013, rafdb, ...")
    parser.add_argument("--path", required=True, metavar="PATH", help="the database (folder or file)")
    parser.add_argument("--split", default="validation", help="split to score (default: validation)")
    parser.add_argument("--batch-size", type=int, default=64, metavar="N", help="samples per batch (default 64)")
    parser.add_argument("--limit", type=int, default=0, metavar="N", help="score N samples spread over the split (default: all)")
    parser.add_argument("--num-workers", type=int, default=0, metavar="N", help="data loader processes (default 0)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default auto)")
    parser.add_argument(
        "--sequence-length", type=int, default=0, metavar="N",
        help="steps per sequence for a recurrent model (default: the length it was trained on); "
        "give two models the same N to score them on the same sequences",
    )  # fmt: skip
    parser.add_argument(
        "--option", action="append", default=[], metavar="KEY=VALUE",
        help="a dataset option, as a recipe's data.options (repeatable; TOML values, e.g. "
        "crema_d=../shared/data/crema_d_audio priors=true); on the database the checkpoint was "
        "trained on, its own options are the defaults",
    )  # fmt: skip
    parser.add_argument(
        "--backend", choices=BACKEND_CHOICES, default=None,
        help="score an engine instead of the PyTorch model: its outputs a frame at a time, the "
        "state carried, as live runs it (e.g. onnxruntime; default: the PyTorch model)",
    )  # fmt: skip
    parser.add_argument(
        "--precision", choices=PRECISION_CHOICES, default=None,
        help="the engine's precision (implies --backend auto if none is given); compare "
        "--precision int8 with fp32 to see what int8 costs",
    )  # fmt: skip
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.set_defaults(func=run_eval)


def run_train(args: argparse.Namespace) -> int:
    from avaffect.train.config import build_config, list_recipes, to_toml

    if args.list:
        recipes = list_recipes()
        width = max(map(len, recipes), default=0)
        for name, description in recipes.items():
            print(f"{name:<{width}}  {description}")
        return 0
    if not args.recipe:
        raise AvaffectError("name a recipe (`avaffect train --list` shows them) or a .toml file")
    if args.data is not None and not Path(args.data).expanduser().exists():
        raise AvaffectError(f"--data {args.data}: no such file or folder; pass the database's location")
    name, config = build_config(args.recipe, args.overrides, **{"data.path": args.data, "out": args.out})
    if args.dry_run:
        print(to_toml(config.to_dict()), end="")
        return 0
    if not config.data.path:
        raise AvaffectError(f"pass --data PATH: where the {config.data.dataset} database is")
    if not Path(config.data.path).expanduser().exists():
        raise AvaffectError(f"data.path {config.data.path}: no such file or folder")
    writable_folder(config.out or Path("runs") / name, "--out")  # before data and model load

    from avaffect.train.loop.trainer import train

    try:
        result = train(config, recipe=name, resume=args.resume, progress=not args.no_progress)
    except KeyboardInterrupt:
        out = Path(config.out or Path("runs") / name)
        print(f"stopped; `avaffect train {out / 'config.toml'} --resume` continues from the last "
              "checkpoint (checkpoint_every sets how often one is written)")
        raise
    _print_summary(result)
    return 0


def _print_summary(result) -> None:
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized() and dist.get_rank() != 0:
        return
    best = "" if not math.isfinite(result.best_score) else f", best validation score {result.best_score:.4f}"
    print(f"trained {result.step} steps{best}")
    for path in (result.best_path, result.last_path):
        if path is not None:
            print(f"  {path}")


def dataset_options(pairs: list[str]) -> dict:
    """``["crema_d=DIR", "priors=true"]`` -> ``{"crema_d": "DIR", "priors": True}``."""
    from avaffect.train.config import parse_override

    options = {}
    for text in pairs:
        key, value = parse_override(text)
        if len(key) != 1:
            raise AvaffectError(f"--option {text!r}: a dataset option is one word (e.g. priors=true)")
        options[key[0]] = value
    return options


def run_eval(args: argparse.Namespace) -> int:
    from avaffect.train.evaluation.evaluate import evaluate_checkpoint
    from avaffect.train.evaluation.report import format_report

    if args.batch_size < 1 or args.limit < 0 or args.num_workers < 0 or args.sequence_length < 0:
        raise AvaffectError(
            "--batch-size must be at least 1, --limit, --num-workers and --sequence-length at least 0"
        )
    if not Path(args.path).expanduser().exists():
        raise AvaffectError(f"--path {args.path}: no such file or folder; pass the database's location")
    common = dict(
        split=args.split, batch_size=args.batch_size, limit=args.limit,
        progress=not args.no_progress, options=dataset_options(args.option),
        sequence_length=args.sequence_length,
    )  # fmt: skip
    if args.backend is None and args.precision is None:
        report = evaluate_checkpoint(
            args.checkpoint, args.dataset, args.path, device=args.device,
            num_workers=args.num_workers, **common,
        )  # fmt: skip
    else:
        from avaffect.engines import load_engine
        from avaffect.engines.evaluation import evaluate_engine

        engine = load_engine(
            args.checkpoint, args.backend or "auto", None if args.device == "auto" else args.device,
            precision=args.precision or "auto", max_faces=args.batch_size,
        )  # fmt: skip
        report = evaluate_engine(args.checkpoint, engine, args.dataset, args.path, **common)
    print(json.dumps(report, indent=2) if args.json else format_report(report))
    return 0

"""``avaffect export``: write a checkpoint as an ONNX graph, a TensorRT plan or a torch2trt engine."""

from __future__ import annotations

import argparse

EPILOG = """\
examples:
  avaffect export model.safetensors                      # ONNX graph, for ONNX Runtime (CPU)
  avaffect export model.safetensors --to onnx --fp16     # half-precision ONNX (GRU kept fp32)
  avaffect export default_stream_fer2013 --int8           # int8 ONNX (calibrated checkpoints)
  avaffect export model.safetensors --to tensorrt --fp16 --max-faces 4 --out engines/
  avaffect export model.safetensors --to torch2trt       # CNN in TensorRT, GRU in PyTorch

Every file is written with FILE.manifest.json (model, I/O, precision, source checkpoint hash,
library versions, GPU). Run again after retraining: a stale file is rebuilt, a current one
kept; --no-rebuild refuses a stale file instead. `avaffect live --checkpoint FILE` and
`load_engine(FILE)` run the result; TensorRT plans only on the GPU and TensorRT they were
built with. See docs/engines.md.
"""


def add_export_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "export",
        help="export a checkpoint to ONNX / TensorRT / torch2trt",
        description="Export a checkpoint's single-step graph (face, [spectrogram], [hidden]) -> "
        "(valence/arousal, AU logits, expression logits, [hidden], [embedding]) to an engine file.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("checkpoint", help="checkpoint (.safetensors) path or shipped model name")
    parser.add_argument(
        "--to",
        choices=("onnx", "tensorrt", "torch2trt"),
        default="onnx",
        help="engine kind (default onnx)",
    )
    parser.add_argument(
        "--fp16", action="store_true", help="half precision (the GRU and its state stay fp32)"
    )
    parser.add_argument(
        "--int8", action="store_true",
        help="an int8 ONNX graph for ONNX Runtime's CPU provider (2.4x faster steps); needs a "
        "checkpoint calibrated by `avaffect calibrate` (the shipped face and fused ones are)",
    )  # fmt: skip
    parser.add_argument(
        "--max-faces",
        type=int,
        default=8,
        metavar="N",
        help="largest face batch of a TensorRT engine (default 8)",
    )
    parser.add_argument("--opset", type=int, default=17, help="ONNX opset (default 17)")
    parser.add_argument(
        "--out", default=".", metavar="DIR", help="output folder (default: the current one)"
    )
    parser.add_argument(
        "--no-rebuild", action="store_true", help="refuse to overwrite a stale engine file"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from avaffect.engines.export import export_engine
    from avaffect.output_paths import writable_folder

    writable_folder(args.out, "--out")  # before the checkpoint loads and the export runs
    path, manifest = export_engine(
        args.checkpoint,
        args.to,
        args.out,
        fp16=args.fp16,
        int8=args.int8,
        max_faces=args.max_faces,
        opset=args.opset,
        rebuild=not args.no_rebuild,
    )
    print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB) and {path.name}.manifest.json")
    print(manifest.summary())
    return 0

"""``avaffect data``: look into a training database, or write the synthetic one."""

from __future__ import annotations

import argparse

DESCRIPTION = """\
Check that a database is where and how avaffect expects it, before a long training run:
`info` opens it with the same loader `avaffect train` uses, prints what indexing kept and
skipped, and the shapes of one sample. `synthetic` writes a small database in the Aff-Wild2
layout (drawn faces whose expression, AUs and valence/arousal are known; audio whose loudness
follows arousal) for smoke runs and demos.

Databases: affwild2 (the root with cropped_aligned/ and the annotation folders), fer2013
(fer2013.csv or an .npz), affectnet (the root with Manually_Annotated_file_lists/), rafdb
(RAF-DB's basic/ folder), imagefolder (ROOT/<Expression>/*.jpg, e.g. Kaggle's FER2013).
"""

EPILOG = """\
examples:
  avaffect data info affwild2 /data/Aff-Wild2 --split validation
  avaffect data info affwild2 /data/Aff-Wild2 --sequence --audio
  avaffect data info fer2013 /data/fer2013/fer2013.csv --split publictest
  avaffect data synthetic /tmp/synthetic --videos 8 --frames 120
  avaffect train mt_vgg --data /tmp/synthetic model.name=mt_vgg_lite
"""


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "data",
        help="inspect a training database, or write the synthetic one",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    info = actions.add_parser("info", help="open a database and print its counts and one sample")
    info.add_argument("dataset", help="affwild2, fer2013, affectnet, rafdb or imagefolder")
    info.add_argument("path", help="the database's folder (or file)")
    info.add_argument("--split", default="train", help="train (default), validation, test...")
    info.add_argument("--sequence", action="store_true", help="Aff-Wild2 windows for CNN-RNNs")
    info.add_argument("--audio", action="store_true", help="Aff-Wild2 with spectrograms (PyAV)")
    synthetic = actions.add_parser(
        "synthetic", help="write the synthetic Aff-Wild2-layout database"
    )
    synthetic.add_argument("out", help="folder to write (created)")
    synthetic.add_argument("--videos", type=int, default=4, help="recordings (default 4)")
    synthetic.add_argument("--frames", type=int, default=60, help="frames per video (default 60)")
    synthetic.add_argument("--fps", type=float, default=30.0, help="frame rate (default 30)")
    synthetic.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    synthetic.add_argument("--no-audio", action="store_true", help="write no raw videos")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.action == "synthetic":
        from avaffect.output_paths import writable_folder
        from avaffect.train.data.synthetic import write_synthetic_affwild2

        writable_folder(args.out, "OUT")

        root = write_synthetic_affwild2(
            args.out, args.videos, args.frames, args.fps, args.seed, audio=not args.no_audio
        )
        print(f"wrote a synthetic Aff-Wild2 database to {root}")
        return 0
    from avaffect.audio import SpectrogramConfig
    from avaffect.train.data.registry import open_dataset

    audio = SpectrogramConfig() if args.audio else None
    data = open_dataset(args.dataset, args.path, args.split, sequence=args.sequence, audio=audio)
    print(f"{args.dataset} {args.split}: {len(data)} samples; tasks {', '.join(data.tasks)}")
    for key, value in data.stats.items():
        print(f"  {key}: {value}")
    if len(data):
        shapes = ", ".join(f"{k} {list(v.shape)} {v.dtype}" for k, v in data[0].items())
        print(f"sample 0: {shapes}")
    return 0

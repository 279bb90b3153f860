"""`avaffect models`: the table of every model of the paper."""

from __future__ import annotations

import json

from paper import PAPER_MODELS

from avaffect.cli import main


def test_models_table_lists_every_paper_model_and_its_lite_variant(capsys):
    assert main(["models"]) == 0
    rows = {line.split()[0]: line for line in capsys.readouterr().out.splitlines() if line.strip()}
    for name in PAPER_MODELS:
        assert name in rows and f"{name}_lite" in rows
    assert "face[3,96,96] spec[1,728,44] hidden[6,128]" in rows["av_mt_vgg_rnn"]
    assert "embedding[512]" in rows["mt_arcres"]
    assert "A/V-MT-VGG-RNN" in rows["av_mt_vgg_rnn"]


def test_models_json_parses_and_counts_parameters_and_flops(capsys):
    assert main(["models", "--json"]) == 0
    models = {m["name"]: m for m in json.loads(capsys.readouterr().out)}
    assert set(PAPER_MODELS) | {f"{n}_lite" for n in PAPER_MODELS} <= set(models)
    vgg, lite = models["mt_vgg"], models["mt_vgg_lite"]
    # VGG16's 13 convs (14.7M) + fc1 (3*3*512 -> 4096, 18.9M) + the heads
    assert 33e6 < vgg["parameters"] < 34e6
    assert lite["parameters"] < vgg["parameters"] / 10
    # conv1_1 alone at 96x96 costs 2 * 96*96 * 64 * 3*3*3 FLOPs; the whole net a few GFLOPs
    assert 5 < vgg["gflops"] < 7 and lite["gflops"] < vgg["gflops"] / 10
    assert vgg["outputs"] == {"va": [2], "au": [8], "expr": [7]}
    assert models["st_vgg"]["outputs"] == {"expr": [7]}
    audio = models["mt_vgg_rnn_audio"]
    assert (
        audio["inputs"] == {"spectrogram": [1, 728, 44], "hidden": [2, 128]} and audio["uses_audio"]
    )
    # one step of the A/V model costs its two streams
    av = models["av_mt_vgg_rnn"]["gflops"]
    assert abs(av - (audio["gflops"] + models["mt_vgg_rnn"]["gflops"])) < 0.1
    assert models["mt_arcvgg"]["arcface"] and models["mt_vgg_rnn"]["recurrent"]


def test_models_help_teaches(capsys):
    try:
        main(["models", "--help"])
    except SystemExit as exit_:
        assert exit_.code == 0
    out = capsys.readouterr().out
    assert "--json" in out and "create_model" in out

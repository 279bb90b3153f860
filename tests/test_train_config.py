"""Recipes, overrides and the `avaffect train` command line (no training here)."""

from __future__ import annotations

import pytest

from avaffect.cli import main
from avaffect.errors import AvaffectError
from avaffect.train.config import (
    TrainConfig,
    apply_overrides,
    build_config,
    list_recipes,
    load_recipe,
    to_toml,
)
from avaffect.train.models import list_models

PAPER_STAGES = {
    "st_vgg_va", "st_vgg_au", "st_vgg_expr", "mt_vgg", "st_sphereface_expr", "mt_sphereface",
    "st_inception_resnet_va", "mt_inception_resnet", "mt_vgg_rnn", "av_audio_stream", "av_mt_vgg_rnn",
    "mt_arcres", "mt_arcvgg", "mt_arcres_retrain_fer2013", "mt_arcvgg_retrain_rafdb",
}


def test_every_shipped_recipe_loads_and_names_a_registered_model():
    recipes = list_recipes()
    assert PAPER_STAGES <= set(recipes)
    models = {entry.name for entry in list_models()}
    for name, description in recipes.items():
        assert description, f"{name} says nothing about what it reproduces"
        _, config = build_config(name)
        assert config.model.name in models, name


def test_recipes_follow_the_paper_optimisers():
    assert build_config("mt_vgg")[1].optim.name == "adam"
    assert build_config("mt_vgg")[1].optim.lr == pytest.approx(1e-4)
    arc = build_config("mt_arcres")[1]
    assert (arc.optim.name, arc.optim.momentum, arc.optim.weight_decay) == ("sgd", 0.9, 5e-4)
    rnn = build_config("mt_vgg_rnn")[1]
    assert rnn.data.sequence_length == 90 and rnn.model.init_from.endswith("mt_vgg/best.safetensors")
    av = build_config("av_mt_vgg_rnn")[1]
    assert av.model.init_from and av.model.init_audio_from
    fer = build_config("mt_arcres_retrain_fer2013")[1]
    assert (fer.data.dataset, fer.face.color, fer.fit_centres) == ("fer2013", "gray", True)


def test_overrides_reach_nested_sections_with_toml_types():
    _, config = build_config(
        "mt_vgg",
        ["optim.lr=0.01", "steps=7", "amp=false", "model.name=mt_vgg_lite", "model.kwargs.width=0.125",
         "loss.weights={va=2, au=1, expr=0.5}", "face.size=48", "optim.milestones=[10, 20]"],
    )
    assert config.optim.lr == 0.01 and config.steps == 7 and config.amp is False
    assert config.model.name == "mt_vgg_lite"
    assert config.model.kwargs == {"dropout": 0.4, "width": 0.125}  # merged with the recipe's
    assert config.loss.weights == {"va": 2, "au": 1, "expr": 0.5}
    assert config.face.size == 48 and config.optim.milestones == [10, 20]


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("optim.lrr=1", "valid keys: optim.name, optim.lr"),
        ("nonsense=1", "valid keys: description, model"),
        ("steps=many", "steps must be an integer"),
        ("batch_size=true", "batch_size must be an integer"),
        ("optim.name=adamw", "not one of adam, sgd"),
        ("optim.lr=-1", "optim.lr must be a positive number"),
        ("face.color=blue", "face color mode 'blue'"),
        ("loss.weights={happy=1}", "unknown task"),
        ("loss.margin_warmup_steps=-5", "loss.margin_warmup_steps must not be negative, got -5"),
        ("loss.margin_warmup_steps=1.5", "loss.margin_warmup_steps must be an integer"),
        ("optim=3", "optim must be a table"),
        ("optim.lr.x=1", "optim.lr is a value, not a table"),
        ("novalue", "is not KEY=VALUE"),
        ("optim.lr=[1", "not a valid TOML value"),
    ],
)
def test_bad_overrides_are_one_line_errors(override, message):
    with pytest.raises(AvaffectError, match=message.replace("(", r"\(").replace("[", r"\[")) as err:
        build_config("mt_vgg", [override])
    assert "\n" not in str(err.value)


def test_resolved_config_round_trips_through_toml(tmp_path):
    _, config = build_config("av_mt_vgg_rnn", ["optim.lr=3e-5", 'description="with \\"quotes\\""'])
    path = tmp_path / "resolved.toml"
    path.write_text(to_toml(config.to_dict()))
    name, data = load_recipe(str(path))
    assert name == "resolved"
    assert TrainConfig.from_dict(data) == config


def test_apply_overrides_leaves_the_recipe_untouched():
    _, recipe = load_recipe("mt_vgg")
    changed = apply_overrides(recipe, ["optim.lr=0.5"])
    assert changed["optim"]["lr"] == 0.5 and recipe["optim"]["lr"] == 1e-4


def test_cli_lists_recipes_one_per_line(capsys):
    assert main(["train", "--list"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == len(list_recipes())
    mt_vgg = next(line for line in lines if line.split()[0] == "mt_vgg")
    assert "MT-VGG" in mt_vgg


def test_cli_dry_run_prints_the_resolved_config_with_overrides_after_options(tmp_path, capsys):
    assert main(["train", "mt_vgg", "--data", str(tmp_path), "--out", str(tmp_path / "run"), "--dry-run",
                 "optim.lr=0.003", "steps=5"]) == 0
    text = capsys.readouterr().out
    assert "lr = 0.003" in text and "steps = 5" in text and f'path = "{tmp_path}"' in text


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["train", "no_such_recipe", "--data", "{tmp}"], "unknown recipe 'no_such_recipe'"),
        (["train", "mt_vgg", "--data", "{tmp}/missing"], "no such file or folder"),
        (["train", "mt_vgg"], "pass --data PATH"),
        (["train", "mt_vgg", "--data", "{tmp}", "optim.bogus=1"], "unknown setting 'optim.bogus'"),
        (["train", "{tmp}/nope.toml", "--data", "{tmp}"], "recipe file"),
        (["train"], "name a recipe"),
    ],
)
def test_cli_errors_are_one_line_with_status_2(tmp_path, capsys, argv, message):
    assert main([a.replace("{tmp}", str(tmp_path)) for a in argv]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1

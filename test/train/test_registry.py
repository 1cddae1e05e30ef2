"""Task registry and training configurations with overrides."""
from __future__ import annotations

import pytest
import yaml
from toy_task import LinearRegressionTask, write_toy_config

from rgbt_tracking.train import registry
from rgbt_tracking.train.registry import (
    load_training_config,
    parse_overrides,
    registered_tasks,
    task_class,
)


def test_import_paths_and_registered_names_resolve():
    assert task_class("toy_task:LinearRegressionTask") is LinearRegressionTask
    assert {"mfdimp", "pix2pix"} <= set(registered_tasks())
    with pytest.raises(ValueError, match="unknown training task 'nope'; known: .*mfdimp"):
        task_class("nope")
    with pytest.raises(ValueError, match="cannot import module 'no_such_module'"):
        task_class("no_such_module:Task")
    with pytest.raises(ValueError, match="has no class 'Missing'"):
        task_class("toy_task:Missing")
    with pytest.raises(ValueError, match="not a TrainingTask subclass"):
        task_class("toy_task:ToyRegressionData")


def test_overrides_are_parsed_as_yaml_into_sections():
    assert parse_overrides(["trainer.epochs=3", "optim.lr=1e-4", "data.sources=[1, 2]",
                            "trainer.seed=7"]) == {
        "trainer": {"epochs": 3, "seed": 7}, "optim": {"lr": 1e-4},
        "data": {"sources": [1, 2]}}
    with pytest.raises(ValueError, match="'trainer.epochs' is not 'section.key=value'"):
        parse_overrides(["trainer.epochs"])
    with pytest.raises(ValueError, match="conflicts"):
        parse_overrides(["a=1", "a.b=2"])


def test_config_file_with_overrides_and_unknown_keys(tmp_path):
    path = write_toy_config(tmp_path / "toy.yaml")
    path.write_text(path.read_text().replace("weight_decay: 0.0", "weight_decay: 1e-5"))
    config = load_training_config("toy_task:LinearRegressionTask", path,
                                  ["trainer.epochs=9", "optim.lr=0.5"])
    assert config["trainer"]["epochs"] == 9 and config["optim"]["lr"] == 0.5
    assert config["optim"]["weight_decay"] == 1e-5      # a float, not YAML 1.1's string
    assert config["trainer"]["batch_size"] == yaml.safe_load(path.read_text())[
        "trainer"]["batch_size"]
    with pytest.raises(ValueError, match="unknown parameter 'epoch'.*valid keys: .*epochs"):
        load_training_config("toy", path, ["trainer.epoch=9"])
    with pytest.raises(ValueError, match="give its configuration file"):
        load_training_config("toy_task:LinearRegressionTask")
    with pytest.raises(FileNotFoundError, match="missing.yaml"):
        load_training_config("toy", tmp_path / "missing.yaml")


def test_presets_are_found_in_config_training(tmp_path, monkeypatch):
    (tmp_path / "training").mkdir()
    write_toy_config(tmp_path / "training" / "toy.yaml")
    monkeypatch.setenv("RGBT_TRACKING_CONFIG_DIR", str(tmp_path))
    monkeypatch.setitem(registry._TASKS, "toy", "toy_task:LinearRegressionTask")
    assert load_training_config("toy", overrides=["model.dropout=0.1"])["model"] == {
        "dropout": 0.1}
    with pytest.raises(FileNotFoundError, match="training/absent.yaml"):
        load_training_config("absent")

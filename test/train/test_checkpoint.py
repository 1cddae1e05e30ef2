"""Checkpoint files: naming, atomic writing, checks on reading, export."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from rgbt_tracking.train.checkpoint import (
    build_checkpoint,
    export_weights,
    latest_checkpoint,
    list_checkpoints,
    load_checkpoint,
    plain_config,
    save_checkpoint,
)


def _checkpoint(epoch: int = 3) -> dict:
    model = torch.nn.Linear(2, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    model(torch.ones(1, 2)).sum().backward()
    optimizer.step()
    return build_checkpoint("toy", {"model": {"size": (2, 1)}, "path": Path("/x")}, epoch,
                            model, {"main": optimizer}, {}, {"seed": 1}, {"tracker": "t"})


def test_saved_checkpoint_round_trips_and_leaves_no_temporary_file(tmp_path):
    original = _checkpoint(epoch=7)
    path = save_checkpoint(tmp_path, original)
    assert path == tmp_path / "checkpoint_e0007.pth"
    assert [p.name for p in tmp_path.iterdir()] == ["checkpoint_e0007.pth"]
    loaded = load_checkpoint(path)
    assert loaded["config"] == {"model": {"size": [2, 1]}, "path": "/x"}   # plain YAML types
    assert torch.equal(loaded["model"]["weight"], original["model"]["weight"])
    momentum = loaded["optimizers"]["main"]["state"][0]["momentum_buffer"]
    assert torch.equal(momentum, original["optimizers"]["main"]["state"][0]["momentum_buffer"])
    assert loaded["metadata"] == {"tracker": "t"} and loaded["epoch"] == 7


def test_latest_checkpoint_is_the_one_with_most_epochs(tmp_path):
    assert latest_checkpoint(tmp_path) is None
    assert latest_checkpoint(tmp_path / "missing") is None
    for epoch in (2, 10, 9):
        save_checkpoint(tmp_path, _checkpoint(epoch))
    (tmp_path / "checkpoint_e99.pth").write_text("not ours")           # too few digits
    (tmp_path / "checkpoint_e0050.pth.tmp").write_text("partial")
    assert latest_checkpoint(tmp_path) == tmp_path / "checkpoint_e0010.pth"
    assert [p.name[12:16] for p in list_checkpoints(tmp_path)] == ["0002", "0009", "0010"]


def test_load_errors_name_the_file(tmp_path):
    missing = tmp_path / "nope.pth"
    with pytest.raises(FileNotFoundError, match="nope.pth"):
        load_checkpoint(missing)
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"not a torch file at all")
    with pytest.raises(ValueError, match="garbage.pth.*not a readable"):
        load_checkpoint(garbage)
    bare = tmp_path / "bare.pth"
    torch.save(torch.nn.Linear(2, 1).state_dict(), bare)
    with pytest.raises(ValueError, match="bare.pth.*no 'format'"):
        load_checkpoint(bare)
    future = tmp_path / "future.pth"
    torch.save({**_checkpoint(), "format": 99}, future)
    with pytest.raises(ValueError, match="future.pth: checkpoint format 99"):
        load_checkpoint(future)
    partial = tmp_path / "partial.pth"
    data = _checkpoint()
    del data["rng"], data["schedulers"]
    torch.save(data, partial)
    with pytest.raises(ValueError, match="partial.pth: checkpoint lacks the fields "
                                         "schedulers, rng"):
        load_checkpoint(partial)


def test_pickled_objects_are_refused(tmp_path):
    path = tmp_path / "object.pth"
    torch.save({**_checkpoint(), "metadata": {"when": object}}, path)
    with pytest.raises(ValueError, match="object.pth is not a readable"):
        load_checkpoint(path)


def test_export_keeps_weights_and_config_only(tmp_path):
    source = save_checkpoint(tmp_path, _checkpoint())
    out = export_weights(source, tmp_path / "weights.pth")
    slim = load_checkpoint(out)
    assert slim["optimizers"] == {} and slim["schedulers"] == {} and slim["rng"] == {}
    assert torch.equal(slim["model"]["bias"], load_checkpoint(source)["model"]["bias"])
    assert out.stat().st_size < source.stat().st_size
    with pytest.raises(FileExistsError, match="weights.pth"):
        export_weights(source, out)


def test_plain_config_refuses_objects_and_names_the_key():
    assert plain_config({"a": (1, 2.5), "b": [None, True]}) == {"a": [1, 2.5],
                                                                "b": [None, True]}
    with pytest.raises(ValueError, match=r"config\.model\.layers\[1\]: object"):
        plain_config({"model": {"layers": [1, object()]}})

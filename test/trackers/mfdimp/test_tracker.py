"""The online procedure of mfdimp on real images: outputs, missing cameras, checkpoints."""
import numpy as np
import pytest
import torch

from rgbt_tracking import build_tracker, list_trackers
from rgbt_tracking.data.synthetic import generate_sequence

SMALL = {"image_sample_size": 96, "network": {"feature_dim": 64}}


@pytest.fixture(scope="module")
def sequence():
    return generate_sequence(num_frames=50, width=192, height=160, target_size=(24, 16), seed=5)


def run(tracker, seq, frames=6, drop=None):
    tracker.initialize(seq.rgb[0], seq.thermal[0], seq.boxes[0])
    results = []
    for i in range(1, frames):
        rgb = None if drop == "rgb" else seq.rgb[i]
        thermal = None if drop == "thermal" else seq.thermal[i]
        results.append(tracker.track(rgb, thermal))
    return results


def test_registered_with_its_preset():
    assert "mfdimp" in list_trackers()


def test_outputs_of_the_default_feature_fusion(sequence):
    tracker = build_tracker("mfdimp", **SMALL)
    assert tracker.spec.level == "feature" and tracker.spec.iou_input == "fused"
    for result in run(tracker, sequence):
        x, y, w, h = result.box
        assert w > 0 and h > 0 and np.isfinite([x, y, w, h]).all()
        assert result.state in ("tracking", "uncertain", "lost")
        assert np.isfinite(result.score)
        assert result.response.dtype == np.float32 and result.response.shape == (7, 7)


def test_missing_camera_by_fusion_level(sequence):
    feature = run(build_tracker("mfdimp", **SMALL), sequence, drop="thermal")
    assert all(r.state in ("uncertain", "lost") for r in feature)
    response = run(build_tracker("mfdimp", fusion="response", **SMALL), sequence, drop="rgb")
    assert all(r.info.get("branches", 1.0) == 1.0 for r in response if r.response is not None)
    single = run(build_tracker("mfdimp", fusion="none", modality="thermal", **SMALL), sequence,
                 drop="thermal")
    assert all(r.state == "lost" and r.score == 0.0 for r in single)


def test_pixel_level_runs(sequence):
    results = run(build_tracker("mfdimp", fusion="pixel", **SMALL), sequence, frames=3)
    assert len(results) == 2


def test_bad_sample_size_and_unknown_fusion_are_refused():
    with pytest.raises(ValueError, match="multiple of the feature stride"):
        build_tracker("mfdimp", image_sample_size=100)
    with pytest.raises(ValueError, match="fusion must be one of"):
        build_tracker("mfdimp", fusion="late")


def test_missing_weight_files_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothere.pth"):
        build_tracker("mfdimp", checkpoint=str(tmp_path / "nothere.pth"))
    with pytest.raises(FileNotFoundError, match="resnet18.pth"):
        build_tracker("mfdimp", imagenet_weights=str(tmp_path / "resnet18.pth"))


def test_imagenet_backbone_weights_load(tmp_path):
    from rgbt_tracking.nn.resnet import resnet18

    reference = resnet18()
    state = {k: v for k, v in reference.state_dict().items()}
    state["fc.weight"] = torch.zeros(1000, 512)
    state["fc.bias"] = torch.zeros(1000)
    path = tmp_path / "resnet18-f37072fd.pth"
    torch.save(state, path)
    tracker = build_tracker("mfdimp", imagenet_weights=str(path), **SMALL)
    for backbone in tracker.net.backbones.values():
        assert torch.equal(backbone.layer2[0].conv1.weight, reference.layer2[0].conv1.weight)

import numpy as np
import pytest
import torch

from rgbt_tracking.train.registry import load_training_config, task_class
from rgbt_tracking.trackers.mdnet_rgbt.training import instance_embedding_loss
from rgbt_tracking.trackers.mdnet_rgbt.scene import fixed_crop

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _config(name):
    config = load_training_config(f"{name}_generated")
    config["data"]["sources"] = [{"generated": {"count": 2, "seed": 7, "width": 160,
                                                "height": 128, "num_frames": 50,
                                                "target_size": [24, 16]}}]
    config["data"].update(pos_per_frame=4, neg_per_frame=6, crop_context=2.5)
    config["model"].update(fc_channels=16)
    if "embedding_dim" in config["model"]:
        config["model"]["embedding_dim"] = 8
    config["trainer"].update(iterations_per_epoch=2, batch_size=2)
    return config


@pytest.fixture(scope="module")
def m5l_task():
    return task_class("m5l")(_config("m5l"))


def test_items_carry_domain_and_boxes_with_the_iou_thresholds(m5l_task):
    from rgbt_tracking.core.box import iou

    dataset = m5l_task.build_dataset("train")
    item = dataset[1]
    side = int(round(2.5 * 48))
    assert item["rgb"].shape == (3, side, side) and item["thermal"].shape == (1, side, side)
    assert item["boxes"].shape == (11, 4) and int(item["domain"]) in (0, 1)
    boxes = item["boxes"].double().numpy()
    anchor = boxes[0]
    np.testing.assert_allclose(anchor[2:], [48.0, 48.0], rtol=1e-5)   # target at target_px
    overlaps = iou(boxes[1:], anchor[None])                            # IoU is scale-free
    assert (overlaps[:4] >= 0.7).all() and (overlaps[4:] < 0.5).all()
    again = dataset[1]
    assert torch.equal(again["boxes"], item["boxes"])                   # seeded per item


def test_losses_are_finite_and_the_mmsl_term_is_added(m5l_task):
    net = m5l_task.build_model()
    assert net.num_domains == 2
    dataset = m5l_task.build_dataset("train")
    batch = torch.utils.data.default_collate([dataset[0], dataset[1]])
    losses = m5l_task.compute_losses(net, batch)
    for key in ("classification", "instance", "mmsl", "total"):
        assert torch.isfinite(losses[key])
    expected = losses["classification"] + 0.1 * losses["instance"] + 1.0 * losses["mmsl"]
    torch.testing.assert_close(losses["total"], expected)
    losses["total"].backward()
    assert net.rgb_embedding[0].weight.grad.abs().sum() > 0
    assert net.rgb_backbone.conv1[0].weight.grad.abs().sum() > 0


def test_learning_rate_groups(m5l_task):
    net = m5l_task.build_model()
    groups = m5l_task.parameter_groups(net)
    conv_ids = {id(p) for p in groups[0]["params"]}
    assert groups[0]["lr"] == pytest.approx(1e-4) and groups[1]["lr"] == pytest.approx(1e-3)
    assert id(net.rgb_backbone.conv3[0].weight) in conv_ids
    assert id(net.fc4[0].weight) not in conv_ids
    assert len(groups[0]["params"]) + len(groups[1]["params"]) == len(list(net.parameters()))


def test_instance_embedding_loss_by_hand():
    logits = torch.tensor([[[0.0, 1.0], [0.0, 3.0]], [[0.0, 2.0], [0.0, 0.0]]])
    domains = torch.tensor([0, 0])
    first = np.log(np.exp(1) / (np.exp(1) + np.exp(3)))     # sample 0: domain 0 of (1, 3)
    second = np.log(np.exp(2) / (np.exp(2) + np.exp(0)))    # sample 1: domain 0 of (2, 0)
    expected = -(first + second) / 2
    assert float(instance_embedding_loss(logits, domains)) == pytest.approx(expected, rel=1e-6)
    assert float(instance_embedding_loss(logits[:, :1], domains)) == 0.0


def test_cmi_task_builds_its_fusion_and_rejects_another():
    config = _config("cmi")
    config["model"]["interaction"] = "pixel"
    net = task_class("cmi")(config).build_model()
    assert net.fusion_name == "cmi" and net.fusion.mode == "pixel"
    config["model"]["fusion"] = "m5l"
    with pytest.raises(ValueError, match="model.fusion"):
        task_class("cmi")(config).build_model()


def test_fixed_crop_matches_the_dataset_geometry():
    crop = fixed_crop((60.0, 50.0), (24.0, 16.0), 2.5, 48.0)
    assert crop.size == (120, 120) and crop.scale == pytest.approx((2.0, 3.0))

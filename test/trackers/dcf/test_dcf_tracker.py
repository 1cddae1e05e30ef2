"""dcf on real data (../shared/data/vtuav_bus1) and its behaviour on edge cases."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from rgbt_tracking import build_tracker
from rgbt_tracking.core.box import iou


@pytest.fixture(scope="module")
def bus(shared_data):
    root = shared_data / "vtuav_bus1"
    frames = []
    for index in range(101):
        bgr = cv2.imread(str(root / "rgb" / f"{index:06d}.jpg"), cv2.IMREAD_COLOR)
        ir = cv2.imread(str(root / "ir_gray" / f"{index:06d}.jpg"), cv2.IMREAD_GRAYSCALE)
        assert bgr is not None and ir is not None, f"cannot read frame {index} in {root}"
        frames.append((cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), ir))
    gt = np.loadtxt(root / "rgb.txt")
    assert gt.shape == (11, 4)
    return frames, gt


def run(tracker, frames, use_rgb=True, use_thermal=True):
    results = []
    for rgb, ir in frames[1:]:
        results.append(tracker.track(rgb if use_rgb else None, ir if use_thermal else None))
    return results


@pytest.mark.parametrize("fusion", ["pixel", "feature", "response"])
def test_follows_the_bus_with_every_fusion_level(bus, fusion):
    frames, gt = bus
    tracker = build_tracker("dcf", fusion=fusion)
    tracker.initialize(frames[0][0], frames[0][1], gt[0])
    results = run(tracker, frames)
    overlaps = [float(iou(results[k * 10 - 1].box, gt[k])) for k in range(1, 11)]
    assert min(overlaps) > 0.5, f"{fusion}: IoU on annotated frames {np.round(overlaps, 2)}"
    assert all(r.response is not None and r.response.dtype == np.float32 for r in results)


@pytest.mark.parametrize("modality", ["rgb", "thermal"])
def test_single_modality_operation(bus, modality):
    frames, gt = bus
    tracker = build_tracker("dcf")
    use_rgb, use_thermal = modality == "rgb", modality == "thermal"
    tracker.initialize(frames[0][0] if use_rgb else None,
                       frames[0][1] if use_thermal else None, gt[0])
    results = run(tracker, frames[:51], use_rgb, use_thermal)
    overlaps = [float(iou(results[k * 10 - 1].box, gt[k])) for k in range(1, 6)]
    assert min(overlaps) > 0.5, f"{modality}-only: {np.round(overlaps, 2)}"


@pytest.mark.parametrize("fusion", ["feature", "response"])
def test_camera_drop_out_degrades_gracefully(bus, fusion):
    """A modality missing for a stretch (a camera drops out) neither crashes nor loses the bus."""
    frames, gt = bus
    tracker = build_tracker("dcf", fusion=fusion)
    tracker.initialize(frames[0][0], frames[0][1], gt[0])
    states = []
    for index, (rgb, ir) in enumerate(frames[1:41], start=1):
        result = tracker.track(None if 10 < index <= 25 else rgb, ir)
        states.append(result.state)
    assert float(iou(result.box, gt[4])) > 0.5
    if fusion == "feature":
        # A fused filter fed zeros for a modality does not claim full confidence.
        assert "tracking" not in states[10:25]


def test_state_goes_lost_when_the_target_vanishes(bus):
    frames, gt = bus
    tracker = build_tracker("dcf")
    tracker.initialize(frames[0][0], frames[0][1], gt[0])
    run(tracker, frames[:6])
    rng = np.random.default_rng(0)
    blank_rgb = rng.integers(0, 255, frames[0][0].shape, dtype=np.uint8)
    blank_ir = rng.integers(0, 255, frames[0][1].shape, dtype=np.uint8)
    before = tracker._box()
    states = [tracker.track(blank_rgb, blank_ir).state for _ in range(5)]
    assert states[-1] == "lost"
    # While lost the box is held, not dragged around by noise.
    assert float(iou(tracker._box(), before)) > 0.5


def test_bad_input_raises_value_error_and_tracker_survives(bus):
    frames, gt = bus
    tracker = build_tracker("dcf")
    rgb, ir = frames[0]
    with pytest.raises(ValueError, match="outside"):
        tracker.initialize(rgb, ir, (5000, 10, 50, 50))
    with pytest.raises(ValueError, match="empty"):
        tracker.initialize(rgb, ir, (10, 10, 0, 50))
    tracker.initialize(rgb, ir, gt[0])
    with pytest.raises(ValueError, match="differ in size"):
        tracker.track(rgb, ir[:-8])
    with pytest.raises(ValueError, match="uint8"):
        tracker.track(rgb.astype(np.float32), ir)
    result = tracker.track(*frames[1])   # still works after bad frames
    assert float(iou(result.box, gt[0])) > 0.5


def test_thermal_uint16_and_float_inputs(bus):
    """Radiometric thermal images (uint16 counts, float kelvin) track like 8-bit ones."""
    frames, gt = bus
    for convert in (lambda t: (t.astype(np.uint16) * 40 + 7000),
                    lambda t: (t.astype(np.float32) * 0.2 + 280.0)):
        tracker = build_tracker("dcf")
        tracker.initialize(None, convert(frames[0][1]), gt[0])
        for _, ir in frames[1:21]:
            result = tracker.track(None, convert(ir))
        assert float(iou(result.box, gt[2])) > 0.5

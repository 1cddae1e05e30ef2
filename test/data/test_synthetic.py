"""Synthetic RGB-T sequences: determinism, geometry, and that each challenge does what it says."""
from __future__ import annotations

import numpy as np
import pytest

from rgbt_tracking.data.synthetic import (
    SyntheticConfig,
    generate_sequence,
    iter_frames,
    save_sequence,
)

SMALL = dict(width=320, height=256, num_frames=50, seed=5)


@pytest.fixture(scope="module")
def seq():
    """The default sequence (the one `make demo` embeds)."""
    return generate_sequence()


@pytest.fixture(scope="module")
def small():
    return generate_sequence(**SMALL)


def _centres(boxes: np.ndarray) -> np.ndarray:
    return boxes[:, :2] + boxes[:, 2:] / 2


def _contrast(image: np.ndarray, box: np.ndarray, ring: int = 10, exclude=()) -> float:
    """Thermal (HxW): mean over the box minus mean over a ring around it. RGB (HxWx3):
    length of the difference of the two mean colours. The ring leaves out the
    ``exclude`` boxes (grown by 6 px for the thermal blur)."""
    img = image.astype(np.float64)
    h, w = img.shape[:2]
    x0, y0 = int(round(box[0])), int(round(box[1]))
    x1, y1 = int(round(box[0] + box[2])), int(round(box[1] + box[3]))
    inner = np.zeros((h, w), bool)
    inner[max(0, y0):y1, max(0, x0):x1] = True
    outer = np.zeros((h, w), bool)
    outer[max(0, y0 - ring):y1 + ring, max(0, x0 - ring):x1 + ring] = True
    for ex in exclude:
        ex0, ey0 = int(round(ex[0])) - 6, int(round(ex[1])) - 6
        ex1, ey1 = int(round(ex[0] + ex[2])) + 6, int(round(ex[1] + ex[3])) + 6
        outer[max(0, ey0):max(0, ey1), max(0, ex0):max(0, ex1)] = False
    diff = img[inner].mean(axis=0) - img[outer & ~inner].mean(axis=0)
    return float(np.linalg.norm(diff)) if img.ndim == 3 else float(diff)


def _interior(event, ramp: int):
    start, end = event
    return range(start + ramp + 1, end - ramp - 1)


def _normal_frames(seq, margin: int = 8):
    """Frames away from every event and from the scripted encounters."""
    n = len(seq)
    normal = np.ones(n, bool)
    for start, end in seq.events.values():
        normal[max(0, start - margin):end + margin] = False
    normal &= seq.occluded_fraction == 0
    for boxes in seq.distractors.values():
        normal &= np.hypot(*(_centres(boxes) - _centres(seq.boxes)).T) > 100
    return np.flatnonzero(normal)


# ----------------------------------------------------------------------------- determinism

def test_same_seed_gives_identical_frames(small):
    again = generate_sequence(SyntheticConfig(**SMALL))
    assert np.array_equal(small.boxes, again.boxes)
    assert small.events == again.events
    for a, b in zip(small.rgb, again.rgb):
        assert np.array_equal(a, b)
    for a, b in zip(small.thermal, again.thermal):
        assert np.array_equal(a, b)


def test_iter_frames_streams_the_same_frames(small):
    count = 0
    for index, rgb, thermal, box in iter_frames(SyntheticConfig(**SMALL)):
        assert np.array_equal(rgb, small.rgb[index])
        assert np.array_equal(thermal, small.thermal[index])
        assert box == tuple(float(v) for v in small.boxes[index])
        count += 1
    assert count == len(small)


def test_different_seed_differs(small):
    other = generate_sequence(**dict(SMALL, seed=6))
    assert not np.array_equal(small.rgb[0], other.rgb[0])
    assert not np.array_equal(small.thermal[0], other.thermal[0])
    assert not np.allclose(small.boxes, other.boxes)


# ----------------------------------------------------------------------------- geometry

def test_shapes_and_dtypes(seq):
    cfg = seq.config
    n = cfg.num_frames
    assert len(seq) == len(seq.rgb) == len(seq.thermal) == n == 300
    for rgb, thermal in zip(seq.rgb[::37], seq.thermal[::37]):
        assert rgb.shape == (512, 640, 3) and rgb.dtype == np.uint8
        assert thermal.shape == (512, 640) and thermal.dtype == np.uint8
    assert seq.boxes.shape == (n, 4) and seq.boxes.dtype == np.float64
    assert seq.stamps.shape == (n,) and seq.stamps.dtype == np.float64
    assert np.allclose(seq.stamps, np.arange(n) / 30.0)
    assert seq.occluded_fraction.shape == (n,)
    assert set(seq.distractors) == {"rgb_lookalike", "thermal_lookalike"}
    assert all(d.shape == (n, 4) for d in seq.distractors.values())


def test_boxes_stay_inside_the_image(seq):
    x, y, w, h = seq.boxes.T
    assert np.all(x >= 0) and np.all(y >= 0)
    assert np.all(x + w <= 640) and np.all(y + h <= 512)
    assert np.all(w == 48) and np.all(h == 32)
    # The target moves (2.6 - 5.4 px per frame by design) and changes speed.
    speed = np.hypot(*np.diff(_centres(seq.boxes), axis=0).T)
    assert 2.0 < speed.min() and speed.max() < 6.0
    assert speed.max() - speed.min() > 1.5


def test_events_are_separate_stretches_of_the_right_length(seq):
    events = seq.events
    assert set(events) == {"dark", "thermal_crossover", "occlusion"}
    for name in ("dark", "thermal_crossover"):
        start, end = events[name]
        assert 0.10 * 300 <= end - start <= 0.15 * 300, name
    start, end = events["occlusion"]
    assert 5 <= end - start <= 8
    spans = sorted(events.values())
    for (a0, a1), (b0, b1) in zip(spans, spans[1:]):
        assert a1 <= b0, f"{spans} overlap"


# ----------------------------------------------------------------------------- challenges

def test_dark_stretch_is_dark_in_rgb_but_not_in_thermal(seq):
    normal = _normal_frames(seq)
    dark = list(_interior(seq.events["dark"], seq.config.transition_frames))
    bright = np.mean([seq.rgb[i].mean() for i in normal[::10]])
    dim = np.mean([seq.rgb[i].mean() for i in dark])
    assert dim < 0.2 * bright
    # The target's RGB appearance is (almost) gone; its thermal contrast is unchanged.
    lookalike = seq.distractors["rgb_lookalike"]   # self-lit, it stays bright: not ring
    rgb_normal = np.median([_contrast(seq.rgb[i], seq.boxes[i]) for i in normal])
    rgb_dark = np.median([_contrast(seq.rgb[i], seq.boxes[i], exclude=[lookalike[i]])
                          for i in dark])
    assert rgb_dark < 0.15 * rgb_normal
    t_normal = np.median([_contrast(seq.thermal[i], seq.boxes[i]) for i in normal])
    t_dark = np.median([_contrast(seq.thermal[i], seq.boxes[i]) for i in dark])
    assert t_normal > 40 and t_dark > 0.8 * t_normal


def test_thermal_crossover_removes_the_target_from_thermal_only(seq):
    normal = _normal_frames(seq)
    lookalike = seq.distractors["thermal_lookalike"]
    frames = list(_interior(seq.events["thermal_crossover"], seq.config.transition_frames))
    t_normal = np.median([_contrast(seq.thermal[i], seq.boxes[i]) for i in normal])
    t_cross = np.median([abs(_contrast(seq.thermal[i], seq.boxes[i], exclude=[lookalike[i]]))
                         for i in frames])
    assert t_cross < 0.1 * t_normal
    rgb_normal = np.median([_contrast(seq.rgb[i], seq.boxes[i]) for i in normal])
    rgb_cross = np.median([_contrast(seq.rgb[i], seq.boxes[i], exclude=[lookalike[i]])
                           for i in frames])
    assert rgb_cross > 0.7 * rgb_normal


def test_scripted_lookalikes_pass_the_target_inside_their_stretch(seq):
    target = _centres(seq.boxes)
    limit = seq.config.clutter_min_distance
    for name, event in (("rgb_lookalike", "dark"), ("thermal_lookalike", "thermal_crossover")):
        start, end = seq.events[event]
        dist = np.hypot(*(_centres(seq.distractors[name]) - target).T)
        closest = int(dist.argmin())
        assert start <= closest < end, name
        assert dist[closest] < 70, name
        away = np.ones(len(seq), bool)
        away[start - 10:end + 10] = False
        assert dist[away].min() >= limit, name


def test_occluder_covers_the_target(seq):
    start, end = seq.events["occlusion"]
    covered = seq.occluded_fraction[start:end]
    assert np.all(covered >= 0.9)
    assert seq.occluded_fraction[start - 1] < 0.9 and seq.occluded_fraction[end] < 0.9
    touched = np.flatnonzero(seq.occluded_fraction > 0)
    assert touched.max() - touched.min() + 1 == len(touched), "occluded more than once"
    assert touched.min() > start - 30 and touched.max() < end + 30
    normal = _normal_frames(seq)
    target_heat = np.median([seq.thermal[i][_box_slice(seq.boxes[i])].mean() for i in normal])
    for i in range(start, end):
        box = _box_slice(seq.boxes[i])
        rgb = seq.rgb[i][box].astype(int)
        red = (rgb[..., 0] > 120) & (rgb[..., 0] > 2 * rgb[..., 1])
        assert red.mean() < 0.1, f"frame {i}: target colour visible under the occluder"
        assert seq.thermal[i][box].mean() < target_heat - 40, f"frame {i}: target heat visible"


def _box_slice(box: np.ndarray):
    x, y, w, h = (int(round(v)) for v in box)
    return slice(y, y + h), slice(x, x + w)


# ----------------------------------------------------------------------------- configuration

def test_config_from_dict_and_errors():
    cfg = SyntheticConfig.from_dict({"seed": 3, "target_size": [40, 24], "dark_range": [0.1, 0.2]})
    assert cfg.seed == 3 and cfg.target_size == (40, 24) and cfg.dark_range == (0.1, 0.2)
    assert SyntheticConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError, match="'nosie'"):
        SyntheticConfig.from_dict({"nosie": 1.0})
    with pytest.raises(ValueError, match="dark_gain"):
        SyntheticConfig(dark_gain=0.0)
    with pytest.raises(ValueError, match="overlaps"):
        SyntheticConfig(dark_range=(0.3, 0.4), crossover_range=(0.35, 0.45))
    with pytest.raises(ValueError, match="width"):
        SyntheticConfig(width="wide")
    with pytest.raises(ValueError, match="'colour'"):
        generate_sequence(colour="red")


# ----------------------------------------------------------------------------- saving

def test_save_sequence_writes_the_benchmark_layout(small, tmp_path):
    import cv2

    folder = tmp_path / "synthetic"
    save_sequence(small, folder)
    n = len(small)
    visible = sorted((folder / "visible").glob("*.jpg"))
    infrared = sorted((folder / "infrared").glob("*.jpg"))
    assert [p.name for p in visible] == [f"{i:06d}.jpg" for i in range(n)]
    assert [p.name for p in infrared] == [p.name for p in visible]
    first = cv2.imread(str(visible[0]), cv2.IMREAD_UNCHANGED)
    assert first.shape == small.rgb[0].shape
    # Colour order: the file is BGR, so reading it back and swapping gives our RGB.
    assert np.abs(cv2.cvtColor(first, cv2.COLOR_BGR2RGB).astype(int)
                  - small.rgb[0].astype(int)).mean() < 4
    ir = cv2.imread(str(infrared[0]), cv2.IMREAD_UNCHANGED)
    assert ir.shape == small.thermal[0].shape
    for name in ("visible.txt", "infrared.txt"):
        boxes = np.loadtxt(folder / name, delimiter=",")
        assert boxes.shape == (n, 4)
        assert np.allclose(boxes, small.boxes, atol=0.006)


def test_save_sequence_refuses_to_overwrite(small, tmp_path):
    folder = tmp_path / "seq"
    save_sequence(small, folder)
    with pytest.raises(FileExistsError, match=str(folder)):
        save_sequence(small, folder)
    stale = folder / "visible" / "999999.jpg"
    stale.write_bytes(b"old")
    notes = folder / "notes.txt"
    notes.write_text("keep me")
    save_sequence(small, folder, overwrite=True)
    assert not stale.exists()
    assert notes.read_text() == "keep me"
    assert len(list((folder / "visible").glob("*.jpg"))) == len(small)

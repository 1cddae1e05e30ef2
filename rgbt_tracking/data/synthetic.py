"""Procedural RGB-thermal sequences with exact ground truth, deterministic from a seed.

A UAV looks down on an evening scene: textured ground, roads, buildings with cold roofs
and warm vents, trees, a pond, warm utility boxes. A warm red car with a white stripe (the
target, always seen from above facing +x, 48x32 px by default) drives along its road on a
smooth closed path, slowing down and speeding up (+-35 %, slowest at the occlusion); the
camera pans smoothly and jitters, the same way in both modalities, so the two images of a
pair are pixel-aligned. Thermal is blurred (less detail than RGB), both have sensor noise,
thermal has fixed-pattern column noise and vignetting.
Clutter objects are built so that each single modality has distractors the other one
disambiguates:

* RGB lookalikes: the target's shape and colours, but cold (parked) in thermal;
* thermal lookalikes: the target's heat signature (a warm vehicle of the same size), but a
  different vehicle (olive truck with a white cab) in RGB;
* small warm blobs (people, animals): warm in thermal, small and dark in RGB.

Three challenge stretches, each about 10-15 % of the sequence, do not overlap:

``"dark"``
    the RGB camera goes dark (brightness x ``dark_gain``, strong noise) while thermal stays
    good. An RGB lookalike that carries its own lights (it stays visible in RGB) crosses
    the target's road just behind the target, its box passing ``encounter_gap`` pixels
    from the target's, and parks away from the target's path: an RGB-only tracker, which
    has lost the dark target and lags behind it, follows the lookalike.
``"thermal_crossover"``
    the target takes the temperature of its surroundings (its thermal contrast falls to
    ``crossover_contrast`` of normal) while RGB is good; a thermal lookalike crosses
    behind the target the same way: a thermal-only tracker follows it.
``"occlusion"``
    a row of tree crowns (world-fixed, visible in both modalities) hides the target. The
    event lists the frames where at least 90 % of the target's box is covered
    (``occlusion_frames`` of them by construction); the frames before and after are
    partially occluded (see :attr:`SyntheticSequence.occluded_fraction`). The target
    moves on meanwhile (about its own length plus ``occlusion_frames`` times its speed),
    so a tracker that holds its box while the target is hidden must search around it
    when the target reappears.

Random clutter keeps at least ``clutter_min_distance`` pixels (centre to centre) from the
target in every frame, and the two scripted lookalikes do so outside their encounter, so
the only hard moments are the scripted ones. The ground-truth box is the target's full
extent, also while it is occluded (as the benchmarks annotate it).

Everything is drawn with OpenCV on precomputed textures; 300 frames of 640x512 take a few
seconds on one core. :func:`generate_sequence` keeps all frames in memory,
:func:`iter_frames` streams them; both produce identical frames for one configuration.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple

import cv2
import numpy as np

from rgbt_tracking.core.box import BoxTuple

# Supersampling factor for drawing sprites (anti-aliased edges after INTER_AREA).
_SS = 4
# Occlusion event: frames where at least this fraction of the target box is covered.
_OCCLUDED_THRESHOLD = 0.9
_NOISE_TILES = 4
_NOISE_MARGIN = 32


# --------------------------------------------------------------------------------------
# Configuration and result
# --------------------------------------------------------------------------------------

_INT_FIELDS = ("width", "height", "num_frames", "seed", "num_rgb_lookalikes",
               "num_thermal_lookalikes", "num_warm_blobs", "occlusion_frames",
               "transition_frames")
_PAIR_FIELDS = ("target_size", "camera_pan", "dark_range", "crossover_range")


@dataclass
class SyntheticConfig:
    """Parameters of a synthetic sequence. Pixels and frames unless stated otherwise.

    Attributes:
        width, height: image size in pixels.
        num_frames: sequence length (>= 50).
        fps: frame rate; frame ``i`` is stamped ``i / fps`` seconds.
        seed: everything random (scene, paths, noise) derives from it.
        target_size: (w, h) of the target vehicle in pixels (integers).
        target_speed: mean target speed in pixels per frame; it varies by +-35 % along the
            sequence and is lowest at the occlusion.
        num_rgb_lookalikes: random clutter that looks like the target in RGB, cold in
            thermal (the scripted lookalike of the dark stretch comes on top).
        num_thermal_lookalikes: random clutter as warm as the target, different in RGB (the
            scripted lookalike of the crossover stretch comes on top).
        num_warm_blobs: small warm objects (people, animals).
        clutter_min_distance: random clutter (always) and the scripted lookalikes (outside
            their encounter) keep at least this centre distance to the target, pixels.
        camera_pan: amplitude (x, y) of the smooth camera pan, pixels.
        camera_jitter: standard deviation of the per-frame camera jitter, pixels.
        rgb_noise: RGB sensor noise (standard deviation, 0-255 scale).
        thermal_noise: thermal sensor noise (standard deviation, 0-255 scale).
        thermal_blur: Gaussian blur sigma of the thermal optics, pixels (thermal has less
            detail than RGB).
        dark_range: (start, end) of the dark stretch as fractions of ``num_frames``.
        dark_gain: RGB brightness factor inside the dark stretch.
        dark_noise: RGB noise standard deviation inside the dark stretch (0-255 scale).
        dark_lookalike_gain: brightness of the self-lit RGB lookalike in the dark stretch.
        crossover_range: (start, end) of the thermal crossover as fractions of
            ``num_frames``.
        crossover_contrast: target thermal contrast during the crossover, relative to
            normal (0 = target exactly at background temperature).
        occlusion_center: frame of the occlusion's middle, as a fraction of ``num_frames``.
        occlusion_frames: number of frames with the target >= 90 % covered.
        encounter_gap: gap in pixels between the target's box and a scripted lookalike's
            box at their closest approach.
        encounter_speed: speed of a scripted lookalike relative to the target during the
            encounter, pixels per frame.
        transition_frames: frames of fade-in and fade-out at the edges of the dark and
            crossover stretches (inside the stretch).
    """

    width: int = 640
    height: int = 512
    num_frames: int = 300
    fps: float = 30.0
    seed: int = 0
    target_size: Tuple[int, int] = (48, 32)
    target_speed: float = 4.0
    num_rgb_lookalikes: int = 2
    num_thermal_lookalikes: int = 2
    num_warm_blobs: int = 4
    clutter_min_distance: float = 100.0
    camera_pan: Tuple[float, float] = (40.0, 30.0)
    camera_jitter: float = 0.7
    rgb_noise: float = 3.0
    thermal_noise: float = 2.0
    thermal_blur: float = 1.6
    dark_range: Tuple[float, float] = (0.12, 0.25)
    dark_gain: float = 0.06
    dark_noise: float = 22.0
    dark_lookalike_gain: float = 0.6
    crossover_range: Tuple[float, float] = (0.36, 0.49)
    crossover_contrast: float = 0.03
    occlusion_center: float = 0.62
    occlusion_frames: int = 5
    encounter_gap: float = 4.0
    encounter_speed: float = 3.5
    transition_frames: int = 4

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            try:
                if f.name in _PAIR_FIELDS:
                    items = list(value)
                    if len(items) != 2:
                        raise ValueError("needs 2 values")
                    kind = int if f.name == "target_size" else float
                    value = (kind(items[0]), kind(items[1]))
                elif f.name in _INT_FIELDS:
                    if isinstance(value, float) and not value.is_integer():
                        raise ValueError("needs an integer")
                    value = int(value)
                else:
                    value = float(value)
            except (TypeError, ValueError) as exc:
                raise ValueError(f"SyntheticConfig.{f.name}: invalid value {value!r} "
                                 f"({exc})") from exc
            setattr(self, f.name, value)
        self._validate()

    def _validate(self) -> None:
        def fail(name: str, why: str) -> None:
            raise ValueError(f"SyntheticConfig.{name}={getattr(self, name)!r}: {why}")

        tw, th = self.target_size
        if tw < 8 or th < 8:
            fail("target_size", "both sides must be >= 8 pixels")
        if self.width < 4 * tw or self.height < 4 * th:
            fail("width" if self.width < 4 * tw else "height",
                 f"the image must be at least 4x the target size {self.target_size}")
        if self.num_frames < 50:
            fail("num_frames", "must be >= 50 (three stretches of 10-15 % each)")
        if self.seed < 0:
            fail("seed", "must be >= 0")
        if not self.fps > 0:
            fail("fps", "must be > 0")
        for name in ("target_speed", "encounter_speed"):
            if not getattr(self, name) > 0:
                fail(name, "must be > 0")
        for name in ("num_rgb_lookalikes", "num_thermal_lookalikes", "num_warm_blobs",
                     "transition_frames"):
            if getattr(self, name) < 0:
                fail(name, "must be >= 0")
        for name in ("clutter_min_distance", "camera_jitter", "rgb_noise", "thermal_noise",
                     "thermal_blur", "dark_noise", "encounter_gap", "crossover_contrast"):
            if getattr(self, name) < 0:
                fail(name, "must be >= 0")
        if self.camera_pan[0] < 0 or self.camera_pan[1] < 0:
            fail("camera_pan", "amplitudes must be >= 0")
        for name in ("dark_gain", "dark_lookalike_gain"):
            if not 0 < getattr(self, name) <= 1:
                fail(name, "must be in (0, 1]")
        if self.crossover_contrast > 1:
            fail("crossover_contrast", "must be in [0, 1]")
        if self.occlusion_frames < 1:
            fail("occlusion_frames", "must be >= 1")
        for name in ("dark_range", "crossover_range"):
            a, b = getattr(self, name)
            if not 0.0 <= a < b <= 1.0:
                fail(name, "must be (start, end) fractions with 0 <= start < end <= 1")
        if not 0.0 < self.occlusion_center < 1.0:
            fail("occlusion_center", "must be a fraction in (0, 1)")
        (d0, d1), (c0, c1) = self.dark_range, self.crossover_range
        if d0 < c1 and c0 < d1:
            fail("crossover_range", f"overlaps dark_range {self.dark_range}")
        half = (self.occlusion_frames / 2.0 + 2.0) / self.num_frames
        for name, (a, b) in (("dark_range", self.dark_range),
                             ("crossover_range", self.crossover_range)):
            if a - half < self.occlusion_center < b + half:
                fail("occlusion_center", f"falls inside (or next to) {name} {(a, b)}")

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> "SyntheticConfig":
        """Build a configuration from a mapping (e.g. parsed YAML); missing keys keep
        their defaults.

        Raises:
            ValueError: a key that is not a field (the message names it), or a bad value.
        """
        _check_keys(cls, values)
        return cls(**dict(values))

    def replace(self, **overrides: Any) -> "SyntheticConfig":
        """A copy with some fields changed; unknown names raise ValueError."""
        _check_keys(type(self), overrides)
        return dataclasses.replace(self, **overrides)

    def to_dict(self) -> Dict[str, Any]:
        """Plain dict (tuples as lists), loadable again with :meth:`from_dict`."""
        return {k: list(v) if isinstance(v, tuple) else v
                for k, v in dataclasses.asdict(self).items()}


def _check_keys(cls: type, values: Mapping[str, Any]) -> None:
    known = {f.name for f in dataclasses.fields(cls)}
    for key in values:
        if key not in known:
            raise ValueError(f"unknown {cls.__name__} key {key!r}; known keys: "
                             f"{', '.join(sorted(known))}")


@dataclass
class SyntheticSequence:
    """A generated sequence.

    Attributes:
        rgb: N images, each HxWx3 uint8 in RGB order.
        thermal: N images, each HxW uint8 (brighter = warmer), pixel-aligned with ``rgb``.
        boxes: (N, 4) float64 ground truth (x, y, w, h), top-left corner, pixels; the full
            target extent, also under occlusion.
        stamps: (N,) float64 seconds, ``i / fps``.
        events: challenge name -> (start, end) frame range, end exclusive: ``"dark"``,
            ``"thermal_crossover"``, ``"occlusion"``.
        occluded_fraction: (N,) float64 in [0, 1], fraction of the target box hidden by
            the occluder.
        distractors: name -> (N, 4) float64 boxes (x, y, w, h) of the two scripted
            lookalikes, ``"rgb_lookalike"`` (dark stretch) and ``"thermal_lookalike"``
            (crossover); they may lie partly or wholly outside the image.
        config: the configuration that produced it.
    """

    rgb: List[np.ndarray]
    thermal: List[np.ndarray]
    boxes: np.ndarray
    stamps: np.ndarray
    events: Dict[str, Tuple[int, int]]
    occluded_fraction: np.ndarray
    distractors: Dict[str, np.ndarray]
    config: SyntheticConfig

    def __len__(self) -> int:
        return len(self.rgb)


# --------------------------------------------------------------------------------------
# Public entry points
# --------------------------------------------------------------------------------------

def generate_sequence(config: Optional[SyntheticConfig] = None,
                      **overrides: Any) -> SyntheticSequence:
    """Generate a whole sequence in memory.

    Args:
        config: the configuration; defaults to ``SyntheticConfig()``.
        **overrides: field values replacing those of ``config`` (unknown names raise
            ValueError).

    Returns:
        The sequence; same configuration -> bit-identical frames.
    """
    plan = _make_plan(_resolve(config, overrides))
    rgb: List[np.ndarray] = []
    thermal: List[np.ndarray] = []
    for index in range(plan.config.num_frames):
        frame_rgb, frame_thermal = _render(plan, index)
        rgb.append(frame_rgb)
        thermal.append(frame_thermal)
    return SyntheticSequence(
        rgb=rgb, thermal=thermal, boxes=plan.boxes.copy(), stamps=plan.stamps.copy(),
        events=dict(plan.events), occluded_fraction=plan.occluded_fraction.copy(),
        distractors={k: v.copy() for k, v in plan.distractors.items()}, config=plan.config)


def iter_frames(config: Optional[SyntheticConfig] = None, **overrides: Any
                ) -> Iterator[Tuple[int, np.ndarray, np.ndarray, BoxTuple]]:
    """Stream a sequence frame by frame (same frames as :func:`generate_sequence`).

    Yields:
        (index, rgb HxWx3 uint8 RGB order, thermal HxW uint8, box (x, y, w, h) floats).
    """
    plan = _make_plan(_resolve(config, overrides))
    for index in range(plan.config.num_frames):
        frame_rgb, frame_thermal = _render(plan, index)
        x, y, w, h = (float(v) for v in plan.boxes[index])
        yield index, frame_rgb, frame_thermal, (x, y, w, h)


def save_sequence(seq: SyntheticSequence, folder: str | Path, overwrite: bool = False,
                  jpeg_quality: int = 95) -> Path:
    """Write a sequence in the RGBT234 layout.

    ``folder/visible/000000.jpg ...`` (RGB), ``folder/infrared/000000.jpg ...`` (8-bit
    grey), and ``folder/visible.txt`` / ``folder/infrared.txt``: one ``x,y,w,h`` line per
    frame (top-left corner, pixels; identical files since the pair is aligned).

    Args:
        seq: the sequence.
        folder: destination; created if needed.
        overwrite: allow writing into a non-empty folder. Only the files this function
            writes (the two text files and ``*.jpg`` in ``visible/`` and ``infrared/``)
            are removed first; nothing else in the folder is touched.
        jpeg_quality: 0-100.

    Returns:
        The folder as a Path.

    Raises:
        FileExistsError: the folder exists, is not empty, and ``overwrite`` is False.
        NotADirectoryError: the path exists and is a file.
    """
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise NotADirectoryError(f"cannot save a sequence to {folder}: it is a file")
    if folder.is_dir() and any(folder.iterdir()):
        if not overwrite:
            raise FileExistsError(f"refusing to write into non-empty folder {folder}; "
                                  f"pass overwrite=True to replace its sequence files")
        for sub in ("visible", "infrared"):
            if (folder / sub).is_dir():
                for old in (folder / sub).glob("*.jpg"):
                    old.unlink()
        for name in ("visible.txt", "infrared.txt"):
            if (folder / name).is_file():
                (folder / name).unlink()
    (folder / "visible").mkdir(parents=True, exist_ok=True)
    (folder / "infrared").mkdir(parents=True, exist_ok=True)
    params = [int(cv2.IMWRITE_JPEG_QUALITY), int(jpeg_quality)]
    for index, (rgb, thermal) in enumerate(zip(seq.rgb, seq.thermal)):
        name = f"{index:06d}.jpg"
        if not cv2.imwrite(str(folder / "visible" / name),
                           cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), params):
            raise OSError(f"could not write {folder / 'visible' / name}")
        if not cv2.imwrite(str(folder / "infrared" / name), thermal, params):
            raise OSError(f"could not write {folder / 'infrared' / name}")
    lines = "".join(",".join(_format_number(v) for v in box) + "\n" for box in seq.boxes)
    (folder / "visible.txt").write_text(lines)
    (folder / "infrared.txt").write_text(lines)
    return folder


def _format_number(value: float) -> str:
    text = f"{float(value):.2f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _resolve(config: Optional[SyntheticConfig], overrides: Mapping[str, Any]
             ) -> SyntheticConfig:
    if config is None:
        config = SyntheticConfig()
    elif not isinstance(config, SyntheticConfig):
        raise ValueError(f"config must be a SyntheticConfig or None, got "
                         f"{type(config).__name__}")
    return config.replace(**overrides) if overrides else config


# --------------------------------------------------------------------------------------
# Sprites
# --------------------------------------------------------------------------------------

@dataclass
class _Sprite:
    """A drawable object. Arrays cover the body plus ``pad`` pixels on each side.

    rgba: (sh, sw, 4) float32, premultiplied RGB (0-255) and alpha (0-1).
    thermal: (sh, sw, 2) float32, premultiplied temperature (0-255 scale) and alpha.
    size: (w, h) of the body in pixels.
    """

    rgba: np.ndarray
    thermal: np.ndarray
    pad: int
    size: Tuple[int, int]


class _Painter:
    """Supersampled canvases for one sprite; coordinates in body pixels (floats)."""

    def __init__(self, w: int, h: int, pad: int) -> None:
        self.w, self.h, self.pad = w, h, pad
        shape = ((h + 2 * pad) * _SS, (w + 2 * pad) * _SS)
        self.alpha = np.zeros(shape, np.float32)
        self.rgb = np.zeros(shape + (3,), np.float32)
        self.temp = np.zeros(shape, np.float32)

    def _pt(self, x: float, y: float) -> Tuple[int, int]:
        return (int(round((x + self.pad) * _SS)), int(round((y + self.pad) * _SS)))

    def rect(self, x0: float, y0: float, x1: float, y1: float,
             rgb: Optional[Sequence[float]], temp: Optional[float]) -> None:
        """Fill [x0, x1) x [y0, y1) (body pixels) in the canvases whose value is given."""
        p0 = self._pt(x0, y0)
        p1 = self._pt(x1, y1)
        p1 = (p1[0] - 1, p1[1] - 1)
        if rgb is not None:
            cv2.rectangle(self.rgb, p0, p1, tuple(float(c) for c in rgb), -1)
        if temp is not None:
            cv2.rectangle(self.temp, p0, p1, (float(temp),), -1)

    def rounded(self, x0: float, y0: float, x1: float, y1: float, radius: float,
                rgb: Optional[Sequence[float]], temp: Optional[float],
                alpha: bool = False) -> None:
        """Rounded rectangle [x0, x1) x [y0, y1); ``alpha=True`` also marks the body."""
        r = max(1, int(round(radius * _SS)))
        a0 = self._pt(x0, y0)
        a1 = self._pt(x1, y1)
        a1 = (a1[0] - 1, a1[1] - 1)
        targets = []
        if alpha:
            targets.append((self.alpha, (1.0,)))
        if rgb is not None:
            targets.append((self.rgb, tuple(float(c) for c in rgb)))
        if temp is not None:
            targets.append((self.temp, (float(temp),)))
        for img, colour in targets:
            cv2.rectangle(img, (a0[0] + r, a0[1]), (a1[0] - r, a1[1]), colour, -1)
            cv2.rectangle(img, (a0[0], a0[1] + r), (a1[0], a1[1] - r), colour, -1)
            for cx, cy in ((a0[0] + r, a0[1] + r), (a1[0] - r, a0[1] + r),
                           (a0[0] + r, a1[1] - r), (a1[0] - r, a1[1] - r)):
                cv2.circle(img, (cx, cy), r, colour, -1)

    def circle(self, x: float, y: float, radius: float, rgb: Optional[Sequence[float]],
               temp: Optional[float], alpha: bool = False) -> None:
        centre = self._pt(x, y)
        r = max(1, int(round(radius * _SS)))
        if alpha:
            cv2.circle(self.alpha, centre, r, (1.0,), -1)
        if rgb is not None:
            cv2.circle(self.rgb, centre, r, tuple(float(c) for c in rgb), -1)
        if temp is not None:
            cv2.circle(self.temp, centre, r, (float(temp),), -1)

    def finish(self, thermal_blur: float) -> _Sprite:
        size = (self.w + 2 * self.pad, self.h + 2 * self.pad)
        alpha = cv2.resize(self.alpha, size, interpolation=cv2.INTER_AREA)
        # Colours and temperatures are drawn inside the body only, so averaging the
        # supersampled canvas gives premultiplied values directly.
        mask = (self.alpha > 0.5).astype(np.float32)
        rgb = cv2.resize(self.rgb * mask[..., None], size, interpolation=cv2.INTER_AREA)
        temp = cv2.resize(self.temp * mask, size, interpolation=cv2.INTER_AREA)
        alpha_t = alpha.copy()
        if thermal_blur > 0:
            temp = cv2.GaussianBlur(temp, (0, 0), thermal_blur)
            alpha_t = cv2.GaussianBlur(alpha_t, (0, 0), thermal_blur)
        rgba = np.dstack([rgb, alpha]).astype(np.float32)
        thermal = np.dstack([temp, alpha_t]).astype(np.float32)
        return _Sprite(rgba=rgba, thermal=thermal, pad=self.pad, size=(self.w, self.h))


_GLASS = (34, 42, 58)
_TARGET_RGB = (196, 44, 38)
_STRIPE = (236, 234, 222)


def _sprite_pad(thermal_blur: float) -> int:
    return int(math.ceil(3.0 * thermal_blur)) + 2


def _car_sprite(w: int, h: int, thermal: str, thermal_blur: float) -> _Sprite:
    """Top view of a car facing +x, body exactly w x h. ``thermal``: "warm" or "cold"."""
    p = _Painter(w, h, _sprite_pad(thermal_blur))
    body = np.array(_TARGET_RGB, np.float64)
    warm = thermal == "warm"
    t_body, t_cabin, t_glass, t_hood = (176, 160, 142, 226) if warm else (74, 73, 70, 76)
    radius = 0.22 * min(w, h)
    p.rounded(0, 0, w, h, radius, body * 0.62, t_body, alpha=True)
    p.rounded(1.5, 1.5, w - 1.5, h - 1.5, radius - 1, body, None)
    p.rect(0.76 * w, 0.08 * h, 0.98 * w, 0.92 * h, None, t_hood)
    p.rect(0.14 * w, 0.14 * h, 0.76 * w, 0.86 * h, None, t_cabin)
    p.rect(0.26 * w, 0.16 * h, 0.60 * w, 0.84 * h, body * 1.12, None)      # roof
    p.rect(0.60 * w, 0.12 * h, 0.76 * w, 0.88 * h, _GLASS, t_glass)        # windshield
    p.rect(0.14 * w, 0.16 * h, 0.26 * w, 0.84 * h, _GLASS, t_glass)        # rear window
    for x0, x1 in ((0.02 * w, 0.14 * w), (0.26 * w, 0.60 * w), (0.76 * w, 0.97 * w)):
        p.rect(x0, 0.42 * h, x1, 0.58 * h, _STRIPE, None)                 # racing stripe
    for y in (0.2 * h, 0.8 * h):
        p.circle(0.94 * w, y, 0.07 * h, (250, 246, 205), None)            # headlights
        p.rect(0.01 * w, y - 0.06 * h, 0.05 * w, y + 0.06 * h, (120, 14, 14), None)
    if warm:
        for x0 in (0.12 * w, 0.72 * w):
            p.rect(x0, 0.0, x0 + 0.12 * w, 0.1 * h, None, 204)             # tyres
            p.rect(x0, 0.9 * h, x0 + 0.12 * w, h, None, 204)
        p.rect(0.0, 0.68 * h, 0.07 * w, 0.84 * h, None, 214)               # exhaust
    return p.finish(thermal_blur)


def _truck_sprite(w: int, h: int, thermal_blur: float) -> _Sprite:
    """A thermal lookalike: same size and heat pattern as the target, olive truck in RGB."""
    p = _Painter(w, h, _sprite_pad(thermal_blur))
    radius = 0.12 * min(w, h)
    p.rounded(0, 0, w, h, radius, (60, 68, 44), 176, alpha=True)
    p.rect(1.5, 1.5, 0.68 * w, h - 1.5, (80, 92, 58), None)                # cargo bed
    for i in range(1, 6):
        x = i * 0.68 * w / 6
        p.rect(x - 0.6, 1.5, x + 0.6, h - 1.5, (52, 60, 38), None)          # slats
    p.rect(0.72 * w, 1.5, w - 1.5, h - 1.5, (204, 204, 194), None)          # white cab
    p.rect(0.86 * w, 0.14 * h, 0.94 * w, 0.86 * h, _GLASS, None)
    # Heat: identical layout to the warm car.
    p.rect(0.76 * w, 0.08 * h, 0.98 * w, 0.92 * h, None, 226)
    p.rect(0.14 * w, 0.14 * h, 0.76 * w, 0.86 * h, None, 160)
    p.rect(0.60 * w, 0.12 * h, 0.76 * w, 0.88 * h, None, 142)
    p.rect(0.14 * w, 0.16 * h, 0.26 * w, 0.84 * h, None, 142)
    for x0 in (0.12 * w, 0.72 * w):
        p.rect(x0, 0.0, x0 + 0.12 * w, 0.1 * h, None, 204)
        p.rect(x0, 0.9 * h, x0 + 0.12 * w, h, None, 204)
    p.rect(0.0, 0.68 * h, 0.07 * w, 0.84 * h, None, 214)
    return p.finish(thermal_blur)


def _person_sprite(size: int, rng: np.random.Generator, thermal_blur: float) -> _Sprite:
    p = _Painter(size, size, _sprite_pad(thermal_blur))
    jacket = rng.uniform(40, 90, 3)
    c = size / 2.0
    p.circle(c, c, size / 2.0, jacket, 186, alpha=True)
    p.circle(c, c, size / 4.5, (186, 156, 128), 206)
    return p.finish(thermal_blur)


def _canopy_sprite(half_along: float, half_across: float, direction: np.ndarray,
                   rng: np.random.Generator, thermal_blur: float
                   ) -> Tuple[_Sprite, np.ndarray]:
    """A row of tree crowns: a wavy ellipse with semi-axes ``half_along`` (along the unit
    vector ``direction``) and ``half_across``, pixels.

    Returns:
        The sprite and its coverage mask (float32 alpha in [0, 1], same grid as the
        sprite) used for the occlusion bookkeeping.
    """
    extent = int(math.ceil(max(half_along, half_across) * 1.12)) + 1
    size = 2 * extent
    p = _Painter(size, size, _sprite_pad(thermal_blur))
    phases = rng.uniform(0, 2 * math.pi, 2)
    theta = np.linspace(0, 2 * math.pi, 120, endpoint=False)
    wobble = 1 + 0.06 * np.sin(5 * theta + phases[0]) + 0.03 * np.sin(11 * theta + phases[1])
    along = half_along * np.cos(theta) * wobble
    across = half_across * np.sin(theta) * wobble
    ux, uy = float(direction[0]), float(direction[1])
    pts = np.stack([extent + along * ux - across * uy, extent + along * uy + across * ux], axis=1)
    pts_ss = np.round((pts + p.pad) * _SS).astype(np.int32)
    cv2.fillPoly(p.alpha, [pts_ss], (1.0,))
    cv2.fillPoly(p.rgb, [pts_ss], (44.0, 78.0, 38.0))
    cv2.fillPoly(p.temp, [pts_ss], (66.0,))
    # Leaf clumps, lighter towards the upper left, kept inside the outline.
    small = min(half_along, half_across)
    for _ in range(40):
        ang = rng.uniform(0, 2 * math.pi)
        rad = math.sqrt(rng.uniform(0, 0.6))
        a_off, c_off = half_along * rad * math.cos(ang), half_across * rad * math.sin(ang)
        cx, cy = extent + a_off * ux - c_off * uy, extent + a_off * uy + c_off * ux
        tilt = (cx + cy - 2 * extent) / max(half_along, half_across)
        shade = 0.8 + 0.4 * rng.uniform() - 0.2 * tilt
        p.circle(cx, cy, small * rng.uniform(0.25, 0.4),
                 np.clip(np.array([44, 80, 38]) * shade, 0, 255), 66 + rng.uniform(-3, 3))
    sprite = p.finish(thermal_blur)
    mask = sprite.rgba[..., 3].copy()
    return sprite, mask


# --------------------------------------------------------------------------------------
# Scene texture (world coordinates)
# --------------------------------------------------------------------------------------

def _fractal(rng: np.random.Generator, h: int, w: int,
             octaves: Sequence[Tuple[int, float]]) -> np.ndarray:
    """Smooth noise, zero mean, unit std: sum of upsampled random grids (cell, weight)."""
    out = np.zeros((h, w), np.float32)
    for cell, weight in octaves:
        gh, gw = h // cell + 3, w // cell + 3
        grid = rng.standard_normal((gh, gw)).astype(np.float32)
        big = cv2.resize(grid, (gw * cell, gh * cell), interpolation=cv2.INTER_CUBIC)
        out += weight * big[cell:cell + h, cell:cell + w]
    out -= out.mean()
    out /= max(float(out.std()), 1e-6)
    return out


def _make_world(rng: np.random.Generator, ww: int, wh: int, track: np.ndarray,
                road_width: int) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Ground texture with roads, buildings, trees, a pond and warm structures.

    Args:
        track: (K, 2) world points the target drives along (drawn as its road).

    Returns:
        rgb (wh, ww, 3) float32 0-255 and thermal (wh, ww) float32 0-255, both before
        blur, and a (wh, ww) bool mask of buildings, trees and water (no parking there).
    """
    low = _fractal(rng, wh, ww, [(128, 1.0), (64, 0.6)])
    mid = _fractal(rng, wh, ww, [(16, 1.0), (8, 0.5)])
    grain = rng.standard_normal((wh, ww)).astype(np.float32)
    soil = 1.0 / (1.0 + np.exp(-2.5 * low))
    grass_rgb = np.array([68, 96, 50], np.float32)
    soil_rgb = np.array([120, 104, 78], np.float32)
    rgb = grass_rgb * (1 - soil[..., None]) + soil_rgb * soil[..., None]
    rgb *= (1.0 + 0.10 * mid)[..., None]
    rgb += 5.0 * grain[..., None]
    thermal = 78.0 + 4.0 * low + 1.5 * mid + 6.0 * soil
    busy = np.zeros((wh, ww), np.uint8)   # where no building / tree / pond may go
    solid = np.zeros((wh, ww), np.uint8)  # buildings, trees, water

    def road(points: np.ndarray, width: int) -> None:
        pts = np.round(points).astype(np.int32).reshape(-1, 1, 2)
        cv2.polylines(rgb, [pts], False, (84.0, 84.0, 90.0), width)
        cv2.polylines(thermal, [pts], False, (98.0,), width)
        cv2.polylines(busy, [pts], False, (255,), width + 24)
        # Dashed centre line.
        seg = np.diff(points, axis=0)
        lengths = np.hypot(seg[:, 0], seg[:, 1])
        dist = np.concatenate([[0.0], np.cumsum(lengths)])
        for start in np.arange(0.0, dist[-1] - 12.0, 30.0):
            a = np.array([np.interp(start, dist, points[:, k]) for k in (0, 1)])
            b = np.array([np.interp(start + 12, dist, points[:, k]) for k in (0, 1)])
            cv2.line(rgb, tuple(int(v) for v in np.round(a)), tuple(int(v) for v in np.round(b)),
                     (200.0, 190.0, 140.0), 2)

    road(track, road_width)
    for axis in (0, 1):
        n = 6
        if axis == 0:
            xs = np.linspace(-40, ww + 40, n)
            ys = rng.uniform(0.15, 0.85) * wh + np.cumsum(rng.normal(0, 12, n))
        else:
            ys = np.linspace(-40, wh + 40, n)
            xs = rng.uniform(0.15, 0.85) * ww + np.cumsum(rng.normal(0, 12, n))
        road(np.stack([xs, ys], axis=1), int(road_width * 0.8))

    def free(x0: int, y0: int, x1: int, y1: int) -> bool:
        if x0 < 0 or y0 < 0 or x1 >= ww or y1 >= wh:
            return False
        return not busy[y0:y1, x0:x1].any()

    # Buildings: flat roofs, cold at night, warm vents and leaking walls.
    roofs = [(150, 72, 58), (118, 118, 124), (92, 96, 112), (162, 150, 122), (104, 84, 70)]
    for _ in range(7):
        for _try in range(40):
            bw, bh = int(rng.integers(50, 110)), int(rng.integers(40, 90))
            x0, y0 = int(rng.integers(0, ww - bw)), int(rng.integers(0, wh - bh))
            if free(x0 - 8, y0 - 8, x0 + bw + 16, y0 + bh + 16):
                break
        else:
            continue
        roof = np.array(roofs[int(rng.integers(len(roofs)))], np.float32)
        rgb[y0 + 7:y0 + bh + 7, x0 + 7:x0 + bw + 7] *= 0.55                # shadow
        cv2.rectangle(rgb, (x0, y0), (x0 + bw - 1, y0 + bh - 1),
                      tuple(float(c) for c in roof * 0.78), -1)
        cv2.rectangle(rgb, (x0 + 2, y0 + 2), (x0 + bw - 3, y0 + bh - 3),
                      tuple(float(c) for c in roof), -1)
        cv2.rectangle(thermal, (x0, y0), (x0 + bw - 1, y0 + bh - 1), (100.0,), -1)
        cv2.rectangle(thermal, (x0 + 3, y0 + 3), (x0 + bw - 4, y0 + bh - 4),
                      (float(rng.uniform(70, 78)),), -1)
        if bw > bh:
            cv2.line(rgb, (x0 + 3, y0 + bh // 2), (x0 + bw - 4, y0 + bh // 2),
                     tuple(float(c) for c in roof * 0.7), 2)
        else:
            cv2.line(rgb, (x0 + bw // 2, y0 + 3), (x0 + bw // 2, y0 + bh - 4),
                     tuple(float(c) for c in roof * 0.7), 2)
        for _v in range(int(rng.integers(1, 4))):
            vx, vy = int(rng.integers(x0 + 8, x0 + bw - 8)), int(rng.integers(y0 + 8, y0 + bh - 8))
            vr = int(rng.integers(3, 6))
            cv2.circle(rgb, (vx, vy), vr, (150.0, 150.0, 150.0), -1)
            cv2.circle(thermal, (vx, vy), vr, (float(rng.uniform(185, 225)),), -1)
        busy[max(0, y0 - 8):y0 + bh + 16, max(0, x0 - 8):x0 + bw + 16] = 255
        solid[y0:y0 + bh, x0:x0 + bw] = 255

    # A pond: dark in RGB, warmer than the ground at night.
    for _try in range(40):
        ax, ay = int(rng.integers(30, 60)), int(rng.integers(20, 40))
        cx, cy = int(rng.integers(ax + 5, ww - ax - 5)), int(rng.integers(ay + 5, wh - ay - 5))
        if free(cx - ax, cy - ay, cx + ax, cy + ay):
            cv2.ellipse(rgb, (cx, cy), (ax, ay), 0, 0, 360, (38.0, 56.0, 70.0), -1)
            cv2.ellipse(thermal, (cx, cy), (ax, ay), 0, 0, 360, (92.0,), -1)
            busy[cy - ay - 6:cy + ay + 6, cx - ax - 6:cx + ax + 6] = 255
            solid[cy - ay:cy + ay, cx - ax:cx + ax] = 255
            break

    # Trees: clusters of canopies with shadows, cool in thermal.
    for _ in range(9):
        for _try in range(30):
            cx, cy = int(rng.integers(20, ww - 20)), int(rng.integers(20, wh - 20))
            if free(cx - 30, cy - 30, cx + 30, cy + 30):
                break
        else:
            continue
        blobs = [(cx + rng.normal(0, 9), cy + rng.normal(0, 9), rng.uniform(7, 15))
                 for _b in range(int(rng.integers(2, 6)))]
        for bx, by, br in blobs:
            c = (int(bx + 5), int(by + 5))
            rgb[max(0, c[1] - int(br)):c[1] + int(br), max(0, c[0] - int(br)):c[0] + int(br)] *= 0.8
        for bx, by, br in blobs:
            shade = rng.uniform(0.8, 1.15)
            cv2.circle(rgb, (int(bx), int(by)), int(br),
                       (40.0 * shade, 72.0 * shade, 36.0 * shade), -1)
            cv2.circle(rgb, (int(bx - br / 3), int(by - br / 3)), max(2, int(br / 2)),
                       (54.0 * shade, 94.0 * shade, 46.0 * shade), -1)
            cv2.circle(thermal, (int(bx), int(by)), int(br), (float(rng.uniform(64, 70)),), -1)
        busy[max(0, cy - 30):cy + 30, max(0, cx - 30):cx + 30] = 255
        solid[max(0, cy - 24):cy + 24, max(0, cx - 24):cx + 24] = 255

    # Warm ground structures: utility boxes and a buried warm pipe.
    for _ in range(3):
        for _try in range(30):
            cx, cy = int(rng.integers(10, ww - 10)), int(rng.integers(10, wh - 10))
            if free(cx - 8, cy - 8, cx + 8, cy + 8):
                cv2.rectangle(rgb, (cx - 5, cy - 4), (cx + 5, cy + 4), (150.0, 150.0, 144.0), -1)
                cv2.rectangle(thermal, (cx - 5, cy - 4), (cx + 5, cy + 4), (172.0,), -1)
                break
    x0 = int(rng.integers(0, ww // 2))
    y0 = int(rng.integers(0, wh))
    x1, y1 = x0 + int(rng.integers(ww // 4, ww // 2)), int(rng.integers(0, wh))
    cv2.line(thermal, (x0, y0), (x1, y1), (116.0,), 4)
    cv2.line(rgb, (x0, y0), (x1, y1), (110.0, 104.0, 92.0), 1)
    return rgb, thermal, solid > 0


# --------------------------------------------------------------------------------------
# Motion planning
# --------------------------------------------------------------------------------------

@dataclass
class _Layer:
    """One drawn object: sprite and per-frame body centre in image coordinates."""

    sprite: _Sprite
    centres: np.ndarray                       # (N, 2) float64
    lit: bool = False                         # keeps ``dark_lookalike_gain`` when dark
    thermal_gain: Optional[np.ndarray] = None  # (N,) contrast factor, None = 1


@dataclass
class _Plan:
    config: SyntheticConfig
    world_rgb: np.ndarray        # (wh, ww, 3) uint8
    world_thermal: np.ndarray    # (wh, ww) float32
    origins: np.ndarray          # (N, 2) world position of the image's top-left pixel
    layers: List[_Layer]
    boxes: np.ndarray
    stamps: np.ndarray
    events: Dict[str, Tuple[int, int]]
    occluded_fraction: np.ndarray
    distractors: Dict[str, np.ndarray]
    rgb_gain: np.ndarray         # (N,)
    rgb_sigma: np.ndarray        # (N,)
    lit_gain: np.ndarray         # (N,)
    thermal_fixed: np.ndarray    # (H, W) float32 fixed-pattern offsets
    rgb_noise: np.ndarray        # (tiles, H + m, W + m, 3) float32 unit noise
    thermal_noise: np.ndarray    # (tiles, H + m, W + m) float32 unit noise


def _frame_range(fractions: Tuple[float, float], n: int) -> Tuple[int, int]:
    start = int(round(fractions[0] * n))
    end = max(start + 1, int(round(fractions[1] * n)))
    return start, min(end, n)


def _stretch_profile(n: int, span: Tuple[int, int], ramp: int) -> np.ndarray:
    """(n,) in [0, 1]: 1 inside ``span`` with linear ramps of ``ramp`` frames inside it."""
    t = np.arange(n, dtype=np.float64)
    start, end = span
    up = (t - start + 1) / (ramp + 1)
    down = (end - t) / (ramp + 1)
    out = np.clip(np.minimum(up, down), 0.0, 1.0)
    out[(t < start) | (t >= end)] = 0.0
    return out


def _lissajous_track(cfg: SyntheticConfig, rng: np.random.Generator) -> np.ndarray:
    """Dense closed curve (K, 2) in image coordinates that the target follows.

    A Lissajous figure with a random frequency ratio and phases; phases that fold the
    curve back onto itself (the target would drive back along its own road) are
    rejected: at most 20 % of the curve may run within 70 px of a part of the curve
    that is more than a fifth of the loop away.
    """
    w, h = cfg.target_size
    ax = min(0.32 * cfg.width, cfg.width / 2 - w / 2 - 24)
    ay = min(0.30 * cfg.height, cfg.height / 2 - h / 2 - 24)
    ratios = [(1, 2), (2, 1), (2, 3), (3, 2), (1, 1)]
    s = np.linspace(0, 2 * math.pi, 6001)
    best, best_score = None, math.inf
    for _attempt in range(10):
        fx, fy = ratios[int(rng.integers(len(ratios)))]
        phx, phy = rng.uniform(0, 2 * math.pi, 2)
        curve = np.stack([cfg.width / 2 + ax * np.sin(fx * s + phx),
                          cfg.height / 2 + ay * np.sin(fy * s + phy)], axis=1)
        coarse = curve[::25]
        k = len(coarse)
        dist = np.hypot(*(coarse[:, None, :] - coarse[None, :, :]).transpose(2, 0, 1))
        index = np.arange(k)
        gap = np.abs(index[:, None] - index[None, :])
        far_along = np.minimum(gap, k - gap) > k // 5
        score = float((np.where(far_along, dist, np.inf).min(axis=1) < 70.0).mean())
        if score < best_score:
            best, best_score = curve, score
        if score <= 0.2:
            break
    return best


def _target_centres(cfg: SyntheticConfig, rng: np.random.Generator, t_slow: int,
                    t: np.ndarray) -> np.ndarray:
    """(len(t), 2) target centres in image coordinates at frames ``t`` (may extend before
    0 and past the end), slowest at frame ``t_slow``."""
    track = _lissajous_track(cfg, rng)
    seg = np.hypot(*np.diff(track, axis=0).T)
    arc = np.concatenate([[0.0], np.cumsum(seg)])
    period = max(60.0, cfg.num_frames / 2.0)
    speed = cfg.target_speed * (1 - 0.35 * np.cos(2 * math.pi * (t - t_slow) / period))
    dist = np.concatenate([[0.0], np.cumsum(speed[:-1])])
    dist += rng.uniform(0, arc[-1]) - dist[np.searchsorted(t, 0)]
    dist = np.mod(dist, arc[-1])
    return np.stack([np.interp(dist, arc, track[:, 0]), np.interp(dist, arc, track[:, 1])], axis=1)


def _camera(cfg: SyntheticConfig, rng: np.random.Generator, t: np.ndarray
            ) -> Tuple[np.ndarray, np.ndarray]:
    """Camera offset at frames ``t``: (smooth pan (len(t), 2), jitter (N, 2)), pixels;
    the jitter covers frames 0..N-1 only."""
    n = cfg.num_frames
    ph = rng.uniform(0, 2 * math.pi, 2)
    pan = np.stack([cfg.camera_pan[0] * np.sin(2 * math.pi * t / (1.1 * n) + ph[0]),
                    cfg.camera_pan[1] * np.sin(2 * math.pi * t / (0.8 * n) + ph[1])], axis=1)
    jitter = rng.normal(0, 1, (n + 2, 2))
    jitter = (jitter[:-2] + jitter[1:-1] + jitter[2:]) / math.sqrt(3.0)
    return pan, cfg.camera_jitter * jitter


def _box_inside(centre: np.ndarray, size: Tuple[float, float], width: int, height: int,
                margin: float = 0.0) -> np.ndarray:
    cx, cy = centre[..., 0], centre[..., 1]
    return ((cx - size[0] / 2 >= margin) & (cx + size[0] / 2 <= width - margin)
            & (cy - size[1] / 2 >= margin) & (cy + size[1] / 2 <= height - margin))


def _plan_encounter(cfg: SyntheticConfig, target: np.ndarray, origins: np.ndarray,
                    t_c: int, span: Tuple[int, int], rng: np.random.Generator
                    ) -> np.ndarray:
    """Path (N, 2) of a scripted lookalike that passes the target at frame ``t_c``.

    Around ``t_c`` it moves relative to the target at ``encounter_speed`` along x or y,
    crossing the target's road just behind it if it can (else in front, else alongside),
    its box passing ``encounter_gap`` pixels from the target's; before that window it
    drives in a straight line, after it it slows down and parks (or drives on). Candidates are tried in a seeded random order and ranked by: passes
    inside the image, keeps ``clutter_min_distance`` from the target outside the
    window, crosses behind > in front > alongside, stays in view after the stretch,
    parks.
    """
    n = cfg.num_frames
    w, h = cfg.target_size
    vel = np.gradient(target, axis=0)
    reach = max(110.0, cfg.clutter_min_distance + 10.0)
    half = int(math.ceil(reach / cfg.encounter_speed))
    t0, t1 = max(0, t_c - half), min(n - 1, t_c + half)
    t = np.arange(n, dtype=np.float64)
    ground_vel = -np.gradient(origins, axis=0)     # image velocity of the ground
    check_after = min(n - 1, span[1] + 15)
    # Preferred: the lookalike crosses the target's road just behind it (where a tracker
    # that lags or holds its box is), moving across the target's main direction; then
    # just in front of it; last, alongside it. At the closest point its box is
    # ``encounter_gap`` pixels from the target's.
    main = int(np.argmax(np.abs(vel[t_c])))
    forward = 1.0 if vel[t_c, main] >= 0 else -1.0
    size = (w, h)
    candidates = []
    for rank, (axis, side) in enumerate(((main, -forward), (main, forward),
                                         (1 - main, 1.0), (1 - main, -1.0))):
        offset = np.zeros(2)
        offset[axis] = side * (size[axis] + cfg.encounter_gap)
        for direction in (1.0, -1.0):
            u = np.zeros(2)
            u[1 - axis] = direction
            for tau in (10.0, math.inf):
                candidates.append((min(rank, 2), u, offset, tau))
    order = rng.permutation(len(candidates))
    best, best_score = None, None
    for k in order:
        rank, u, offset, tau = candidates[k]
        path = np.empty((n, 2))
        win = np.arange(t0, t1 + 1)
        path[win] = target[win] + offset + ((win - t_c) * cfg.encounter_speed)[:, None] * u
        v0 = path[t0 + 1] - path[t0] if t1 > t0 else vel[t0]
        before = t[:t0]
        path[:t0] = path[t0] + (before - t0)[:, None] * v0
        v1 = path[t1] - path[t1 - 1] if t1 > t0 else vel[t1]
        after = t[t1 + 1:] - t1
        if after.size:
            own = v1 - ground_vel[t1]               # velocity relative to the ground
            if math.isinf(tau):
                moved = after[:, None] * own
            else:
                moved = (tau * (1 - np.exp(-after / tau)))[:, None] * own
            path[t1 + 1:] = path[t1] + moved - (origins[t1 + 1:] - origins[t1])
        dist = np.hypot(*(path - target).T)
        outside = np.ones(n, bool)
        outside[t0:t1 + 1] = False
        min_out = float(dist[outside].min()) if outside.any() else math.inf
        score = (bool(_box_inside(path[t_c], (w, h), cfg.width, cfg.height, 2.0)),
                 min_out >= cfg.clutter_min_distance,
                 -rank,
                 bool(_box_inside(path[check_after], (w, h), cfg.width, cfg.height, 2.0)),
                 not math.isinf(tau),
                 min(min_out, 1e6))
        if best_score is None or score > best_score:
            best, best_score = path, score
    return best


def _place_clutter(cfg: SyntheticConfig, rng: np.random.Generator, target: np.ndarray,
                   origins: np.ndarray, no_parking: np.ndarray, count: int,
                   size: Tuple[int, int]) -> List[np.ndarray]:
    """Paths (N, 2) of parked or slowly moving clutter that keeps away from the target
    and off buildings, trees and water (``no_parking``, world mask)."""
    n = cfg.num_frames
    t = np.arange(n, dtype=np.float64)[:, None]
    wh, ww = no_parking.shape
    paths = []
    for _ in range(count):
        for _try in range(60):
            start = np.array([rng.uniform(size[0], cfg.width - size[0]),
                              rng.uniform(size[1], cfg.height - size[1])])
            world0 = start + origins[n // 2]
            if rng.uniform() < 0.5:
                velocity = np.zeros(2)
            else:
                ang = rng.uniform(0, 2 * math.pi)
                velocity = rng.uniform(0.3, 1.0) * np.array([math.cos(ang), math.sin(ang)])
            world = world0 + (t - n // 2) * velocity
            path = world - origins
            if np.hypot(*(path - target).T).min() < cfg.clutter_min_distance:
                continue
            corners = np.concatenate([world + np.array([sx * size[0], sy * size[1]]) / 2
                                      for sx in (-1, 1) for sy in (-1, 1)])
            xi = np.clip(np.round(corners[:, 0]).astype(int), 0, ww - 1)
            yi = np.clip(np.round(corners[:, 1]).astype(int), 0, wh - 1)
            if no_parking[yi, xi].any():
                continue
            paths.append(path)
            break
    return paths


def _coverage(mask: np.ndarray, mask_tl: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """Fraction (N,) of each box (x, y, w, h) covered by ``mask`` placed at ``mask_tl``
    (N, 2) image positions (rounded to whole pixels)."""
    out = np.zeros(len(boxes))
    mh, mw = mask.shape
    rel = boxes[:, :2] - mask_tl
    near = ((rel[:, 0] < mw) & (rel[:, 0] + boxes[:, 2] > 0)
            & (rel[:, 1] < mh) & (rel[:, 1] + boxes[:, 3] > 0))
    for i in np.flatnonzero(near):
        x0, y0 = int(round(rel[i, 0])), int(round(rel[i, 1]))
        bw, bh = int(round(boxes[i, 2])), int(round(boxes[i, 3]))
        xa, ya = max(0, x0), max(0, y0)
        xb, yb = min(mw, x0 + bw), min(mh, y0 + bh)
        if xb > xa and yb > ya:
            out[i] = float(mask[ya:yb, xa:xb].sum()) / (bw * bh)
    return out


def _run_around(values: np.ndarray, centre: int, threshold: float) -> Tuple[int, int]:
    """Half-open range of consecutive frames around ``centre`` with values >= threshold
    ((centre, centre) if the centre frame itself is below)."""
    if values[centre] < threshold:
        return centre, centre
    a = centre
    while a > 0 and values[a - 1] >= threshold:
        a -= 1
    b = centre
    while b + 1 < len(values) and values[b + 1] >= threshold:
        b += 1
    return a, b + 1


def _plan_occluder(cfg: SyntheticConfig, rng: np.random.Generator, boxes: np.ndarray,
                   origins: np.ndarray, avoid: Sequence[Tuple[int, int]]
                   ) -> Tuple[_Sprite, np.ndarray, np.ndarray, Tuple[int, int]]:
    """Size and place the row of trees that hides the target.

    The crowns are centred on the target's position at the occlusion frame, elongated
    across its motion relative to the ground, and just long enough along the motion to
    cover >= 90 % of the box for ``occlusion_frames`` frames. Frames near
    ``occlusion_center`` are tried in turn until the target passes under the trees only
    once (its road may cross itself there) and outside the other stretches. A sequence
    long enough for the target to drive its closed loop more than once (roughly 500
    frames at the default speed) passes under the trees once per lap; only the designed
    pass is listed as the event, :attr:`SyntheticSequence.occluded_fraction` has them all.

    Returns:
        sprite, world position (2,) of the sprite's top-left, occluded fraction (N,), and
        the occlusion event range (start, end), end exclusive.
    """
    n = cfg.num_frames
    w, h = cfg.target_size
    centre0 = int(round(cfg.occlusion_center * n))
    centres = boxes[:, :2] + boxes[:, 2:] / 2
    world_centres = centres + origins
    shape_seed = int(rng.integers(0, 2**31))
    shifts = [0] + [sign * k for k in range(3, max(4, n // 4), 3) for sign in (1, -1)]
    best, best_cost = None, math.inf
    for shift in shifts:
        t_o = centre0 + shift
        if not 1 <= t_o <= n - 2:
            continue
        rel = (world_centres[t_o + 1] - world_centres[t_o - 1]) / 2.0
        speed = float(np.hypot(*rel))
        u = rel / max(speed, 1e-6)
        box_along = abs(u[0]) * w + abs(u[1]) * h
        box_across = abs(u[1]) * w + abs(u[0]) * h
        half_across = 0.5 * box_across * 1.3 + 4.0
        local = slice(max(0, t_o - 80), min(n, t_o + 81))
        # Any crowns big enough to hide the box would also touch it wherever the target
        # comes this close again, away from the occlusion: skip such frames at once.
        d = np.hypot(*(world_centres - world_centres[t_o]).T)
        elsewhere = np.ones(n, bool)
        elsewhere[local] = False
        if best is not None and np.any(d[elsewhere] < 0.5 * (box_along + box_across)):
            continue

        def local_run(half_along: float) -> Tuple[int, Tuple[_Sprite, np.ndarray, np.ndarray]]:
            sprite, mask = _canopy_sprite(half_along, half_across, u,
                                          np.random.default_rng(shape_seed), cfg.thermal_blur)
            sh, sw = mask.shape
            world_tl = world_centres[t_o] - np.array([sw, sh]) / 2.0
            near = _coverage(mask, world_tl - origins[local], boxes[local])
            run = _run_around(near, t_o - local.start, _OCCLUDED_THRESHOLD)
            return run[1] - run[0], (sprite, mask, world_tl)

        # Smallest length (whole pixels) that gives the wanted number of covered frames;
        # coverage grows with the length, so bisect.
        lo = int(0.3 * box_along)
        hi = int(box_along + cfg.occlusion_frames * speed + 10)
        found = local_run(hi)[1]
        while hi - lo > 1:
            mid = (lo + hi) // 2
            frames, made = local_run(mid)
            if frames >= cfg.occlusion_frames:
                hi, found = mid, made
            else:
                lo = mid
        sprite, mask, world_tl = found
        fraction = _coverage(mask, world_tl - origins, boxes)
        run = _run_around(fraction, t_o, _OCCLUDED_THRESHOLD)
        touched = _run_around(fraction, t_o, 1e-9)
        extra = float(fraction[:touched[0]].sum() + fraction[touched[1]:].sum())
        in_stretch = not all(touched[1] <= a or b <= touched[0] for a, b in avoid)
        cost = extra + (1000.0 if in_stretch else 0.0)
        if cost < best_cost:
            best, best_cost = (sprite, world_tl, fraction, run), cost
        if cost == 0.0:
            break
    return best


def _boxes_around(centres: np.ndarray, size: Tuple[int, int]) -> np.ndarray:
    """(N, 4) float64 boxes (x, y, w, h) of the given size around (N, 2) centres."""
    wh = np.array(size, np.float64)
    return np.concatenate([centres - wh / 2.0, np.tile(wh, (len(centres), 1))], axis=1)


def _make_plan(cfg: SyntheticConfig) -> _Plan:
    """Everything about a sequence except its pixels: scene textures, camera, paths,
    sprites, stretches, noise banks. Deterministic from ``cfg.seed``."""
    rng = np.random.default_rng(cfg.seed)
    n = cfg.num_frames
    w, h = cfg.target_size
    dark = _frame_range(cfg.dark_range, n)
    crossover = _frame_range(cfg.crossover_range, n)
    t_occ = int(round(cfg.occlusion_center * n))

    # Frames before 0 and after the end only serve to draw the target's road in full.
    extra = 120
    t_ext = np.arange(-extra, n + extra, dtype=np.float64)
    pan, jitter = _camera(cfg, rng, t_ext)
    margin = np.ceil(np.array(cfg.camera_pan) + 4 * cfg.camera_jitter + 8).astype(int)
    ww, wh = cfg.width + 2 * int(margin[0]), cfg.height + 2 * int(margin[1])
    origins = margin[None, :] + pan[extra:extra + n] + jitter
    centres_ext = _target_centres(cfg, rng, t_occ, t_ext)
    centres = centres_ext[extra:extra + n]
    boxes = _boxes_around(centres, (w, h))

    world_rgb, world_thermal, no_parking = _make_world(
        rng, ww, wh, centres_ext + margin[None, :] + pan, road_width=h + 18)

    occ_sprite, occ_world_tl, occluded, occ_event = _plan_occluder(
        cfg, rng, boxes, origins, avoid=(dark, crossover))
    # The canopy's shadow falls on the (world-fixed) ground.
    sh, sw = occ_sprite.rgba.shape[:2]
    sx, sy = int(round(occ_world_tl[0])) + 8, int(round(occ_world_tl[1])) + 8
    xa, ya, xb, yb = max(0, sx), max(0, sy), min(ww, sx + sw), min(wh, sy + sh)
    if xb > xa and yb > ya:
        a = occ_sprite.rgba[ya - sy:yb - sy, xa - sx:xb - sx, 3]
        world_rgb[ya:yb, xa:xb] *= (1 - 0.45 * a)[..., None]

    if cfg.thermal_blur > 0:
        world_thermal = cv2.GaussianBlur(world_thermal, (0, 0), cfg.thermal_blur)
    world_rgb = cv2.GaussianBlur(world_rgb, (0, 0), 0.6)
    world_rgb = np.clip(world_rgb, 0, 255).astype(np.uint8)

    warm_car = _car_sprite(w, h, "warm", cfg.thermal_blur)
    cold_car = _car_sprite(w, h, "cold", cfg.thermal_blur)
    truck = _truck_sprite(w, h, cfg.thermal_blur)

    def clutter(count: int, size: Tuple[int, int]) -> List[np.ndarray]:
        return _place_clutter(cfg, rng, centres, origins, no_parking, count, size)

    layers: List[_Layer] = []   # in drawing order
    for path in clutter(cfg.num_rgb_lookalikes, (w, h)):
        layers.append(_Layer(cold_car, path))
    for path in clutter(cfg.num_thermal_lookalikes, (w, h)):
        layers.append(_Layer(truck, path))
    person = max(8, int(round(0.3 * min(w, h))))
    for path in clutter(cfg.num_warm_blobs, (person, person)):
        layers.append(_Layer(_person_sprite(person, rng, cfg.thermal_blur), path))

    t_dark = dark[0] + int(round(0.4 * (dark[1] - dark[0])))
    t_cross = crossover[0] + int(round(0.4 * (crossover[1] - crossover[0])))
    rgb_lookalike = _plan_encounter(cfg, centres, origins, t_dark, dark, rng)
    thermal_lookalike = _plan_encounter(cfg, centres, origins, t_cross, crossover, rng)
    layers.append(_Layer(cold_car, rgb_lookalike, lit=True))
    layers.append(_Layer(truck, thermal_lookalike))

    darkness = _stretch_profile(n, dark, cfg.transition_frames)
    cross = _stretch_profile(n, crossover, cfg.transition_frames)
    thermal_gain = 1.0 - (1.0 - cfg.crossover_contrast) * cross
    layers.append(_Layer(warm_car, centres, thermal_gain=thermal_gain))
    # The canopy sprite is symmetric around its body centre.
    layers.append(_Layer(occ_sprite, occ_world_tl + np.array([sw, sh]) / 2.0 - origins))

    rgb_gain = 1.0 - (1.0 - cfg.dark_gain) * darkness
    rgb_sigma = cfg.rgb_noise + (cfg.dark_noise - cfg.rgb_noise) * darkness
    lit_gain = np.maximum(rgb_gain, cfg.dark_lookalike_gain)

    nh, nw = cfg.height + _NOISE_MARGIN, cfg.width + _NOISE_MARGIN
    rgb_noise = rng.standard_normal((_NOISE_TILES, nh, nw, 3), dtype=np.float32)
    thermal_noise = rng.standard_normal((_NOISE_TILES, nh, nw), dtype=np.float32)
    yy, xx = np.mgrid[0:cfg.height, 0:cfg.width].astype(np.float32)
    r2 = (((xx - cfg.width / 2) / (cfg.width / 2)) ** 2
          + ((yy - cfg.height / 2) / (cfg.height / 2)) ** 2)
    columns = rng.normal(0, 1.2, cfg.width).astype(np.float32)
    thermal_fixed = columns[None, :] - 5.0 * r2 / 2.0

    return _Plan(
        config=cfg, world_rgb=world_rgb, world_thermal=world_thermal.astype(np.float32),
        origins=origins, layers=layers, boxes=boxes,
        stamps=np.arange(n, dtype=np.float64) / cfg.fps,
        events={"dark": dark, "thermal_crossover": crossover, "occlusion": occ_event},
        occluded_fraction=np.clip(occluded, 0.0, 1.0),
        distractors={"rgb_lookalike": _boxes_around(rgb_lookalike, (w, h)),
                     "thermal_lookalike": _boxes_around(thermal_lookalike, (w, h))},
        rgb_gain=rgb_gain, rgb_sigma=rgb_sigma, lit_gain=lit_gain,
        thermal_fixed=thermal_fixed, rgb_noise=rgb_noise, thermal_noise=thermal_noise)


# --------------------------------------------------------------------------------------
# Rendering
# --------------------------------------------------------------------------------------

def _composite(dst: np.ndarray, sprite_arr: np.ndarray, pad: int, size: Tuple[int, int],
               centre: np.ndarray, gain: float) -> None:
    """Alpha-blend a premultiplied sprite (last channel alpha) into ``dst`` in place.

    ``centre`` is the body centre in image pixels (subpixel accurate). ``gain`` scales
    the sprite's coverage and value together: the result is
    ``dst + gain * alpha * (value - dst)``, so for a gain below 1 the object fades into
    the background (RGB brightness of a lit object drawn on a dark frame, thermal
    contrast during the crossover).
    """
    if not np.all(np.isfinite(centre)):
        return
    sh, sw = sprite_arr.shape[:2]
    ox = centre[0] - size[0] / 2.0 - pad
    oy = centre[1] - size[1] / 2.0 - pad
    ix, iy = math.floor(ox), math.floor(oy)
    H, W = dst.shape[:2]
    if ix >= W or iy >= H or ix + sw + 1 <= 0 or iy + sh + 1 <= 0:
        return
    m = np.float32([[1, 0, ox - ix], [0, 1, oy - iy]])
    patch = cv2.warpAffine(sprite_arr, m, (sw + 1, sh + 1), flags=cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    if patch.ndim == 2:
        patch = patch[..., None]
    xa, ya = max(0, ix), max(0, iy)
    xb, yb = min(W, ix + sw + 1), min(H, iy + sh + 1)
    p = patch[ya - iy:yb - iy, xa - ix:xb - ix]
    alpha = p[..., -1:] * gain
    region = dst[ya:yb, xa:xb]
    if region.ndim == 2:
        region = region[..., None]
    region *= 1.0 - alpha
    region += p[..., :-1] * gain


def _render(plan: _Plan, index: int) -> Tuple[np.ndarray, np.ndarray]:
    """Frame ``index``: (HxWx3 uint8 RGB, HxW uint8 thermal)."""
    cfg = plan.config
    W, H = cfg.width, cfg.height
    ox, oy = plan.origins[index]
    m = np.float32([[1, 0, ox], [0, 1, oy]])
    flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
    rgb = cv2.warpAffine(plan.world_rgb, m, (W, H), flags=flags,
                         borderMode=cv2.BORDER_REFLECT).astype(np.float32)
    thermal = cv2.warpAffine(plan.world_thermal, m, (W, H), flags=flags,
                             borderMode=cv2.BORDER_REFLECT)
    thermal3 = thermal[..., None]
    gain = float(plan.rgb_gain[index])
    dark = gain < 1.0
    deferred = []
    for layer in plan.layers:
        centre = layer.centres[index]
        sprite = layer.sprite
        if layer.lit and dark:
            deferred.append(layer)
        else:
            _composite(rgb, sprite.rgba, sprite.pad, sprite.size, centre, 1.0)
        t_gain = 1.0 if layer.thermal_gain is None else float(layer.thermal_gain[index])
        _composite_thermal(thermal3, sprite, centre, t_gain)
    if dark:
        rgb *= gain
        for layer in deferred:
            _composite(rgb, layer.sprite.rgba, layer.sprite.pad, layer.sprite.size,
                       layer.centres[index], float(plan.lit_gain[index]))

    noise_rng = np.random.default_rng((cfg.seed, index))
    tile, dx, dy = noise_rng.integers(0, _NOISE_TILES), *noise_rng.integers(0, _NOISE_MARGIN, 2)
    sigma = float(plan.rgb_sigma[index])
    rgb += plan.rgb_noise[tile, dy:dy + H, dx:dx + W] * sigma
    tile, dx, dy = noise_rng.integers(0, _NOISE_TILES), *noise_rng.integers(0, _NOISE_MARGIN, 2)
    thermal += plan.thermal_noise[tile, dy:dy + H, dx:dx + W] * cfg.thermal_noise
    thermal += plan.thermal_fixed
    np.clip(rgb, 0, 255, out=rgb)
    np.clip(thermal, 0, 255, out=thermal)
    return (np.rint(rgb).astype(np.uint8), np.rint(thermal).astype(np.uint8))


def _composite_thermal(dst: np.ndarray, sprite: _Sprite, centre: np.ndarray,
                       contrast: float) -> None:
    """Blend the thermal sprite; ``contrast`` in [0, 1] fades it into the background."""
    if contrast <= 0.0:
        return
    _composite(dst, sprite.thermal, sprite.pad, sprite.size, centre, contrast)

"""Pictures of tracking results: success / precision plots and annotated videos.

Plots use Matplotlib's Agg canvas directly (no pyplot, no display, no global backend
change); videos are written with Pillow (GIF) or OpenCV (MP4, codec ``mp4v``).
"""
from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping, Optional, Sequence, Tuple

import cv2
import numpy as np

from rgbt_tracking.core.images import normalise_thermal

# Box colours (RGB): ground truth green, prediction by tracker state.
GT_COLOUR = (0, 220, 0)
STATE_COLOURS = {
    "tracking": (255, 40, 40),    # red
    "uncertain": (255, 220, 0),   # yellow
    "lost": (150, 150, 150),      # grey
}
PLOT_SIZE_INCHES = (10.0, 4.0)
PLOT_DPI = 100
# GIF: per-frame adaptive palette (64 colours, 6 of them reserved for the annotations)
# after a light blur of the pictures (not
# of the boxes and text): sensor noise and texture otherwise defeat GIF's compression.
# A 300-frame 640x512 sequence at the defaults (every 2nd frame) takes about 7-8 MB.
GIF_PANEL_WIDTH = 288
GIF_COLOURS = 64
GIF_SMOOTHING_SIGMA = 0.8


def plot_success_precision(results: Mapping[str, Mapping[str, Any]], path: str | Path,
                           title: Optional[str] = None) -> Path:
    """Write one PNG with the success plot (left) and the precision plot (right).

    Args:
        results: tracker name -> the dict of
            :func:`rgbt_tracking.eval.metrics.evaluate_sequence` (or any dict with the
            same curve keys). Legends read ``name [0.634]``: success AUC on the left,
            precision at 20 px on the right, best first.
        path: the PNG to write (parent folders are created).
        title: optional figure title.

    Returns:
        The path. The image is 1000 x 400 pixels.

    Raises:
        ValueError: no results, or a result lacks a key.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    if not results:
        raise ValueError("plot_success_precision needs at least one result")
    needed = ("success_auc", "precision_20", "success_curve", "precision_curve",
              "thresholds_iou", "thresholds_px")
    for name, res in results.items():
        missing = [k for k in needed if k not in res]
        if missing:
            raise ValueError(f"result {name!r} lacks {', '.join(missing)}")
    fig = Figure(figsize=PLOT_SIZE_INCHES, dpi=PLOT_DPI)
    FigureCanvasAgg(fig)
    ax_s, ax_p = fig.subplots(1, 2)
    for name in sorted(results, key=lambda n: -float(results[n]["success_auc"])):
        res = results[name]
        ax_s.plot(res["thresholds_iou"], res["success_curve"], linewidth=2,
                  label=f"{name} [{float(res['success_auc']):.3f}]")
    for name in sorted(results, key=lambda n: -float(results[n]["precision_20"])):
        res = results[name]
        ax_p.plot(res["thresholds_px"], res["precision_curve"], linewidth=2,
                  label=f"{name} [{float(res['precision_20']):.3f}]")
    ax_s.set(title="Success plot (AUC)", xlabel="Overlap threshold", ylabel="Success rate",
             xlim=(0, 1), ylim=(0, 1.02))
    ax_p.set(title="Precision plot (precision at 20 px)",
             xlabel="Location error threshold (pixels)", ylabel="Precision",
             xlim=(0, max(float(r["thresholds_px"][-1]) for r in results.values())),
             ylim=(0, 1.02))
    for ax in (ax_s, ax_p):
        ax.grid(True, alpha=0.3)
        ax.legend(loc="lower left" if ax is ax_s else "lower right", fontsize=8)
    if title:
        fig.suptitle(title)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(str(path), dpi=PLOT_DPI, format="png")
    return path


_END = object()


def write_annotated_video(rgb_frames: Iterable[Optional[np.ndarray]],
                          thermal_frames: Iterable[Optional[np.ndarray]],
                          pred_boxes: Iterable[Optional[Sequence[float]]],
                          gt_boxes: Optional[Iterable[Optional[Sequence[float]]]],
                          path: str | Path, fps: float,
                          states: Optional[Iterable[str]] = None,
                          frame_step: Optional[int] = None,
                          panel_width: Optional[int] = None) -> int:
    """Write a side-by-side RGB | thermal video with the boxes drawn on both panels.

    Ground truth is green; the prediction is red ("tracking"), yellow ("uncertain") or
    grey ("lost"); the frame number and state are written in the corner. All inputs are
    iterables consumed in step, so frames can be streamed from a generator.

    Args:
        rgb_frames: HxWx3 uint8 images in RGB order (None: black panel).
        thermal_frames: HxW uint8 / uint16 / float32 images (None: black panel); uint16
            and float32 are stretched per frame as in
            :func:`rgbt_tracking.core.images.normalise_thermal`.
        pred_boxes: (x, y, w, h) pixels per frame, or None where there is no prediction.
        gt_boxes: (x, y, w, h) per frame (None or NaN entries are skipped), or None.
        path: ``*.gif`` (Pillow, adaptive palette) or ``*.mp4`` (OpenCV, ``mp4v``).
        fps: frame rate of the input; a GIF that keeps every 2nd frame plays at the same
            speed.
        states: tracker state per frame; None means "tracking" throughout.
        frame_step: keep every ``frame_step``-th frame (frames 0, step, 2 step, ...).
            Default 2 for GIF (keeps it small), 1 for MP4.
        panel_width: width of each panel in pixels; default 288 for GIF (a 300-frame
            640x512 sequence then takes about 8 MB), the input width for MP4.

    Returns:
        The number of frames written.

    Raises:
        ValueError: unknown extension, bad fps or frame_step, no frames, inputs of
            different lengths, or frames that change size.
    """
    path = Path(path)
    kind = path.suffix.lower()
    if kind not in (".gif", ".mp4"):
        raise ValueError(f"video path must end in .gif or .mp4, got {path.name!r}")
    if not fps > 0:
        raise ValueError(f"fps must be > 0, got {fps}")
    step = frame_step if frame_step is not None else (2 if kind == ".gif" else 1)
    if int(step) != step or step < 1:
        raise ValueError(f"frame_step must be an integer >= 1, got {frame_step}")
    step = int(step)
    if panel_width is None and kind == ".gif":
        panel_width = GIF_PANEL_WIDTH
    smoothing = GIF_SMOOTHING_SIGMA if kind == ".gif" else 0.0
    frames = _annotated_frames(rgb_frames, thermal_frames, pred_boxes, gt_boxes, states,
                               step, panel_width, smoothing)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        if kind == ".gif":
            return _write_gif(frames, path, fps / step)
        return _write_mp4(frames, path, fps / step)
    except Exception:
        if path.exists():
            path.unlink()
        raise


def _annotated_frames(rgb_frames: Iterable[Any], thermal_frames: Iterable[Any],
                      pred_boxes: Iterable[Any], gt_boxes: Optional[Iterable[Any]],
                      states: Optional[Iterable[str]], step: int,
                      panel_width: Optional[int], smoothing: float = 0.0
                      ) -> Iterator[np.ndarray]:
    """Yield the kept side-by-side frames, HxWx3 uint8 RGB, all of one size."""
    names = ["rgb_frames", "thermal_frames", "pred_boxes"]
    streams = [rgb_frames, thermal_frames, pred_boxes]
    if gt_boxes is not None:
        names.append("gt_boxes")
        streams.append(gt_boxes)
    if states is not None:
        names.append("states")
        streams.append(states)
    size: Optional[Tuple[int, int]] = None
    for index, items in enumerate(itertools.zip_longest(*streams, fillvalue=_END)):
        ended = [name for name, item in zip(names, items) if item is _END]
        if ended:
            raise ValueError(f"{', '.join(ended)} ended after {index} frames, before the "
                             f"other inputs")
        if index % step:
            continue
        rgb, thermal, pred = items[0], items[1], items[2]
        gt = items[3] if gt_boxes is not None else None
        state = str(items[-1]) if states is not None else "tracking"
        frame = _side_by_side(rgb, thermal, pred, gt, state, index, panel_width, smoothing)
        if size is None:
            size = (frame.shape[1], frame.shape[0])
        elif (frame.shape[1], frame.shape[0]) != size:
            raise ValueError(f"frame {index} gives a {frame.shape[1]}x{frame.shape[0]} "
                             f"picture, earlier frames {size[0]}x{size[1]}")
        yield frame


def _panel(image: Optional[np.ndarray], name: str) -> Optional[np.ndarray]:
    """An input frame as HxWx3 uint8 RGB (None stays None)."""
    if image is None:
        return None
    arr = np.asarray(image)
    if name == "rgb":
        if arr.ndim != 3 or arr.shape[2] != 3 or arr.dtype != np.uint8:
            raise ValueError(f"rgb frame must be HxWx3 uint8, got {arr.shape} {arr.dtype}")
        return arr
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[..., 0]
    if arr.ndim != 2 or arr.dtype not in (np.uint8, np.uint16, np.float32):
        raise ValueError(f"thermal frame must be HxW uint8, uint16 or float32, got "
                         f"{arr.shape} {arr.dtype}")
    grey = arr if arr.dtype == np.uint8 else np.rint(normalise_thermal(arr) * 255).astype(np.uint8)
    return cv2.cvtColor(grey, cv2.COLOR_GRAY2RGB)


def _valid_box(box: Any) -> Optional[Tuple[float, float, float, float]]:
    if box is None:
        return None
    values = np.asarray(box, dtype=np.float64).reshape(-1)
    if values.size != 4 or not np.all(np.isfinite(values)) or values[2] <= 0 or values[3] <= 0:
        return None
    return tuple(float(v) for v in values)  # type: ignore[return-value]


def _side_by_side(rgb: Any, thermal: Any, pred: Any, gt: Any, state: str, index: int,
                  panel_width: Optional[int], smoothing: float = 0.0) -> np.ndarray:
    """One annotated RGB | thermal picture, HxWx3 uint8 RGB."""
    left = _panel(rgb, "rgb")
    right = _panel(thermal, "thermal")
    if left is None and right is None:
        raise ValueError(f"frame {index}: both the RGB and the thermal frame are missing")
    h, w = (left if left is not None else right).shape[:2]
    if left is None:
        left = np.zeros((h, w, 3), np.uint8)
    if right is None:
        right = np.zeros((h, w, 3), np.uint8)
    if right.shape[:2] != (h, w):
        right = cv2.resize(right, (w, h), interpolation=cv2.INTER_LINEAR)
    scale = 1.0
    if panel_width is not None and panel_width != w:
        scale = panel_width / float(w)
        size = (int(panel_width), max(1, int(round(h * scale))))
        left = cv2.resize(left, size, interpolation=cv2.INTER_AREA)
        right = cv2.resize(right, size, interpolation=cv2.INTER_AREA)
    else:
        left, right = left.copy(), right.copy()
    if smoothing > 0:
        left = cv2.GaussianBlur(left, (0, 0), smoothing)
        right = cv2.GaussianBlur(right, (0, 0), smoothing)
    thickness = max(1, int(round(2 * min(1.0, scale * 1.5))))
    colour = STATE_COLOURS.get(state, STATE_COLOURS["tracking"])
    for panel in (left, right):
        for box, col in ((_valid_box(gt), GT_COLOUR), (_valid_box(pred), colour)):
            if box is None:
                continue
            x, y, bw, bh = (v * scale for v in box)
            cv2.rectangle(panel, (int(round(x)), int(round(y))),
                          (int(round(x + bw)), int(round(y + bh))), col, thickness)
    font_scale = max(0.35, 0.6 * scale)
    label = f"#{index} {state}"
    origin = (6, int(round(18 * max(font_scale / 0.6, 0.7))))
    cv2.putText(left, label, origin, cv2.FONT_HERSHEY_SIMPLEX, font_scale, (0, 0, 0),
                thickness + 2, cv2.LINE_AA)
    cv2.putText(left, label, origin, cv2.FONT_HERSHEY_SIMPLEX, font_scale, colour,
                thickness, cv2.LINE_AA)
    return np.hstack([left, right])


def _gif_palette_image(frame: np.ndarray) -> Any:
    """A P-mode image carrying the frame's adaptive palette plus the annotation colours,
    so that boxes and text keep their exact colours after quantisation."""
    from PIL import Image

    fixed = [GT_COLOUR, *STATE_COLOURS.values(), (0, 0, 0), (255, 255, 255)]
    adaptive = Image.fromarray(frame).quantize(
        colors=GIF_COLOURS - len(fixed), method=Image.Quantize.MEDIANCUT,
        dither=Image.Dither.NONE)
    palette = adaptive.getpalette()[:3 * (GIF_COLOURS - len(fixed))]
    palette += [c for colour in fixed for c in colour]
    palette += [0] * (768 - len(palette))
    holder = Image.new("P", (1, 1))
    holder.putpalette(palette)
    return holder


def _write_gif(frames: Iterator[np.ndarray], path: Path, fps: float) -> int:
    from PIL import Image

    count = 0

    def paletted() -> Iterator[Any]:
        nonlocal count
        for frame in frames:
            count += 1
            yield Image.fromarray(frame).quantize(palette=_gif_palette_image(frame),
                                                  dither=Image.Dither.NONE)

    images = paletted()
    first = next(images, None)
    if first is None:
        raise ValueError("no frames to write")
    duration_ms = max(20, int(round(1000.0 / fps / 10.0)) * 10)   # GIF counts 1/100 s
    first.save(str(path), format="GIF", save_all=True, append_images=images,
               duration=duration_ms, loop=0, optimize=False)
    return count


def _write_mp4(frames: Iterator[np.ndarray], path: Path, fps: float) -> int:
    writer = None
    count = 0
    try:
        for frame in frames:
            if writer is None:
                h, w = frame.shape[:2]
                writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"),
                                         float(fps), (w, h))
                if not writer.isOpened():
                    raise OSError(f"OpenCV could not open an mp4v writer for {path}")
            writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
            count += 1
    finally:
        if writer is not None:
            writer.release()
    if count == 0:
        raise ValueError("no frames to write")
    return count

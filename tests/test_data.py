"""Tests for resnet_kit.data: loading, checking, preparing and importing hand-signs data."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
from PIL import Image

from resnet_kit import data
from resnet_kit.data import (
    SignsDataError,
    convert_to_one_hot,
    import_cs230,
    load_cs230_signs,
    load_signs,
    load_signs_split,
    normalize_images,
    one_hot,
    preprocess,
    read_cs230_folder,
    write_signs_h5,
)

REPO = Path(__file__).resolve().parents[1]


# --------------------------------------------------------------------------------------------
# Fixtures: tiny files in tmp_path
# --------------------------------------------------------------------------------------------


def make_split(m: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, size=(m, 64, 64, 3), dtype=np.uint8)
    y = np.arange(m, dtype=np.int64) % 6
    return x, y


def write_raw_h5(path: Path, **datasets) -> Path:
    """Write whatever datasets we are told to, without any checking (for bad inputs)."""
    with h5py.File(path, "w") as f:
        for name, value in datasets.items():
            f.create_dataset(name, data=value)
    return path


def write_coursera_dir(folder: Path, m_train: int = 12, m_test: int = 6) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    classes = np.arange(6, dtype=np.int64)
    x, y = make_split(m_train, seed=1)
    write_raw_h5(folder / "train_signs.h5", train_set_x=x, train_set_y=y, list_classes=classes)
    x, y = make_split(m_test, seed=2)
    write_raw_h5(folder / "test_signs.h5", test_set_x=x, test_set_y=y, list_classes=classes)
    return folder


def raises_about(path: Path, problem: str):
    """Expect a SignsDataError whose message names ``path`` followed by ``problem``."""
    return pytest.raises(SignsDataError, match=re.escape(str(path)) + problem)


def write_bad(tmp_path: Path, **datasets) -> Path:
    """A file ``bad.h5`` with these datasets and, unless given, a correct list_classes."""
    datasets.setdefault("list_classes", np.arange(6))
    return write_raw_h5(tmp_path / "bad.h5", **datasets)


@pytest.fixture
def signs_dir(tmp_path):
    return write_coursera_dir(tmp_path / "signs")


def save_image(path: Path, size=(64, 64), mode="RGB", color=(200, 30, 60), fmt=None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if mode == "RGB":
        im = Image.new("RGB", size, color)
    elif mode == "L":
        im = Image.new("L", size, 128)
    elif mode == "RGBA":
        im = Image.new("RGBA", size, (*color, 255))
    elif mode == "P":
        im = Image.new("RGB", size, color).convert("P")
    else:
        raise ValueError(mode)
    im.save(path, format=fmt)
    return path


@pytest.fixture
def cs230_root(tmp_path):
    """A CS230-style root: odd sizes, modes and formats, plus files that must be ignored."""
    root = tmp_path / "SIGNS"
    train = root / "train_signs"
    save_image(train / "0_IMG_5864.jpg", size=(64, 64))
    save_image(train / "3_IMG_0001.png", size=(100, 37), mode="RGBA", color=(0, 0, 255))
    save_image(train / "5_IMG_0002.JPG", size=(640, 480), color=(0, 255, 0), fmt="JPEG")
    save_image(train / "1_gray.png", size=(33, 33), mode="L")
    save_image(train / "2_pal.png", size=(80, 80), mode="P")
    (train / ".DS_Store").write_bytes(b"\x00\x01junk")
    (train / "README.txt").write_text("not an image")
    test = root / "test_signs"
    save_image(test / "4_IMG_9.jpg", size=(65, 65))
    save_image(test / "0_IMG_10.jpg", size=(64, 64))
    return root


# --------------------------------------------------------------------------------------------
# Coursera HDF5 layout: happy paths
# --------------------------------------------------------------------------------------------


def test_load_signs_returns_coursera_layout(signs_dir):
    X_train, Y_train, X_test, Y_test, classes = load_signs(signs_dir)
    assert X_train.shape == (12, 64, 64, 3) and X_train.dtype == np.uint8
    assert X_test.shape == (6, 64, 64, 3) and X_test.dtype == np.uint8
    assert Y_train.shape == (1, 12) and Y_train.dtype == np.int64
    assert Y_test.shape == (1, 6) and Y_test.dtype == np.int64
    np.testing.assert_array_equal(classes, np.arange(6))
    expected_x, expected_y = make_split(12, seed=1)
    np.testing.assert_array_equal(X_train, expected_x)
    np.testing.assert_array_equal(Y_train[0], expected_y)


def test_load_signs_reads_folder_from_environment_variable(signs_dir, monkeypatch):
    monkeypatch.setenv("RESNET_KIT_DATA", str(signs_dir))
    assert data.default_data_dir() == signs_dir
    assert load_signs()[0].shape == (12, 64, 64, 3)


def test_argument_wins_over_environment_variable(signs_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("RESNET_KIT_DATA", str(tmp_path / "nowhere"))
    assert load_signs(signs_dir)[2].shape == (6, 64, 64, 3)


def test_default_data_dir_is_the_repositorys_data_signs(monkeypatch):
    monkeypatch.delenv("RESNET_KIT_DATA", raising=False)
    assert data.default_data_dir() == REPO / "data" / "signs"


def test_load_signs_split_reads_either_schema(signs_dir):
    x, y, classes = load_signs_split(signs_dir / "train_signs.h5")
    assert x.shape == (12, 64, 64, 3) and y.shape == (1, 12)
    x, y, classes = load_signs_split(signs_dir / "test_signs.h5")
    assert x.shape == (6, 64, 64, 3) and y.shape == (1, 6) and y.dtype == np.int64
    np.testing.assert_array_equal(classes, np.arange(6))


def test_load_signs_split_can_insist_on_a_split(signs_dir):
    with pytest.raises(SignsDataError, match=r"test_signs\.h5: missing datasets.*train_set_x"):
        load_signs_split(signs_dir / "test_signs.h5", split="train")


def test_write_signs_h5_round_trips_in_coursera_schema(tmp_path):
    x, y = make_split(7)
    path = write_signs_h5(tmp_path / "out" / "hidden.h5", x, y.reshape(1, -1), split="test")
    with h5py.File(path, "r") as f:
        assert sorted(f.keys()) == ["list_classes", "test_set_x", "test_set_y"]
        assert f["test_set_x"].dtype == np.uint8 and f["test_set_x"].shape == (7, 64, 64, 3)
        assert f["test_set_y"].dtype == np.int64 and f["test_set_y"].shape == (7,)
        assert f["list_classes"].dtype == np.int64
    x2, y2, _ = load_signs_split(path)
    np.testing.assert_array_equal(x2, x)
    np.testing.assert_array_equal(y2[0], y)
    assert not list(tmp_path.glob("out/*.tmp"))


def test_write_signs_h5_is_byte_for_byte_reproducible(tmp_path):
    x, y = make_split(3)
    a = write_signs_h5(tmp_path / "a.h5", x, y, "train").read_bytes()
    b = write_signs_h5(tmp_path / "b.h5", x, y, "train").read_bytes()
    assert a == b


def test_write_signs_h5_refuses_bad_arrays(tmp_path):
    x, y = make_split(3)
    with pytest.raises(SignsDataError, match=r"dtype float64, expected uint8"):
        write_signs_h5(tmp_path / "a.h5", x / 255.0, y, "train")
    with pytest.raises(SignsDataError, match=r"3 images but 2 labels"):
        write_signs_h5(tmp_path / "a.h5", x, y[:2], "train")
    with pytest.raises(ValueError, match="split must be"):
        write_signs_h5(tmp_path / "a.h5", x, y, "dev")
    assert not (tmp_path / "a.h5").exists()


# --------------------------------------------------------------------------------------------
# Coursera HDF5 layout: bad inputs give clear errors naming the file
# --------------------------------------------------------------------------------------------


def test_missing_file_names_the_path_and_how_to_get_it(tmp_path):
    (tmp_path / "signs").mkdir()
    with pytest.raises(SignsDataError) as err:
        load_signs(tmp_path / "signs")
    message = str(err.value)
    assert str(tmp_path / "signs" / "train_signs.h5") in message
    assert "file not found" in message
    assert "make demo" in message and "python -m resnet_kit.handsigns generate" in message


def test_missing_folder_is_reported(tmp_path):
    with raises_about(tmp_path / "gone", ": data folder not found"):
        load_signs(tmp_path / "gone")


def test_not_an_hdf5_file(tmp_path):
    bad = tmp_path / "train_signs.h5"
    bad.write_text("this is not HDF5")
    with pytest.raises(SignsDataError, match=re.escape(f"{bad}: not an HDF5 file")):
        load_signs_split(bad)


def test_wrong_keys_list_what_was_found_and_expected(tmp_path):
    images = np.zeros((2, 64, 64, 3), np.uint8)
    bad = write_raw_h5(tmp_path / "odd.h5", images=images, labels=[0, 1])
    with pytest.raises(SignsDataError) as err:
        load_signs_split(bad)
    message = str(err.value)
    assert message.startswith(f"{bad}: missing datasets")
    assert "['images', 'labels']" in message
    assert "train_set_x, train_set_y, list_classes" in message
    assert "test_set_x, test_set_y, list_classes" in message


def test_missing_list_classes_is_reported(tmp_path):
    x, y = make_split(2)
    bad = write_raw_h5(tmp_path / "t.h5", test_set_x=x, test_set_y=y)
    with pytest.raises(SignsDataError, match=r"t\.h5: missing datasets.*list_classes"):
        load_signs_split(bad)


@pytest.mark.parametrize(
    "x, problem",
    [
        (np.zeros((2, 32, 32, 3), np.uint8), r"shape \(2, 32, 32, 3\), expected \(m, 64, 64, 3\)"),
        (np.zeros((2, 64, 64), np.uint8), r"shape \(2, 64, 64\), expected \(m, 64, 64, 3\)"),
        (np.zeros((2, 64, 64, 4), np.uint8), r"shape \(2, 64, 64, 4\)"),
        (np.zeros((2, 64, 64, 3), np.float32), r"dtype float32, expected uint8"),
    ],
    ids=["small-images", "no-channels", "rgba", "float-pixels"],
)
def test_wrong_image_shape_or_dtype(tmp_path, x, problem):
    bad = write_bad(tmp_path, train_set_x=x, train_set_y=[0, 1])
    with raises_about(bad, r": images \(train_set_x\) have " + problem):
        load_signs_split(bad)


def test_labels_out_of_range(tmp_path):
    x, _ = make_split(4)
    bad = write_bad(tmp_path, test_set_x=x, test_set_y=[0, 6, 9, -1])
    with raises_about(bad, r".*must be 0\.\.5.*found -1, 6, 9"):
        load_signs_split(bad)


def test_label_count_must_match_image_count(tmp_path):
    x, _ = make_split(4)
    bad = write_bad(tmp_path, test_set_x=x, test_set_y=[0, 1, 2])
    with raises_about(bad, r": there are 4 images but 3 labels"):
        load_signs_split(bad)


def test_labels_must_be_integers(tmp_path):
    x, _ = make_split(2)
    bad = write_bad(tmp_path, test_set_x=x, test_set_y=[0.5, 1.0])
    with pytest.raises(SignsDataError, match=r"bad\.h5: labels \(test_set_y\) have dtype float64"):
        load_signs_split(bad)


def test_wrong_list_classes(tmp_path):
    x, y = make_split(2)
    bad = write_raw_h5(tmp_path / "bad.h5", test_set_x=x, test_set_y=y, list_classes=np.arange(10))
    with pytest.raises(
        SignsDataError, match=r"bad\.h5: list_classes is \[0, 1, .*expected \[0, 1, 2, 3, 4, 5\]"
    ):
        load_signs_split(bad)


def test_empty_split_is_reported(tmp_path):
    bad = write_raw_h5(
        tmp_path / "bad.h5",
        test_set_x=np.zeros((0, 64, 64, 3), np.uint8),
        test_set_y=np.zeros((0,), np.int64),
        list_classes=np.arange(6),
    )
    with pytest.raises(SignsDataError, match=r"bad\.h5: test_set_x holds no images"):
        load_signs_split(bad)


def test_folder_passed_as_file_is_reported(signs_dir):
    with pytest.raises(SignsDataError, match=r"is a folder, expected an HDF5 file"):
        load_signs_split(signs_dir)


def test_swapped_train_file_is_reported_by_load_signs(signs_dir):
    (signs_dir / "train_signs.h5").unlink()
    (signs_dir / "test_signs.h5").rename(signs_dir / "train_signs.h5")
    write_coursera_dir(signs_dir.parent / "other")
    (signs_dir.parent / "other" / "test_signs.h5").rename(signs_dir / "test_signs.h5")
    found_test_keys = r"train_signs\.h5: missing datasets.*'test_set_x'.*expected train_set_x"
    with pytest.raises(SignsDataError, match=found_test_keys):
        load_signs(signs_dir)


def test_signs_data_error_is_a_value_error():
    assert issubclass(SignsDataError, ValueError)


# --------------------------------------------------------------------------------------------
# Preparing arrays for Keras
# --------------------------------------------------------------------------------------------


def test_normalize_images_scales_to_float32_unit_range():
    x = np.array([[[[0, 51, 255]]]], dtype=np.uint8)
    out = normalize_images(x)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out.ravel(), [0.0, 0.2, 1.0])


def test_one_hot_accepts_coursera_row_labels_and_flat_labels():
    y = np.array([[0, 5, 2]])
    expected = np.array([[1, 0, 0, 0, 0, 0], [0, 0, 0, 0, 0, 1], [0, 0, 1, 0, 0, 0]], np.float32)
    np.testing.assert_array_equal(one_hot(y), expected)
    np.testing.assert_array_equal(one_hot(y.ravel(), C=6), expected)
    assert one_hot(y).dtype == np.float32
    np.testing.assert_array_equal(convert_to_one_hot(y, 6), expected.T)


def test_one_hot_rejects_labels_out_of_range():
    with pytest.raises(SignsDataError, match=r"must be 0\.\.2 for C=3, found values from 0 to 4"):
        one_hot([0, 4], C=3)


def test_preprocess_gives_what_keras_trains_on(signs_dir):
    X_train_orig, Y_train_orig, *_ = load_signs(signs_dir)
    X, Y = preprocess(X_train_orig, Y_train_orig)
    assert X.shape == (12, 64, 64, 3) and X.dtype == np.float32
    assert 0.0 <= X.min() and X.max() <= 1.0
    assert Y.shape == (12, 6) and Y.dtype == np.float32
    np.testing.assert_array_equal(Y.argmax(axis=1), Y_train_orig[0])


def test_preprocess_rejects_mismatched_counts():
    x, y = make_split(3)
    with pytest.raises(SignsDataError, match="3 images but 2 labels"):
        preprocess(x, y[:2])


# --------------------------------------------------------------------------------------------
# CS230 image folders
# --------------------------------------------------------------------------------------------


def test_read_cs230_folder_parses_labels_and_resizes(cs230_root):
    x, y = read_cs230_folder(cs230_root / "train_signs")
    # Sorted by file name: 0_IMG_5864.jpg, 1_gray.png, 2_pal.png, 3_IMG_0001.png, 5_IMG_0002.JPG
    np.testing.assert_array_equal(y, [0, 1, 2, 3, 5])
    assert y.dtype == np.int64
    assert x.shape == (5, 64, 64, 3) and x.dtype == np.uint8
    # Colours survive conversion and resizing (JPEG is lossy: allow a small error).
    np.testing.assert_allclose(x[0].mean(axis=(0, 1)), (200, 30, 60), atol=4)
    np.testing.assert_allclose(x[1], 128, atol=1)  # greyscale -> RGB
    np.testing.assert_allclose(x[3].mean(axis=(0, 1)), (0, 0, 255), atol=1)  # RGBA, 100x37
    np.testing.assert_allclose(x[4].mean(axis=(0, 1)), (0, 255, 0), atol=4)  # 640x480 JPEG


def test_load_cs230_signs_returns_coursera_layout(cs230_root):
    X_train, Y_train, X_test, Y_test, classes = load_cs230_signs(cs230_root)
    assert X_train.shape == (5, 64, 64, 3) and Y_train.shape == (1, 5)
    assert X_test.shape == (2, 64, 64, 3) and Y_test.shape == (1, 2)
    np.testing.assert_array_equal(Y_test, [[0, 4]])
    np.testing.assert_array_equal(classes, np.arange(6))


def test_dev_signs_joins_training_set_or_stands_in_for_test_set(cs230_root):
    save_image(cs230_root / "dev_signs" / "2_dev.jpg", size=(64, 64))
    X_train, Y_train, X_test, Y_test, _ = load_cs230_signs(cs230_root)
    assert Y_train.shape == (1, 6) and Y_train[0, -1] == 2
    assert Y_test.shape == (1, 2)

    for image in (cs230_root / "test_signs").iterdir():
        image.unlink()
    (cs230_root / "test_signs").rmdir()
    X_train, Y_train, X_test, Y_test, _ = load_cs230_signs(cs230_root)
    assert Y_train.shape == (1, 5)
    np.testing.assert_array_equal(Y_test, [[2]])


def test_import_cs230_writes_files_that_load_signs_reads(cs230_root, tmp_path):
    dest = tmp_path / "converted"
    train, test = import_cs230(cs230_root, dest)
    assert (train, test) == (dest / "train_signs.h5", dest / "test_signs.h5")
    X_train, Y_train, X_test, Y_test, classes = load_signs(dest)
    expected = load_cs230_signs(cs230_root)
    for got, want in zip((X_train, Y_train, X_test, Y_test, classes), expected):
        np.testing.assert_array_equal(got, want)


def test_import_cs230_command_line(cs230_root, tmp_path):
    dest = tmp_path / "converted"
    result = subprocess.run(
        [sys.executable, "-m", "resnet_kit.data", "import-cs230", str(cs230_root), str(dest)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert f"wrote {dest / 'train_signs.h5'}: 5 images of 64x64" in result.stdout
    assert f"wrote {dest / 'test_signs.h5'}: 2 images of 64x64" in result.stdout
    assert load_signs(dest)[0].shape == (5, 64, 64, 3)


def test_check_command_reports_errors_and_exit_status(tmp_path, signs_dir):
    assert data.main(["check", str(signs_dir)]) == 0
    bad = tmp_path / "bad.h5"
    bad.write_bytes(b"nope")
    assert data.main(["check", str(bad)]) == 1


def test_corrupt_image_is_named(cs230_root):
    broken = cs230_root / "train_signs" / "4_IMG_broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0 definitely not a whole JPEG")
    with raises_about(broken, r": unreadable or corrupt image"):
        read_cs230_folder(cs230_root / "train_signs")


def test_truncated_image_is_named(cs230_root):
    good = save_image(cs230_root / "train_signs" / "4_big.png", size=(300, 300))
    good.write_bytes(good.read_bytes()[:200])
    with raises_about(good, r": unreadable or corrupt image"):
        read_cs230_folder(cs230_root / "train_signs")


@pytest.mark.parametrize("name", ["IMG_5864.jpg", "x_IMG_1.jpg", "three.png"])
def test_file_name_without_label_prefix_is_named(cs230_root, name):
    image = save_image(cs230_root / "train_signs" / name)
    with raises_about(image, r": the file name has no label prefix"):
        read_cs230_folder(cs230_root / "train_signs")


def test_label_prefix_out_of_range_is_named(cs230_root):
    image = save_image(cs230_root / "train_signs" / "7_IMG_1.jpg")
    with raises_about(image, r": label 7 .*out of range"):
        read_cs230_folder(cs230_root / "train_signs")


def test_empty_image_folder_is_reported(tmp_path):
    folder = tmp_path / "train_signs"
    folder.mkdir()
    (folder / "notes.txt").write_text("no images here")
    with raises_about(folder, r": no images found"):
        read_cs230_folder(folder)


def test_root_without_split_folders_lists_what_it_found(tmp_path):
    root = tmp_path / "SIGNS"
    (root / "pictures").mkdir(parents=True)
    expected = r": expected sub-folders train_signs/ and test_signs/.*found \['pictures/'\]"
    with raises_about(root, expected):
        load_cs230_signs(root)


# --------------------------------------------------------------------------------------------
# The shipped files
# --------------------------------------------------------------------------------------------

SHIPPED = REPO / "data" / "signs"


@pytest.mark.skipif(
    not ((SHIPPED / "train_signs.h5").exists() and (SHIPPED / "test_signs.h5").exists()),
    reason="data/signs/*.h5 not generated yet (run `make demo` or "
    "`python -m resnet_kit.handsigns generate`)",
)
def test_shipped_files_follow_the_schema(monkeypatch):
    monkeypatch.delenv("RESNET_KIT_DATA", raising=False)
    X_train, Y_train, X_test, Y_test, classes = load_signs()
    assert X_train.dtype == np.uint8 and X_train.shape[1:] == (64, 64, 3)
    assert Y_train.shape == (1, X_train.shape[0]) and Y_test.shape == (1, X_test.shape[0])
    np.testing.assert_array_equal(classes, np.arange(6))
    # Every class appears in both splits.
    assert set(np.unique(Y_train)) == set(range(6))
    assert set(np.unique(Y_test)) == set(range(6))


def test_importing_the_module_does_not_import_tensorflow():
    code = "import sys, resnet_kit.data; print('tensorflow' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "False", out.stderr

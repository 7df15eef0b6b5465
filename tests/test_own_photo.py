"""Tests for resnet_kit.own_photo: any photo file becomes the 64x64 image the network reads."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from PIL import Image  # noqa: E402

from resnet_kit import handsigns, own_photo  # noqa: E402
from resnet_kit.own_photo import (  # noqa: E402
    OwnPhotoError,
    center_square,
    load_own_photo,
    predict_own_photo,
    show_own_photo,
    try_in_notebook,
    try_own_photo,
)

pytestmark = pytest.mark.filterwarnings("error")


def _landscape(w=300, h=200):
    """A wide photo: red bands left and right, a green centre square, a blue dot in its
    top-left corner (to see the orientation)."""
    a = np.zeros((h, w, 3), np.uint8)
    a[:] = (200, 30, 30)
    left = (w - h) // 2
    a[:, left : left + h] = (30, 200, 30)
    a[:20, left : left + 20] = (30, 30, 220)
    return a


class FakeModel:
    """A stand-in for a Keras model: remembers its input, returns fixed probabilities;
    ``steps``: the training steps its optimizer recorded (None: not compiled)."""

    def __init__(self, p, steps=None):
        self.p = np.asarray(p, np.float32)
        self.seen = None
        self.optimizer = None if steps is None else type("Optimizer", (), {"iterations": steps})()

    def predict(self, x, verbose=0):
        self.seen = x
        return self.p[None]


@pytest.mark.parametrize("suffix", ["jpg", "png"])
def test_a_wide_photo_is_cropped_to_its_centre_square_and_resized(tmp_path, suffix):
    path = tmp_path / f"hand.{suffix}"
    Image.fromarray(_landscape()).save(path, quality=95)
    img = load_own_photo(path)
    assert img.shape == (64, 64, 3) and img.dtype == np.uint8
    # Only the green centre square is left (no red band), its blue mark top left.
    assert img[20:44, 20:44, 1].mean() > 170 and img[20:44, 20:44, 0].mean() < 60
    assert img[:, :, 0].max() < 120
    assert img[1, 1, 2] > 150 and img[60, 60, 2] < 80


def test_a_tall_photo_and_a_transparent_png(tmp_path):
    tall = np.transpose(_landscape(), (1, 0, 2)).copy()
    Image.fromarray(tall).save(tmp_path / "tall.png")
    assert load_own_photo(tmp_path / "tall.png")[32, 32, 1] > 170
    rgba = np.zeros((100, 100, 4), np.uint8)  # fully transparent: white, not black
    Image.fromarray(rgba, "RGBA").save(tmp_path / "clear.png")
    assert load_own_photo(tmp_path / "clear.png").min() == 255


def test_a_phone_photo_is_turned_as_the_camera_recorded(tmp_path):
    a = _landscape()
    im = Image.fromarray(a)
    exif = im.getexif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to view"
    im.save(tmp_path / "phone.jpg", exif=exif, quality=95)
    img = load_own_photo(tmp_path / "phone.jpg")
    # The blue mark (top left in the stored pixels) ends top right once turned.
    assert img[1, 62, 2] > 150 and img[1, 1, 2] < 80


def test_center_square():
    a = np.arange(5 * 3).reshape(5, 3)
    assert center_square(a).shape == (3, 3) and center_square(a)[0, 0] == 3


def _write(path, data):
    path.write_bytes(data)
    return path


@pytest.mark.parametrize(
    "make, words",
    [
        (lambda d: d / "nowhere.jpg", "No photo at"),
        (lambda d: d, "is a folder"),
        (lambda d: _write(d / "empty.jpg", b""), "is empty"),
        (lambda d: _write(d / "notes.jpg", b"not a photo"), "not a readable image"),
    ],
)
def test_a_missing_or_unreadable_file_gets_a_clear_message(tmp_path, make, words):
    path = make(tmp_path)
    with pytest.raises(OwnPhotoError, match=words) as err:
        load_own_photo(path)
    assert str(path) in str(err.value)


def test_prediction_scales_pixels_and_returns_six_probabilities():
    model = FakeModel([0.1, 0.6, 0.1, 0.1, 0.05, 0.05])
    img = np.full((64, 64, 3), 255, np.uint8)
    p = predict_own_photo(model, img)
    assert p.shape == (6,) and abs(p[1] - 0.6) < 1e-6
    assert model.seen.shape == (1, 64, 64, 3) and model.seen.max() == pytest.approx(1.0)
    with pytest.raises(OwnPhotoError, match="64, 64, 3"):
        predict_own_photo(model, np.zeros((32, 32, 3), np.uint8))


def test_the_figure_shows_the_image_and_one_bar_per_class(tmp_path):
    p = [0.05, 0.05, 0.1, 0.7, 0.05, 0.05]
    Image.fromarray(_landscape()).save(tmp_path / "hand.jpg")
    image, probabilities, fig = try_own_photo(FakeModel(p), tmp_path / "hand.jpg")
    ax_img, ax_bar = fig.axes
    assert ax_img.images[0].get_array().shape == (64, 64, 3)
    heights = [bar.get_height() for bar in ax_bar.patches]
    np.testing.assert_allclose(heights, p, atol=1e-6)
    assert "says 3" in ax_bar.get_title() and "70%" in ax_bar.get_title()
    fig2 = show_own_photo(image, probabilities, classes=np.arange(6))
    assert [t.get_text() for t in fig2.axes[1].get_xticklabels()] == list("012345")


# The notebook's cell: it prints, shows, and never raises for a student's mistake.


def test_the_notebook_call_prints_the_answer_and_returns_the_figure(tmp_path, capsys):
    p = [0.05, 0.05, 0.1, 0.7, 0.05, 0.05]
    Image.fromarray(_landscape()).save(tmp_path / "hand.jpg")
    fig = try_in_notebook(FakeModel(p, steps=34), tmp_path / "hand.jpg")
    out = capsys.readouterr()
    assert out.err == ""
    assert out.out.splitlines() == [
        "Photo: hand.jpg, 300x200 pixels; the network reads its centre 200x200 square, resized "
        "to 64x64.",
        "The network says 3 (probability 0.70).",
        "Probabilities: 0: 0.05, 1: 0.05, 2: 0.10, 3: 0.70, 4: 0.05, 5: 0.05",
    ]
    assert len(fig.axes) == 2 and len(fig.axes[1].patches) == 6


def test_the_notebook_call_without_a_photo_or_a_network_says_what_to_do(
        tmp_path, capsys, monkeypatch):
    assert try_in_notebook(FakeModel([1, 0, 0, 0, 0, 0], steps=1), tmp_path / "nope.jpg") is None
    assert capsys.readouterr().out == (
        f"Could not use the photo: No photo at {tmp_path / 'nope.jpg'}. Put a JPEG or PNG of "
        "your hand there (or change the path in this cell) and run the cell again.\n")
    monkeypatch.chdir(tmp_path)  # a name without a folder: the message says where it looked
    try_in_notebook(None, "my_hand.jpg")
    assert f"No photo at my_hand.jpg (in the folder {tmp_path})." in capsys.readouterr().out
    Image.fromarray(_landscape()).save(tmp_path / "hand.png")
    fig = try_in_notebook(None, tmp_path / "hand.png")  # not built: the photo alone
    assert "No network to ask: `model` is not defined" in capsys.readouterr().out
    assert len(fig.axes) == 1 and fig.axes[0].images[0].get_array().shape == (64, 64, 3)
    fig = try_in_notebook(FakeModel([0, 1, 0, 0, 0, 0]), tmp_path / "hand.png")  # not trained
    out = capsys.readouterr().out
    assert "no training step recorded" in out and "The network says 1" in out
    assert len(fig.axes) == 2
    try_in_notebook(FakeModel([0.5, 0.5], steps=3), tmp_path / "hand.png")  # wrong network
    assert "Could not ask the network: the model gave 2 outputs" in capsys.readouterr().out


# The sample photo that ships with the kit.


def test_the_sample_photo_is_a_4_by_3_jpeg_whose_centre_is_the_rendered_hand():
    with Image.open(own_photo.SAMPLE_PHOTO) as im:
        assert im.format == "JPEG" and im.size == (512, 384)
        assert b"not a photo of a real hand" in im.info["comment"]
    seen = load_own_photo(own_photo.SAMPLE_PHOTO).astype(int)
    rng = np.random.default_rng(
        [own_photo.SAMPLE_SEED, own_photo.SAMPLE_STREAM, own_photo.SAMPLE_INDEX])
    rendered = handsigns.render_image(own_photo.SAMPLE_LABEL, rng).astype(int)
    # Crop and resize give back the 64x64 render, up to the JPEG and the grain.
    assert np.abs(seen - rendered).mean() < 2.0


def test_the_shipped_sample_photo_is_what_its_command_writes(tmp_path, capsys):
    """Fails when the renderer changed: run `python -m resnet_kit.own_photo sample`."""
    assert own_photo.main(["sample", "--out", str(tmp_path / "again.jpg")]) == 0
    assert "rendered, label 3" in capsys.readouterr().out
    shipped = np.asarray(Image.open(own_photo.SAMPLE_PHOTO), dtype=int)
    again = np.asarray(Image.open(tmp_path / "again.jpg"), dtype=int)
    # Bit for bit on the kit's machine; another CPU or NumPy may flip a last bit somewhere.
    assert np.abs(shipped - again).mean() < 0.5

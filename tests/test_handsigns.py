"""The hand-signs dataset: committed files match the seeded renderer, schema, label semantics."""

import shutil

import h5py
import numpy as np
import pytest

from resnet_kit import handsigns as hs

EXPECTED = {
    # split: (path relative to repo, x key, y key, n images)
    "train": ("data/signs/train_signs.h5", "train_set_x", "train_set_y", 1080),
    "test": ("data/signs/test_signs.h5", "test_set_x", "test_set_y", 120),
    "hidden": ("autograder/resnets/data/signs_hidden.h5", "test_set_x", "test_set_y", 300),
}


@pytest.fixture(scope="module")
def committed(repo_root):
    out = {}
    for split, (rel, kx, ky, _) in EXPECTED.items():
        with h5py.File(repo_root / rel, "r") as f:
            arrays = (np.array(f[kx]), np.array(f[ky]), np.array(f["list_classes"]))
            out[split] = (*arrays, sorted(f.keys()))
    return out


@pytest.mark.parametrize("split", list(EXPECTED))
def test_committed_file_has_the_coursera_schema(committed, split):
    _, kx, ky, n = EXPECTED[split]
    x, y, classes, keys = committed[split]
    assert keys == sorted([kx, ky, "list_classes"])
    assert x.dtype == np.uint8 and x.shape == (n, 64, 64, 3)
    assert y.dtype == np.int64 and y.shape == (n,)
    assert classes.dtype == np.int64 and classes.tolist() == [0, 1, 2, 3, 4, 5]


@pytest.mark.parametrize("split", list(EXPECTED))
def test_each_class_has_exactly_its_share_and_order_is_shuffled(committed, split):
    n = EXPECTED[split][3]
    y = committed[split][1]
    assert np.bincount(y, minlength=6).tolist() == [n // 6] * 6
    assert not np.array_equal(y, np.sort(y))
    assert np.array_equal(y, hs.split_labels(split))


@pytest.mark.parametrize("split", list(EXPECTED))
def test_regenerating_a_slice_with_the_recorded_seed_gives_the_committed_images(committed, split):
    x, y, _, _ = committed[split]
    idx = [0, len(y) // 2, len(y) - 1]
    rx, ry = hs.render_split(split, idx)
    assert np.array_equal(ry, y[idx])
    assert np.array_equal(rx, x[idx])


def test_rendering_is_deterministic_and_differs_across_indices_and_seeds():
    a = hs.render_image(3, np.random.default_rng([1, 2, 3]))
    b = hs.render_image(3, np.random.default_rng([1, 2, 3]))
    c = hs.render_image(3, np.random.default_rng([1, 2, 4]))
    d = hs.render_image(3, np.random.default_rng([9, 2, 3]))
    assert np.array_equal(a, b)
    for other in (c, d):
        assert np.abs(a.astype(int) - other.astype(int)).mean() > 5


def test_splits_use_distinct_seeds_and_share_no_image(committed):
    splits = hs.all_splits()
    assert sorted(splits) == ["hidden", "test", "train"]
    seeds = {(s.base_seed, s.split_id) for s in splits.values()}
    assert len(seeds) == len(splits)
    hashes = [hash(img.tobytes()) for split in EXPECTED for img in committed[split][0]]
    assert len(set(hashes)) == len(hashes)


# The digits each class raises (finger indices: 0 index ... 3 little) and whether the thumb is up.
POSES = {
    1: ((0,), False),  # index; a fist with the thumb over the curled fingers
    2: ((0, 1), False),  # a V
    3: ((0, 1), True),  # thumb, index and middle
    4: ((0, 1, 2, 3), False),  # four fingers, thumb folded across the palm
    5: ((0, 1, 2, 3), True),  # all five
}


def _direction(points):
    """Angle (degrees, 90 = towards the fingers) from a chain's base to its tip."""
    d = np.asarray(points[-1]) - np.asarray(points[0])
    return np.degrees(np.arctan2(d[1], d[0]))


def _clearance(point, parts):
    """How far ``point`` (hand units; or arrays of u and v) is from the skin of every part:
    > 0 means uncovered."""
    X, Y = (np.array([[point[0]]]), np.array([[point[1]]])) if np.ndim(point) == 1 else point
    gaps = []
    for p in parts:
        if p.kind == "body":
            gaps.append(hs._polygon(X, Y, np.asarray(p.points[0])))
            gaps += [hs._capsule(X, Y, a, b, ra, rb) for a, b, ra, rb in p.blobs]
        else:
            for k in range(len(p.points) - 1):
                a, b = p.points[k], p.points[k + 1]
                gaps.append(hs._capsule(X, Y, a, b, p.radii[k], p.radii[k + 1]))
    gap = np.min(gaps, axis=0)
    return float(gap[0, 0]) if np.ndim(point) == 1 else gap


def _hole(parts, ring):
    """The most open point inside the ring's bounding box, its clearance, and whether skin
    surrounds it (a ray in each of 16 directions hits a part within 0.8 hand units)."""
    pts = np.concatenate([np.asarray(p.points, float) for p in ring])
    u = np.linspace(pts[:, 0].min(), pts[:, 0].max(), 60)
    v = np.linspace(pts[:, 1].min(), pts[:, 1].max(), 60)
    U, V = np.meshgrid(u, v)
    gap = _clearance((U, V), parts)
    k = np.unravel_index(np.argmax(gap), gap.shape)
    centre = np.array([U[k], V[k]])
    steps = np.linspace(0.0, 0.8, 81)
    enclosed = True
    for t in np.linspace(0, 2 * np.pi, 16, endpoint=False):
        ray = centre[:, None] + steps * np.array([[np.cos(t)], [np.sin(t)]])
        enclosed &= bool((_clearance((ray[:1], ray[1:]), parts) < 0).any())
    return centre, float(gap[k]), enclosed


@pytest.mark.parametrize("label", range(6))
def test_each_class_raises_that_many_digits(label):
    for i in range(40):
        parts, _ = hs._hand_parts(label, np.random.default_rng([5, label, i]))
        roles = [p.role for p in parts]
        raised = roles.count("raised") + roles.count("thumb-up")
        assert raised == label, roles
        # Every digit is drawn (folded ones too), not left out: body + 4 fingers + thumb.
        assert len(parts) == 6 and roles.count("body") == 1
        if label == 0:
            # A ring seen from the thumb side: four curled fingers, the thumb tip meeting the
            # index tip, and a hole that no part covers, enclosed by skin all round and big
            # enough to show (0.14 hand units across or more: 3 px or more at the smallest
            # palm, 19 px; the photos' holes are small too); nothing sticks up like a raised
            # digit.
            assert roles.count("curled") == 4 and roles.count("thumb-o") == 1, roles
            thumb = parts[roles.index("thumb-o")]
            index = parts[roles.index("thumb-o") - 1]  # drawn just behind the thumb
            assert index.role == "curled"
            gap = np.linalg.norm(np.subtract(thumb.points[-1], index.points[-1]))
            assert gap < thumb.radii[-1] + index.radii[-1]
            centre, clearance, enclosed = _hole(parts, [index, thumb])
            assert clearance > 0.07 and enclosed, (centre, clearance, enclosed)
            top = max(np.asarray(p.points)[:, 1].max() for p in parts if p.kind == "chain")
            assert top < 1.1  # a raised fingertip would be 1.4 or more above the palm centre
            continue
        fingers, thumb_up = POSES[label]
        up = sorted(
            int(np.argmin(np.abs(hs.KNUCKLE_U - p.points[0][0])))
            for p in parts if p.role == "raised"
        )
        assert up == list(fingers), (label, up)
        assert ("thumb-up" in roles) == thumb_up and ("thumb-folded" in roles) != thumb_up
        assert roles.count("folded") == 4 - len(fingers)
        for p in parts:
            if p.role == "raised":  # fingertip well above the knuckles
                assert p.points[-1][1] > p.points[0][1] + 0.4
            if p.role == "folded":  # curled into the palm: the tip below the knuckle, on the palm
                assert p.points[-1][1] < p.points[0][1] - 0.1
                assert p.points[-1][1] > 0.0
            if p.role == "thumb-up":  # out to the side, away from the palm
                assert p.points[-1][0] > p.points[0][0] + 0.3
            if p.role == "thumb-folded":  # across the palm, towards the little finger
                assert p.points[-1][0] < p.points[0][0] - 0.2
        if label == 2:  # a wide V: index and middle spread well apart (22-41 degrees, bent)
            index, middle = (p for p in reversed(parts) if p.role == "raised")
            assert _direction(middle.points) - _direction(index.points) > 15


def test_more_raised_fingers_put_more_skin_near_the_top(committed):
    """Label semantics in pixels: skin-coloured (red > blue) pixels in the top rows.

    Measured (share of the top 16 rows that is skin, classes 0-5): the committed train split
    .073 .047 .085 .088 .106 .101 (3-5 0.038 above 0-1: the ring is held higher, as in the
    photos); 1080 real SIGNS photos .050 .058 .071 .112 .181 .134 (0.12 above). A sanity check
    that raised digits reach up, not a likeness score: shuffled labels give -0.006 to 0.005.
    """
    x, y, _, _ = committed["train"]
    f = x[:, :16].astype(int)
    skin = ((f[..., 0] - f[..., 2]) > 25).mean(axis=(1, 2))
    per_class = np.array([skin[y == c].mean() for c in range(6)])
    assert per_class[[3, 4, 5]].mean() > per_class[[0, 1]].mean() + 0.02
    assert per_class[2] > per_class[0]


def test_quick_verify_passes_on_the_committed_split(repo_root, capsys):
    data_dir = str(repo_root / "data/signs")
    assert hs.main(["verify", "--split", "test", "--sample", "12", "--data-dir", data_dir]) == 0
    assert "test: OK, 12 of 120 images identical" in capsys.readouterr().out


def test_verify_fails_on_a_tampered_copy(repo_root, tmp_path, capsys):
    shutil.copy(repo_root / "data/signs/test_signs.h5", tmp_path / "test_signs.h5")
    with h5py.File(tmp_path / "test_signs.h5", "r+") as f:
        x = f["test_set_x"]
        x[7, 10, 10, 0] = (int(x[7, 10, 10, 0]) + 1) % 256
    assert hs.main(["verify", "--split", "test", "--data-dir", str(tmp_path)]) != 0
    out = capsys.readouterr().out
    assert "verify FAILED" in out and "index 7" in out


def test_verify_fails_on_a_wrong_schema(tmp_path, capsys):
    with h5py.File(tmp_path / "test_signs.h5", "w") as f:
        f["test_set_x"] = np.zeros((120, 64, 64, 3), np.uint8)
        f["test_set_y"] = np.zeros(120, np.int32)
        f["list_classes"] = np.arange(6)
    assert hs.main(["verify", "--split", "test", "--data-dir", str(tmp_path)]) != 0
    assert "expected int64" in capsys.readouterr().out


# The hidden split: its seed lives in the instructor-only package, and instructors can make a
# private one.


def test_the_student_package_holds_no_hidden_seed(repo_root):
    from autograder.resnets import hidden_split

    assert "hidden" not in hs.SPLITS
    seed = str(hidden_split.DEFAULT_SEED)
    for path in sorted((repo_root / "resnet_kit").rglob("*.py")):
        assert seed not in path.read_text(), path
    assert seed not in (repo_root / "data" / "README.md").read_text()


def test_the_shipped_hidden_split_is_reported_as_the_public_default():
    import autograder.resnets as resnets

    notes = resnets.grading_notes()
    assert len(notes) == 1 and "public default" in notes[0]
    assert "python -m autograder.resnets.hidden_split" in notes[0]


def test_a_private_hidden_split_in_one_command(tmp_path, monkeypatch, capsys):
    from autograder.resnets import hidden_split

    monkeypatch.setattr(hidden_split, "PER_CLASS", 2)  # 12 images: seconds, not a minute
    out = tmp_path / "signs_hidden.h5"
    assert hidden_split.notes(out) == [
        f"the hidden split {out} is missing; make a private one with `{hidden_split.COMMAND}`"]
    assert hidden_split.main(["--seed", "12345", "--out", str(out)]) == 0
    assert "private hidden split (seed 12345" in capsys.readouterr().out
    assert hidden_split.recorded_seed(out) == 12345
    assert hidden_split.notes(out) == []
    with h5py.File(out, "r") as f:
        assert sorted(f.keys()) == ["list_classes", "test_set_x", "test_set_y"]
        y = np.array(f["test_set_y"])
    assert np.bincount(y, minlength=6).tolist() == [2] * 6
    assert not np.array_equal(y, hs.split_labels(hidden_split.split_for(hidden_split.DEFAULT_SEED)))
    # verify finds the seed in the file
    assert hs.main(["verify", "--split", "hidden", "--hidden-path", str(out)]) == 0
    assert "hidden: OK, 12 images identical to seed 12345" in capsys.readouterr().out
    # a random seed is not printed unless asked for, and differs from run to run
    assert hidden_split.main(["--random-seed", "--out", str(out)]) == 0
    assert "a fresh secret seed" in capsys.readouterr().out
    assert hidden_split.recorded_seed(out) not in (None, 12345, hidden_split.DEFAULT_SEED)
    assert hidden_split.main(["--default", "--out", str(out)]) == 0
    assert hidden_split.is_public_default(out)
    assert "public default" in hidden_split.notes(out)[0]


def test_without_the_instructor_package_only_public_splits_exist(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_autograder(name, *args, **kwargs):
        if name.startswith("autograder"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_autograder)
    assert sorted(hs.all_splits()) == ["test", "train"]
    with pytest.raises(KeyError, match="unknown split 'hidden'"):
        hs.split_labels("hidden")

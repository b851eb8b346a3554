"""The canonical .npz + JSON sidecar: round trip, reproducible bytes, clear errors."""

import json
import zipfile

import numpy as np
import pytest
from advtail.data.arrays import (
    ImageSet,
    file_sha256,
    load_image_set,
    save_image_set,
    sidecar_path,
)
from advtail.errors import DataFileError
from conftest import make_image_set


def test_round_trip_and_sidecar(tmp_path):
    original = make_image_set([3, 5, 2], image_size=4, channels=3)
    path = tmp_path / "split.npz"
    sidecar = save_image_set(path, original, source="toy")
    loaded = load_image_set(path)
    assert np.array_equal(loaded.images, original.images)
    assert np.array_equal(loaded.labels, original.labels)
    assert loaded.images.dtype == np.uint8 and loaded.labels.dtype == np.int64
    assert loaded.class_names == ["c0", "c1", "c2"]
    on_disk = json.loads(sidecar_path(path).read_text())
    assert on_disk == sidecar
    assert on_disk["class_counts"] == [3, 5, 2]
    assert on_disk["num_images"] == 10
    assert (on_disk["image_size"], on_disk["channels"]) == (4, 3)
    assert on_disk["sha256"] == file_sha256(path)
    assert on_disk["source"] == "toy"


def test_bytes_are_reproducible(tmp_path):
    image_set = make_image_set([7, 7])
    save_image_set(tmp_path / "a.npz", image_set)
    save_image_set(tmp_path / "b.npz", image_set)
    assert file_sha256(tmp_path / "a.npz") == file_sha256(tmp_path / "b.npz")


@pytest.mark.bad_input
def test_corrupt_file_is_named(tmp_path):
    path = tmp_path / "split.npz"
    save_image_set(path, make_image_set([4, 4]))
    path.write_bytes(b"not a zip archive at all")
    with pytest.raises(DataFileError, match="split.npz: sha256 .* differs"):
        load_image_set(path)
    with pytest.raises(DataFileError, match="split.npz: not a readable .npz"):
        load_image_set(path, verify=False)


@pytest.mark.bad_input
def test_truncated_file_is_named(tmp_path):
    path = tmp_path / "split.npz"
    save_image_set(path, make_image_set([40, 40], image_size=8))
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(DataFileError, match=str(path)):
        load_image_set(path, verify=False)


@pytest.mark.bad_input
def test_missing_files(tmp_path):
    with pytest.raises(DataFileError, match="file not found"):
        load_image_set(tmp_path / "absent.npz")
    path = tmp_path / "split.npz"
    save_image_set(path, make_image_set([2, 2]))
    sidecar_path(path).unlink()
    with pytest.raises(DataFileError, match="split.json: sidecar file not found"):
        load_image_set(path)


@pytest.mark.bad_input
def test_wrong_arrays_and_pickles_rejected(tmp_path):
    path = tmp_path / "split.npz"
    save_image_set(path, make_image_set([2, 2]))
    sidecar = json.loads(sidecar_path(path).read_text())
    # a float image array under the right name
    np.savez(path, images=np.zeros((4, 2, 2, 1), np.float32), labels=np.zeros(4, np.int64))
    with pytest.raises(DataFileError, match="'images' must be uint8"):
        load_image_set(path, verify=False)
    # wrong array names
    np.savez(path, x=np.zeros(3))
    with pytest.raises(DataFileError, match="expected arrays 'images' and 'labels'"):
        load_image_set(path, verify=False)
    # an object array needs pickle, which is never allowed
    with zipfile.ZipFile(path, "w") as archive, archive.open("images.npy", "w") as handle:
        np.lib.format.write_array(handle, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(DataFileError, match="not a readable .npz"):
        load_image_set(path, verify=False)
    # labels out of range for the sidecar's classes
    np.savez(path, images=np.zeros((2, 2, 2, 1), np.uint8), labels=np.array([0, 5]))
    sidecar_path(path).write_text(json.dumps(sidecar))
    with pytest.raises(DataFileError, match=r"labels must lie in \[0, 2\)"):
        load_image_set(path, verify=False)


@pytest.mark.bad_input
def test_save_refuses_non_canonical(tmp_path):
    bad = ImageSet(np.zeros((2, 4, 4), np.uint8), np.zeros(2, np.int64), ["a"])
    with pytest.raises(DataFileError, match="shape"):
        save_image_set(tmp_path / "x.npz", bad)
    assert not (tmp_path / "x.npz").exists()


@pytest.mark.bad_input
def test_a_failed_write_names_the_file_and_keeps_the_earlier_one(tmp_path):
    """A full disk while writing (ENOSPC, here raised by the writer) is one error naming
    the file; the file that was there is unchanged and no temporary file is left."""
    import errno

    from advtail.data.arrays import atomic_write_bytes

    path = tmp_path / "last.pt"
    path.write_bytes(b"earlier")

    def full_disk(handle):
        handle.write(b"part")
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(DataFileError) as caught:
        atomic_write_bytes(path, full_disk)
    assert str(caught.value).startswith(f"{path}: could not be written (No space left")
    assert path.read_bytes() == b"earlier"
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]

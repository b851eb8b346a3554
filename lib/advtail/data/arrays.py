"""The canonical on-disk format of every image set the pipeline writes.

One ``.npz`` per dataset split or subset holds ``images`` (uint8, NHWC) and
``labels`` (int64; -1 marks an unlabelled image), plus optional extra int64
arrays such as ``source_index``. A JSON sidecar beside it (same stem, ``.json``)
records the source, image size, channels, class names, per-class counts and the
sha256 of the ``.npz``. Files are written byte-for-byte reproducibly (fixed zip
timestamps) and atomically, so the same inputs give the same checksum on any
machine and an interrupted write never leaves a half file under the final name.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from advtail.errors import DataFileError

FORMAT_VERSION = 1
IMAGES = "images"
LABELS = "labels"
UNLABELLED = -1
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
_UMASK = os.umask(0)
os.umask(_UMASK)


@dataclass
class ImageSet:
    """Images (uint8 NHWC), labels (int64, -1 = unlabelled) and their description."""

    images: np.ndarray
    labels: np.ndarray
    class_names: list[str]
    extra: dict[str, np.ndarray] = field(default_factory=dict)
    meta: dict = field(default_factory=dict)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def class_counts(self) -> np.ndarray:
        """Labelled images per class (unlabelled ones are not counted)."""
        return class_counts(self.labels, self.num_classes)


def class_counts(labels: np.ndarray, num_classes: int) -> np.ndarray:
    labelled = labels[labels >= 0]
    return np.bincount(labelled, minlength=num_classes).astype(np.int64)


def sidecar_path(npz_path: str | Path) -> Path:
    return Path(npz_path).with_suffix(".json")


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def atomic_write_bytes(path: str | Path, write) -> None:
    """Call ``write(handle)`` on a temporary file next to ``path``, then rename it into place.

    A failed write (a full disk, a read-only folder) leaves any earlier file at ``path``
    as it was and is one :class:`DataFileError` naming ``path``."""
    path = Path(path)
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        with os.fdopen(fd, "wb") as handle:
            write(handle)
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; give the usual mode
        os.replace(tmp, path)
    except BaseException as err:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)
        if isinstance(err, OSError):
            reason = err.strerror or str(err)
            raise DataFileError(
                path, f"could not be written ({reason}); any earlier file is unchanged"
            ) from None
        raise


def write_npz(path: str | Path, arrays: dict[str, np.ndarray]) -> None:
    """Write ``arrays`` as a reproducible, compressed ``.npz`` (loadable by ``np.load``)."""

    def write(handle):
        with zipfile.ZipFile(handle, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for name, array in arrays.items():
                buffer = io.BytesIO()
                np.lib.format.write_array(buffer, np.ascontiguousarray(array), allow_pickle=False)
                info = zipfile.ZipInfo(f"{name}.npy", date_time=_ZIP_EPOCH)
                info.compress_type = zipfile.ZIP_DEFLATED
                info.external_attr = 0o644 << 16
                archive.writestr(info, buffer.getvalue())

    atomic_write_bytes(path, write)


def write_json(path: str | Path, payload: dict) -> None:
    text = json.dumps(payload, indent=2, sort_keys=False) + "\n"
    atomic_write_bytes(path, lambda handle: handle.write(text.encode()))


def check_image_arrays(images: np.ndarray, labels: np.ndarray, num_classes: int, where) -> None:
    """Raise DataFileError unless ``images``/``labels`` are in the canonical form."""
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] not in (1, 3):
        raise DataFileError(
            where,
            f"'images' must be uint8 of shape (N, H, W, 1 or 3), "
            f"got {images.dtype} of shape {images.shape}",
        )
    if labels.dtype != np.int64 or labels.shape != (images.shape[0],):
        raise DataFileError(
            where,
            f"'labels' must be int64 of shape ({images.shape[0]},), "
            f"got {labels.dtype} of shape {labels.shape}",
        )
    if labels.size and (labels.min() < UNLABELLED or labels.max() >= num_classes):
        raise DataFileError(
            where,
            f"labels must lie in [0, {num_classes}) or be {UNLABELLED} (unlabelled), "
            f"found values from {labels.min()} to {labels.max()}",
        )


def check_same_form(sets: dict) -> None:
    """Image sets read together (``{path: ImageSet}``, the first the reference) share
    image size, channels and class names; a mismatch names the file that differs."""
    (first_path, first), *others = sets.items()
    for path, other in others:
        for what, expected, found in (
            ("image size", first.images.shape[1:3], other.images.shape[1:3]),
            ("channels", first.images.shape[3], other.images.shape[3]),
            ("class names", list(first.class_names), list(other.class_names)),
        ):
            if expected != found:
                raise DataFileError(
                    path,
                    f"{what} {_shown(found)} differ from {_shown(expected)} of {first_path} "
                    "(splits of different datasets or settings?)",
                )


def _shown(value) -> str:
    if isinstance(value, tuple):
        return "x".join(str(n) for n in value)
    if isinstance(value, list) and len(value) > 6:
        return f"{value[:6]}... ({len(value)})"
    return str(value)


def save_image_set(path: str | Path, image_set: ImageSet, **meta) -> dict:
    """Write ``image_set`` to ``path`` (.npz) and its sidecar; return the sidecar dict."""
    check_image_arrays(image_set.images, image_set.labels, image_set.num_classes, path)
    arrays = {IMAGES: image_set.images, LABELS: image_set.labels, **image_set.extra}
    write_npz(path, arrays)
    counts = image_set.class_counts()
    sidecar = {
        "format_version": FORMAT_VERSION,
        **image_set.meta,
        **meta,
        "num_images": int(image_set.images.shape[0]),
        "num_unlabelled": int((image_set.labels == UNLABELLED).sum()),
        "image_size": int(image_set.images.shape[1]),
        "channels": int(image_set.images.shape[3]),
        "num_classes": image_set.num_classes,
        "class_names": list(image_set.class_names),
        "class_counts": [int(c) for c in counts],
        "arrays": sorted(arrays),
        "sha256": file_sha256(path),
    }
    write_json(sidecar_path(path), sidecar)
    return sidecar


def load_sidecar(npz_path: str | Path) -> dict:
    path = sidecar_path(npz_path)
    if not path.exists():
        raise DataFileError(path, "sidecar file not found (it is written beside every .npz)")
    rebuild = "delete it and Snakemake rebuilds it with its .npz"
    try:
        sidecar = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise DataFileError(path, f"not valid JSON ({err}); {rebuild}") from None
    if not isinstance(sidecar, dict):
        raise DataFileError(path, f"expected a JSON object; {rebuild}")
    for key in ("class_names", "sha256"):
        if key not in sidecar:
            raise DataFileError(path, f"sidecar lacks the key '{key}'; {rebuild}")
    return sidecar


def load_image_set(path: str | Path, *, verify: bool = True) -> ImageSet:
    """Load a canonical ``.npz`` and its sidecar, checking form and (if ``verify``) checksum."""
    path = Path(path)
    if not path.exists():
        raise DataFileError(path, "file not found")
    sidecar = load_sidecar(path)
    if verify:
        actual = file_sha256(path)
        if actual != sidecar["sha256"]:
            raise DataFileError(
                path,
                f"sha256 {actual[:12]}... differs from {sidecar['sha256'][:12]}... recorded in "
                f"{sidecar_path(path).name}: the file is corrupt or was changed; delete it and "
                "rerun the rule that makes it",
            )
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as err:
        raise DataFileError(path, f"not a readable .npz archive ({err})") from None
    missing = {IMAGES, LABELS} - set(arrays)
    if missing:
        raise DataFileError(
            path, f"expected arrays 'images' and 'labels', found {sorted(arrays) or 'none'}"
        )
    images, labels = arrays.pop(IMAGES), arrays.pop(LABELS)
    class_names = [str(name) for name in sidecar["class_names"]]
    check_image_arrays(images, labels, len(class_names), path)
    return ImageSet(images, labels, class_names, extra=arrays, meta=sidecar)

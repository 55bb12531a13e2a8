"""COCO instances JSON: write it from WIDER FACE-like records, read it through pycocotools, and the
COCO results format of detections.

Conventions:
- ``bbox`` is ``[x, y, w, h]`` in pixels (COCO's own), ``area`` is ``w * h`` for the files we write;
- the WIDER FACE ``invalid`` attribute becomes ``iscrowd = 1``: pycocotools then ignores the face (a
  detection on it is neither a true nor a false positive), which is how the WIDER protocol treats it;
- image ids are 1, 2, ... in the order of the records; annotation ids 1, 2, ... likewise.

Readers never drop anything silently: a file that pycocotools would half-read (an annotation whose
image or category does not exist, a duplicate id, a missing key that only fails later inside
COCOeval) is an error that names the file and the offending element; a JSON syntax error names the
line and column.
"""
from __future__ import annotations

import contextlib
import io
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np
from pycocotools.coco import COCO

__all__ = [
    "INVALID_COLUMN",
    "coco_from_dict",
    "detections_to_coco_results",
    "load_coco",
    "load_coco_results",
    "validate_coco_results",
    "write_coco_json",
    "write_coco_results",
]

# Column of the WIDER FACE attribute array that holds the "invalid" flag
# (columns: blur, expression, illumination, invalid, occlusion, pose).
INVALID_COLUMN = 3

_IMAGE_KEYS = ("id",)
_ANNOTATION_KEYS = ("id", "image_id", "category_id", "bbox", "area", "iscrowd")
_CATEGORY_KEYS = ("id",)
_RESULT_KEYS = ("image_id", "category_id", "bbox", "score")


# ---------------------------------------------------------------------------------------------- writing


def write_coco_json(
    path,
    images: Iterable,
    sizes: Mapping[str, tuple[int, int]] | Sequence[tuple[int, int]],
    category: str = "face",
) -> None:
    """Write a COCO instances JSON from WIDER FACE-like records.

    images: records with ``.name`` (str, the image path relative to the images root, written as
        ``file_name``), ``.boxes`` ((N, 4) x y w h in pixels) and ``.attributes`` ((N, 6) int with the
        ``invalid`` flag in column 3, or None); e.g. ``gslib.data.wider.WiderImage``.
    sizes: (width, height) of every image, keyed by name or in the order of ``images``.
    category: name of the single category (id 1).
    """
    images = list(images)
    if isinstance(sizes, Mapping):
        missing = [im.name for im in images if im.name not in sizes]
        if missing:
            raise ValueError(f"{path}: no (width, height) for {len(missing)} image(s), e.g. {missing[:3]}")
        sizes = [sizes[im.name] for im in images]
    elif len(sizes) != len(images):
        raise ValueError(f"{path}: {len(sizes)} sizes for {len(images)} images")

    seen: set[str] = set()
    coco_images, annotations = [], []
    for image_id, (record, (width, height)) in enumerate(zip(images, sizes), start=1):
        if record.name in seen:
            raise ValueError(f"{path}: image {record.name!r} appears twice")
        seen.add(record.name)
        coco_images.append({"id": image_id, "file_name": record.name, "width": int(width), "height": int(height)})

        boxes = np.asarray(record.boxes, dtype=np.float64).reshape(-1, 4)
        if not np.isfinite(boxes).all():
            raise ValueError(f"{path}: image {record.name!r} has a non-finite box")
        crowd = _invalid_flags(record, len(boxes), path)
        for box, is_crowd in zip(boxes.tolist(), crowd.tolist()):
            annotations.append({
                "id": len(annotations) + 1,
                "image_id": image_id,
                "category_id": 1,
                "bbox": box,
                "area": box[2] * box[3],
                "iscrowd": int(is_crowd),
            })

    dataset = {
        "info": {"description": "written by gslib.data.coco.write_coco_json"},
        "images": coco_images,
        "annotations": annotations,
        "categories": [{"id": 1, "name": category, "supercategory": category}],
    }
    _write_json(path, dataset)


def _invalid_flags(record, num_boxes: int, path) -> np.ndarray:
    """(N,) bool: the ``invalid`` column of ``record.attributes``, all False if there are none."""
    attributes = getattr(record, "attributes", None)
    if attributes is None:
        return np.zeros(num_boxes, dtype=bool)
    attributes = np.asarray(attributes).reshape(num_boxes, -1) if num_boxes else np.zeros((0, 6))
    if attributes.shape[1] <= INVALID_COLUMN:
        raise ValueError(
            f"{path}: image {record.name!r}: attributes of shape {attributes.shape} have no invalid column"
        )
    return attributes[:, INVALID_COLUMN] != 0


def write_coco_results(path, detections: Iterable[Mapping]) -> None:
    """Write detections as a COCO results JSON: ``[{"image_id", "category_id", "bbox": [x, y, w, h],
    "score"}, ...]``. Numpy scalars and arrays are converted; every record is checked first."""
    _write_json(path, validate_coco_results(detections, source=str(path)))


def detections_to_coco_results(
    coco: COCO,
    detections: Mapping[str, tuple[np.ndarray, np.ndarray]],
    category_id: int = 1,
) -> list[dict]:
    """Per-image arrays -> COCO results records.

    coco: the ground truth, to map ``file_name`` to image id.
    detections: ``{file_name: (boxes (N, 4) x y w h in pixels, scores (N,))}``.
    """
    ids = {img["file_name"]: img["id"] for img in coco.dataset["images"] if "file_name" in img}
    unknown = [name for name in detections if name not in ids]
    if unknown:
        raise ValueError(f"{len(unknown)} detected image(s) are not in the ground truth, e.g. {unknown[:3]}")
    results = []
    for name, (boxes, scores) in detections.items():
        boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        scores = np.asarray(scores, dtype=np.float64).reshape(-1)
        if len(boxes) != len(scores):
            raise ValueError(f"image {name!r}: {len(boxes)} boxes but {len(scores)} scores")
        for box, score in zip(boxes.tolist(), scores.tolist()):
            results.append({"image_id": ids[name], "category_id": category_id, "bbox": box, "score": score})
    return results


def _write_json(path, obj) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as f:
        json.dump(obj, f)


# ---------------------------------------------------------------------------------------------- reading


def load_coco(path) -> COCO:
    """Read a COCO instances JSON into a ``pycocotools.coco.COCO``, after checking that pycocotools and
    COCOeval will use every element of it (see the module docstring). Raises ValueError naming the file."""
    return coco_from_dict(_read_json(path), source=str(path))


def coco_from_dict(dataset: dict, source: str = "<dict>") -> COCO:
    """A ``COCO`` from an already parsed instances dict, with the checks of :func:`load_coco`."""
    _check_dataset(dataset, source)
    coco = COCO()  # no file: we parsed and checked it ourselves, with errors that name it
    coco.dataset = dataset
    with contextlib.redirect_stdout(io.StringIO()):  # createIndex prints progress
        coco.createIndex()
    return coco


def load_coco_results(path) -> list[dict]:
    """Read a COCO results JSON (a list of ``{"image_id", "category_id", "bbox", "score"}``)."""
    records = _read_json(path)
    if not isinstance(records, list):
        raise ValueError(f"{path}: a COCO results file is a JSON list, got {type(records).__name__}")
    return validate_coco_results(records, source=str(path))


def validate_coco_results(records: Iterable[Mapping], source: str = "<results>") -> list[dict]:
    """Check COCO results records and return them as fresh dicts of plain Python numbers (pycocotools'
    ``loadRes`` writes into the records it is given, so the caller's stay untouched)."""
    return [_check_result(r, f"{source}: detection {i}") for i, r in enumerate(records)]


def _read_json(path):
    with open(path) as f:
        try:
            return json.load(f)
        except json.JSONDecodeError as e:
            raise ValueError(f"{path}:{e.lineno}:{e.colno}: invalid JSON: {e.msg}") from None


def _check_dataset(dataset, source: str) -> None:
    if not isinstance(dataset, dict):
        raise ValueError(f"{source}: a COCO instances file is a JSON object, got {type(dataset).__name__}")
    for key in ("images", "annotations", "categories"):
        if not isinstance(dataset.get(key), list):
            raise ValueError(f"{source}: missing or non-list key {key!r}")

    image_ids = _check_ids(dataset["images"], "images", _IMAGE_KEYS, source)
    category_ids = _check_ids(dataset["categories"], "categories", _CATEGORY_KEYS, source)
    _check_ids(dataset["annotations"], "annotations", _ANNOTATION_KEYS, source)
    for i, ann in enumerate(dataset["annotations"]):
        where = f"{source}: annotations[{i}] (id {ann['id']})"
        if ann["image_id"] not in image_ids:
            raise ValueError(f"{where}: image_id {ann['image_id']} is not among the images")
        if ann["category_id"] not in category_ids:
            raise ValueError(f"{where}: category_id {ann['category_id']} is not among the categories")
        _check_bbox(ann["bbox"], where)


def _check_ids(elements: list, name: str, keys: tuple[str, ...], source: str) -> set:
    """Every element is an object with ``keys``; ids are unique (pycocotools' index would keep only the
    last of a duplicate). Returns the set of ids."""
    ids = set()
    for i, element in enumerate(elements):
        if not isinstance(element, dict):
            raise ValueError(f"{source}: {name}[{i}] is not an object")
        for key in keys:
            if key not in element:
                raise ValueError(f"{source}: {name}[{i}]: missing key {key!r}")
        if element["id"] in ids:
            raise ValueError(f"{source}: {name}[{i}]: duplicate id {element['id']}")
        ids.add(element["id"])
    return ids


def _check_bbox(bbox, where: str) -> None:
    if not (isinstance(bbox, (list, tuple)) and len(bbox) == 4):
        raise ValueError(f"{where}: bbox must be [x, y, w, h], got {bbox!r}")
    if not all(isinstance(v, (int, float)) and math.isfinite(v) for v in bbox):
        raise ValueError(f"{where}: bbox must hold 4 finite numbers, got {bbox!r}")


def _check_result(record, where: str) -> dict:
    """A COCO results record with plain Python numbers."""
    if not isinstance(record, Mapping):
        raise ValueError(f"{where}: not an object")
    for key in _RESULT_KEYS:
        if key not in record:
            raise ValueError(f"{where}: missing key {key!r}")
    try:
        bbox = [float(v) for v in np.asarray(record["bbox"], dtype=np.float64).reshape(-1)]
        score = float(record["score"])
    except (TypeError, ValueError):
        raise ValueError(f"{where}: bbox and score must be numbers") from None
    _check_bbox(bbox, where)
    if not math.isfinite(score):
        raise ValueError(f"{where}: score must be finite, got {score}")
    try:
        image_id, category_id = int(record["image_id"]), int(record["category_id"])
    except (TypeError, ValueError):
        raise ValueError(f"{where}: image_id and category_id must be integers") from None
    return {"image_id": image_id, "category_id": category_id, "bbox": bbox, "score": score}

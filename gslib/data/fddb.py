"""FDDB: the fold files and the detection output format of the official evaluation tool.

Files (Jain and Learned-Miller, FDDB tech. report UM-CS-2010-009, and the README of its evaluation code):
- ``FDDB-fold-NN.txt``: one image name per line, e.g. ``2002/08/11/big/img_591`` (no extension);
- ``FDDB-fold-NN-ellipseList.txt``: per image a name line, a count line, then one line per face
  ``major_axis_radius minor_axis_radius angle center_x center_y 1`` (angle in radians);
- detections: per image a name line, a count line, then one line per detection, either a rectangle
  ``left_x top_y width height score`` or an ellipse ``major_axis_radius minor_axis_radius angle
  center_x center_y score``. One file holds one kind (the official tool's ``-f 0`` / ``-f 1``).

Arrays keep the file's column order: ellipses (N, 5) ``ra, rb, angle, cx, cy``; rectangles (N, 4)
``x, y, w, h``; all in pixels of the original image. ``angle`` turns the ``ra`` axis from the x axis
towards the y axis (image coordinates, y down), as the official tool draws it with OpenCV.

Bad input raises :class:`FddbFormatError`, whose message starts with ``path:line:``. With
``lenient=True`` a reader skips what it cannot read instead and says so, as ``gslib.data.wider``'s
readers do: the returned :class:`FddbRecords` list has ``skipped`` (a Counter: reason -> count) and
``problems`` (one ``path:line: message`` per skip). Nothing is dropped silently. The count lines are
trusted (the official tool reads exactly that many lines), except that a record ends early where the
next record visibly starts (a line that is not numbers followed by a count line).
"""
from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from gslib.data.textio import FormatError, Problems, ReadReport, is_number_row, read_lines

__all__ = [
    "FddbDetections",
    "FddbFormatError",
    "FddbImage",
    "FddbRecords",
    "fold_paths",
    "read_fddb_detections",
    "read_fddb_ellipses",
    "read_fddb_folds",
    "read_fddb_image_list",
    "write_fddb_detections",
    "write_fddb_ellipses",
]

_KIND = {4: "rectangle", 5: "ellipse"}  # columns before the score -> kind of detection


@dataclass
class FddbImage:
    """Annotated faces of one image. ellipses: (N, 5) float64 ``ra, rb, angle (rad), cx, cy``."""

    name: str
    ellipses: np.ndarray = field(default_factory=lambda: np.zeros((0, 5)))


@dataclass
class FddbDetections:
    """Detections of one image.

    regions: (N, 4) float64 rectangles ``x, y, w, h`` or (N, 5) float64 ellipses ``ra, rb, angle, cx, cy``.
    scores: (N,) float64.
    """

    name: str
    regions: np.ndarray
    scores: np.ndarray


class FddbRecords(ReadReport, list):
    """``list`` of FddbImage or FddbDetections that also reports what a lenient read skipped.

    skipped: Counter with "faces" / "detections" (lines, read or announced, not in the result), "images"
    (records dropped whole, for a bad count line) and "lines" (stray lines outside any record); empty
    after a clean read. problems: one ``path:line: message`` string per problem.
    """


class FddbFormatError(FormatError):
    """Bad input; the message starts with ``path:line:``."""


def fold_paths(root, fold: int) -> tuple[Path, Path]:
    """(image list, ellipse list) of fold ``fold`` (1..10) in the directory ``root`` (``FDDB-folds/``)."""
    root = Path(root)
    return root / f"FDDB-fold-{fold:02d}.txt", root / f"FDDB-fold-{fold:02d}-ellipseList.txt"


# ---------------------------------------------------------------------------------------------- reading


def read_fddb_image_list(path) -> list[str]:
    """Image names of an ``FDDB-fold-NN.txt``, in order (blank lines are ignored)."""
    with open(path) as f:
        return [line.strip() for line in f if line.strip()]


def read_fddb_ellipses(path, lenient: bool = False) -> FddbRecords:
    """Read an ``FDDB-fold-NN-ellipseList.txt`` -> FddbRecords of FddbImage. Face lines have 6 fields
    (the last, the label 1, is not kept); 5 are accepted too. Radii must be positive."""
    return _read_records(path, "faces", lenient, lock_width=False,
                         make=lambda name, rows: FddbImage(name, _array(rows, 6)[:, :5]))


def read_fddb_folds(root, folds: Iterable[int] = range(1, 11), lenient: bool = False) -> FddbRecords:
    """The annotated images of ``folds`` (default all ten), concatenated in fold order. Where a fold's
    image list is present, the ellipse list must name the same images in the same order."""
    out = FddbRecords()
    for fold in folds:
        list_path, ellipse_path = fold_paths(root, fold)
        images = read_fddb_ellipses(ellipse_path, lenient=lenient)
        if list_path.exists():
            names = read_fddb_image_list(list_path)
            if names != [im.name for im in images]:
                raise ValueError(f"{ellipse_path}: its images differ from those of {list_path}")
        out.extend(images)
        out.skipped.update(images.skipped)
        out.problems.extend(images.problems)
    return out


def read_fddb_detections(path, lenient: bool = False) -> FddbRecords:
    """Read a detection file -> FddbRecords of FddbDetections: rectangles (5 fields a line) or ellipses
    (6), of the kind of the file's first detection line."""
    out = _read_records(path, "detections", lenient, lock_width=True, make=lambda name, rows: (name, rows))
    widths = {len(rows[0]) for _, rows in out if rows}
    width = widths.pop() if widths else 5
    for k, (name, rows) in enumerate(out):
        array = _array(rows, width)
        out[k] = FddbDetections(name, array[:, :-1], array[:, -1])
    return out


def _array(rows: list[list[float]], width: int) -> np.ndarray:
    """rows of ``width`` (or, for ellipse lists, 5 or 6) floats -> (N, width) float64, missing label = 1."""
    return np.array([r + [1.0] * (width - len(r)) for r in rows], dtype=np.float64).reshape(-1, width)


def _count(line: str) -> int | None:
    try:
        count = int(line.strip())
    except ValueError:
        return None
    return count if count >= 0 else None


def _read_records(path, item: str, lenient: bool, lock_width: bool, make) -> FddbRecords:
    """Parse name / count / ``count`` numeric lines records; ``make(name, rows)`` builds each record.

    item: "faces" or "detections", for messages and ``skipped``. lock_width: every row must have the
    number of fields of the first one (one kind of detection per file).
    """
    lines = read_lines(path)
    out = FddbRecords()
    problem = Problems(path, out, lenient, FddbFormatError)

    def starts_record(i: int) -> bool:
        return (bool(lines[i].strip()) and not is_number_row(lines[i])
                and i + 1 < len(lines) and _count(lines[i + 1]) is not None)

    width = None
    i = 0
    while i < len(lines):
        name = lines[i].strip()
        if not name or is_number_row(name):
            what = "an empty line" if not name else f"a line of numbers {name!r}"
            problem(i, f"expected an image name, got {what} (more lines than the count?)",
                    "lines" if not name else item)
            i += 1
            continue
        count = _count(lines[i + 1]) if i + 1 < len(lines) else None
        if count is None:
            got = repr(lines[i + 1]) if i + 1 < len(lines) else "the end of the file"
            problem(min(i + 1, len(lines) - 1), f"expected the number of {item} of {name!r}, got {got}", "images")
            i += 1 if i + 1 >= len(lines) or starts_record(i + 1) else 2  # keep a next record's name
            while i < len(lines) and is_number_row(lines[i]):  # drop the record's lines
                i += 1
            continue
        count_line, i = i + 2, i + 2
        rows = []
        for k in range(count):
            if i >= len(lines) or starts_record(i):
                got = repr(lines[i]) if i < len(lines) else "the end of the file"
                problem(min(i, len(lines) - 1), f"{name!r}: count {count} at line {count_line} but only {k} "
                        f"{item} lines, then {got}", item, count - k)
                break
            row, error = _parse_row(lines[i], width, item)
            if error is None:
                rows.append(row)
                width = len(row) if lock_width else None
            else:
                problem(i, f"{error}: {lines[i].strip()!r}", item)
            i += 1
        out.append(make(name, rows))
    return out


def _parse_row(text: str, width: int | None, item: str) -> tuple[list[float] | None, str | None]:
    """A face or detection line -> (floats, None), or (None, what is wrong)."""
    fields = text.split()
    if len(fields) not in (5, 6):
        return None, f"expected 5 or 6 numbers, got {len(fields)} fields"
    if width is not None and len(fields) != width:
        return None, f"{_KIND[len(fields) - 1]} line in a file of {_KIND[width - 1]} {item}"
    try:
        row = [float(v) for v in fields]
    except ValueError:
        return None, "not a number"
    if not all(math.isfinite(v) for v in row):
        return None, "non-finite number"
    if item == "faces":
        return (row, None) if row[0] > 0 and row[1] > 0 else (None, "ellipse radii must be positive")
    sizes = (row[2], row[3]) if len(row) == 5 else (row[0], row[1])  # w h, or ra rb
    if min(sizes) < 0:
        return None, "negative size"
    return row, None


# ---------------------------------------------------------------------------------------------- writing


def write_fddb_ellipses(path, images: Iterable[FddbImage]) -> None:
    """Write an ellipse list (the annotation format, label 1 on every face)."""
    lines = []
    for image in images:
        ellipses = np.asarray(image.ellipses, dtype=np.float64).reshape(-1, 5)
        lines += _record_lines(path, image.name, ellipses, ["1"] * len(ellipses))
    _write_lines(path, lines)


def write_fddb_detections(path, detections: Iterable[FddbDetections]) -> None:
    """Write detections in the official tool's format; all records must be of one kind."""
    lines, widths = [], set()
    for det in detections:
        regions = np.asarray(det.regions, dtype=np.float64)
        regions = regions.reshape(-1, regions.shape[-1] if regions.ndim == 2 else 4)
        scores = np.asarray(det.scores, dtype=np.float64).reshape(-1)
        if regions.shape[1] not in (4, 5) or len(regions) != len(scores):
            raise ValueError(f"{path}: {det.name!r}: regions {regions.shape} and scores {scores.shape} "
                             "must be (N, 4) or (N, 5) and (N,)")
        if len(regions):
            widths.add(regions.shape[1])
        if not np.isfinite(scores).all():
            raise ValueError(f"{path}: {det.name!r} has a non-finite score")
        lines += _record_lines(path, det.name, regions, [repr(v) for v in scores.tolist()])
    if len(widths) > 1:
        raise ValueError(f"{path}: rectangles and ellipses cannot share one detection file")
    _write_lines(path, lines)


def _record_lines(path, name: str, rows: np.ndarray, last: list[str]) -> list[str]:
    """Name line, count line, one line per row with ``last`` (score or label) appended."""
    if not name or "\n" in name or name != name.strip():
        raise ValueError(f"{path}: invalid image name {name!r}")
    if not np.isfinite(rows).all():
        raise ValueError(f"{path}: {name!r} has a non-finite coordinate")
    # repr() is the shortest text that reads back to the same float
    return [name, str(len(rows))] + [
        " ".join([*(repr(v) for v in row), s]) for row, s in zip(rows.tolist(), last)
    ]


def _write_lines(path, lines: list[str]) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(line + "\n" for line in lines))

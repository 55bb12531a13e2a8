"""WIDER FACE readers and writers: the annotation text file, the evaluation .mat files, predictions.

Formats (all three are the official ones; the only extension is the optional 6th prediction column):

1. Annotations, ``wider_face_{train,val}_bbx_gt.txt``::

       0--Parade/0_Parade_marchingband_1_465.jpg      image path, relative to the images root
       126                                            number of faces
       345 211 4 4 2 0 0 0 2 0                        x y w h blur expression illumination invalid occlusion pose
       ...

   An image without faces is still followed by one all-zero face line. The official train file writes
   such an image with a count of 0, the official val file (4 images) with a count of 1; both read here as
   an image with 0 faces, and the writer uses the count of 0. Face lines end with a space, as official.
   Some official boxes have a width or height of 0 (25 in train, 6 in val); they are kept as they are.
   A negative width or height is an error. The official files hold three (2 in train, 1 in val, as in
   their .mat files): a lenient read keeps them as they are and reports each in ``problems``.

2. Evaluation ground truth, the MATLAB files of the official ``eval_tools/ground_truth``:
   ``wider_face_val.mat`` holds cell arrays ``event_list{e}`` (char), ``file_list{e}{i}`` (image name
   without ``.jpg``), ``face_bbx_list{e}{i}`` (n x 4 int32, x y w h) and the six ``*_label_list{e}{i}``
   (n x 1 uint8). ``wider_{easy,medium,hard}_val.mat`` repeat event/file/box lists and add ``gt_list{e}{i}``:
   the 1-based indices of the boxes that count in that subset (k x 1). Face-less images hold one
   all-zero box (``[0 0 0 0]``, labels 0), read here as 0 faces. scipy loads a MATLAB cell as an object
   array shaped like the cell ((E, 1) here); the writer produces exactly that structure.

3. Predictions, one folder per event and one ``<image name>.txt`` per image::

       <pred_dir>/0--Parade/0_Parade_marchingband_1_465.txt
           0_Parade_marchingband_1_465                image name (the official reader ignores this line)
           2                                          number of detections
           345.1 211.0 4.2 4.5 0.98                   x y w h score
           100 50 20 24 0.31 16                       x y w h score [sub-detector]

   Extension: an optional 6th column names the sub-detector (e.g. its anchor scale) that produced the
   row; ``gslib.evaluate.wider`` evaluates each sub-detector's rows alone as "@S". The official reader
   reads only the first five columns, so such files stay valid for it, and 5-column files stay valid
   here. All rows of one file have the same number of columns.

   Key convention: a prediction dict maps ``"<event>/<image name without .jpg>"`` (the path of the file
   below ``pred_dir`` without ``.txt``; ``WiderImage.key``) to a (K, 5) or (K, 6) float64 array.

Bad input raises :class:`WiderFormatError`, whose message starts with ``path:line:``. With
``lenient=True`` a reader skips what it cannot read instead and says so: the returned list or dict has
``skipped`` (a Counter: reason -> count, see each reader) and ``problems`` (one ``path:line: message``
per skip). Nothing is dropped silently.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import scipy.io

from gslib.data.textio import FormatError, Problems, ReadReport, is_number_row, read_lines

__all__ = [
    "ATTRIBUTES",
    "ATTRIBUTE_MAX",
    "SUBSETS",
    "Predictions",
    "WiderFormatError",
    "WiderGroundTruth",
    "WiderImage",
    "WiderImages",
    "image_key",
    "read_predictions",
    "read_wider_mat",
    "read_wider_txt",
    "subset_mat",
    "write_predictions",
    "write_wider_mat",
    "write_wider_txt",
]

ATTRIBUTES = ("blur", "expression", "illumination", "invalid", "occlusion", "pose")
# Largest value of each attribute (wider_face_split/readme.txt); every official file stays within them.
ATTRIBUTE_MAX = (2, 1, 1, 1, 2, 1)
SUBSETS = ("easy", "medium", "hard")
_IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")
MAIN_MAT = "wider_face_val.mat"


def subset_mat(subset: str) -> str:
    """File name of a subset's evaluation ground truth, e.g. ``wider_hard_val.mat``."""
    return f"wider_{subset}_val.mat"


def image_key(name: str) -> str:
    """Prediction key of an image: its path without the extension, ``"0--Parade/0_Parade_..._465"``."""
    return os.path.splitext(name)[0]


@dataclass
class WiderImage:
    """One annotated image.

    name: path relative to the images root, ``"0--Parade/0_Parade_marchingband_1_465.jpg"``.
    boxes: (N, 4) float64, x y w h in pixels.
    attributes: (N, 6) int64, columns :data:`ATTRIBUTES`; zeros when not given.
    """

    name: str
    boxes: np.ndarray
    attributes: np.ndarray = field(default=None)

    def __post_init__(self):
        self.boxes = np.asarray(self.boxes, dtype=np.float64).reshape(-1, 4)
        if self.attributes is None:
            self.attributes = np.zeros((len(self.boxes), len(ATTRIBUTES)), dtype=np.int64)
        self.attributes = np.asarray(self.attributes, dtype=np.int64).reshape(-1, len(ATTRIBUTES))
        if len(self.attributes) != len(self.boxes):
            raise ValueError(f"{self.name}: {len(self.boxes)} boxes but {len(self.attributes)} attribute rows")

    @property
    def invalid(self) -> np.ndarray:
        """(N,) bool: the official "invalid" label."""
        return self.attributes[:, ATTRIBUTES.index("invalid")].astype(bool)

    @property
    def event(self) -> str:
        """First path component, ``"0--Parade"``."""
        return self.name.split("/")[0]

    @property
    def key(self) -> str:
        """Prediction key, see :func:`image_key`."""
        return image_key(self.name)


class WiderImages(ReadReport, list):
    """``list[WiderImage]`` that also reports what a lenient read skipped.

    skipped: Counter with "faces" (face lines or announced faces not in the result), "images" (image
    records dropped whole) and "lines" (stray lines outside any record); empty after a clean read.
    problems: one ``path:line: message`` string per problem, also for one that loses nothing (a count of 0
    without its all-zero line).
    """


class Predictions(ReadReport, dict):
    """``dict[key, (K, 5 or 6) float64]`` that also reports what a lenient read skipped.

    skipped: Counter with "detections" (rows, read or announced, not in the result) and "files" (files
    dropped whole); problems: one ``path:line: message`` string per problem.
    """


@dataclass
class WiderGroundTruth:
    """The official evaluation ground truth, as in the four .mat files.

    images: event-major, in the order of the files.
    subsets: "easy"/"medium"/"hard" -> one int64 array per image of the 0-based indices of the boxes that
        count in that subset (empty dict when only the main file was read).
    labels: the attribute lists the main file holds (a missing one reads as zeros).
    """

    images: list[WiderImage]
    subsets: dict[str, list[np.ndarray]]
    labels: tuple[str, ...] = ATTRIBUTES


class WiderFormatError(FormatError):
    """Bad input; the message starts with ``path:line:`` (or ``path:`` with the cell for .mat files)."""


# --------------------------------------------------------------------------------------------------
# Annotation text file


def _parse_face(line: str) -> tuple[list[float], list[int]]:
    """``x y w h blur expression illumination invalid occlusion pose`` -> (box, attributes)."""
    tokens = line.split()
    if len(tokens) != 4 + len(ATTRIBUTES):
        raise ValueError(f"expected 10 numbers (x y w h and 6 attributes), got {len(tokens)}")
    box = [float(t) for t in tokens[:4]]
    if not all(math.isfinite(v) for v in box):
        raise ValueError("box is not finite")
    try:
        attrs = [int(t) for t in tokens[4:]]
    except ValueError:
        raise ValueError(f"attributes must be integers, got {' '.join(tokens[4:])}") from None
    for name, value, top in zip(ATTRIBUTES, attrs, ATTRIBUTE_MAX):
        if not 0 <= value <= top:
            raise ValueError(f"{name} = {value} is outside 0..{top}")
    return box, attrs


def read_wider_txt(path, lenient: bool = False) -> WiderImages:
    """Read an official ``wider_face_*_bbx_gt.txt`` file -> :class:`WiderImages` (a list of WiderImage).

    Strict (default): the first problem raises :class:`WiderFormatError` naming the file and line.
    Lenient: a bad face line is skipped (``skipped["faces"]``), an image whose count line is bad is
    dropped with its face lines (``skipped["images"]``), a count larger than the face lines present keeps
    the faces found (the missing ones in ``skipped["faces"]``), face lines beyond the count are skipped
    (``skipped["faces"]``), other stray lines too (``skipped["lines"]``).
    """
    path = Path(path)
    lines = read_lines(path)
    out = WiderImages()
    problem = Problems(path, out, lenient, WiderFormatError)
    i = 0
    while i < len(lines):
        name = lines[i].strip()
        if is_number_row(name):
            problem(i, f"face line outside an image record (or more face lines than the count): {name!r}",
                    "faces")
            i += 1
            continue
        if not name:
            problem(i, "expected an image path, got an empty line", "lines")
            i += 1
            continue
        count_index, i = i + 1, i + 1
        try:
            count = int(lines[count_index])
            if count < 0:
                raise ValueError
        except (ValueError, IndexError):
            got = repr(lines[count_index]) if count_index < len(lines) else "the end of the file"
            problem(count_index, f"expected the face count of {name}, got {got}", "images")
            if i < len(lines) and not lines[i].strip().lower().endswith(_IMAGE_SUFFIXES):
                i += 1  # the bad count line itself, unless it is the next image's path
            while i < len(lines) and is_number_row(lines[i]):  # drop this record's face lines
                i += 1
            continue
        i += 1
        boxes, attrs = [], []
        for k in range(max(count, 1)):  # a count of 0 is followed by the all-zero line too
            line = lines[i] if i < len(lines) else ""
            # Several tokens, not all numbers, not an image path: a face line with a token that is not a number.
            if len(line.split()) > 1 and not is_number_row(line) and not line.strip().lower().endswith(_IMAGE_SUFFIXES):
                bad = next(t for t in line.split() if not is_number_row(t))
                problem(i, f"{name}: {bad!r} is not a number: {line!r}", "faces")
                i += 1
                continue
            if i >= len(lines) or not is_number_row(lines[i]):
                got = repr(lines[i]) if i < len(lines) else "the end of the file"
                problem(i, f"{name}: count {count} at line {count_index + 1} but only {k} face lines, then {got}",
                        "faces", count - len(boxes))
                break
            try:
                box, attr = _parse_face(lines[i])
            except ValueError as e:
                problem(i, f"{name}: {e}: {lines[i]!r}", "faces")
            else:
                negative = [f"{side} {v:g}" for side, v in (("width", box[2]), ("height", box[3])) if v < 0]
                if negative:  # strict: an error; lenient: kept (the official files hold three), reported
                    problem(i, f"{name}: negative {' and '.join(negative)}: {lines[i]!r}", "faces", count=0)
                boxes.append(box)
                attrs.append(attr)
            i += 1
        # One all-zero line is the official placeholder of an image without faces (count 0 in train, 1 in val).
        if len(boxes) == 1 and count <= 1 and not any(boxes[0]) and not any(attrs[0]):
            boxes, attrs = [], []
        elif count == 0 and boxes:
            problem(i - 1, f"{name}: a count of 0 must be followed by the all-zero line", "faces", len(boxes))
            boxes, attrs = [], []
        out.append(WiderImage(name, np.array(boxes, dtype=np.float64).reshape(-1, 4),
                              np.array(attrs, dtype=np.int64).reshape(-1, len(ATTRIBUTES))))
    return out


def _fmt(value: float) -> str:
    """Integers as integers (the official files), other values with the shortest exact repr."""
    value = float(value)
    return str(int(value)) if value.is_integer() else repr(value)


def write_wider_txt(path, images: list[WiderImage]) -> None:
    """Write images in the official annotation format (face lines end with a space, as official)."""
    out = []
    for image in images:
        out.append(image.name)
        out.append(str(len(image.boxes)))
        if len(image.boxes) == 0:
            out.append("0 " * (4 + len(ATTRIBUTES)))
        for box, attr in zip(image.boxes, image.attributes):
            out.append(" ".join(_fmt(v) for v in box) + " " + " ".join(str(int(a)) for a in attr) + " ")
    Path(path).write_text("\n".join(out) + "\n")


# --------------------------------------------------------------------------------------------------
# Evaluation ground truth (.mat)


def _cell(items) -> np.ndarray:
    """A MATLAB column cell array as scipy writes and loads it: (n, 1) object array."""
    cell = np.empty((len(items), 1), dtype=object)
    for k, item in enumerate(items):
        cell[k, 0] = item
    return cell


def _group_by_event(images: list[WiderImage]) -> dict[str, list[int]]:
    """event -> indices into images, events in order of first appearance."""
    groups: dict[str, list[int]] = {}
    for k, image in enumerate(images):
        groups.setdefault(image.event, []).append(k)
    return groups


def _mat_boxes(boxes: np.ndarray) -> np.ndarray:
    """(N, 4) float64 -> the official cell content: int32 when integral (as official), else double;
    a face-less image holds the placeholder ``[0 0 0 0]``."""
    if len(boxes) == 0:
        return np.zeros((1, 4), dtype=np.int32)
    if np.all(boxes == np.round(boxes)) and np.abs(boxes).max() < 2**31:
        return boxes.astype(np.int32)
    return boxes.astype(np.float64)


def write_wider_mat(out_dir, images: list[WiderImage], subsets: dict[str, list[np.ndarray]]) -> None:
    """Write the four evaluation files of the official ``eval_tools/ground_truth`` into ``out_dir``.

    images: grouped by event in order of first appearance (the official files are event-major).
    subsets: "easy", "medium", "hard" -> one array per image (same order as ``images``) of the 0-based
        indices of the boxes that count in that subset; written as 1-based ``gt_list`` (k x 1 double,
        what MATLAB's ``find`` returns).
    Structure as official: (E, 1) cells of (n_e, 1) cells, boxes (n, 4) int32 (double if not integral),
    labels (n, 1) uint8, face-less images as one all-zero box.
    """
    if sorted(subsets) != sorted(SUBSETS):
        raise ValueError(f"subsets must have the keys {SUBSETS}, got {tuple(subsets)}")
    for subset, lists in subsets.items():
        if len(lists) != len(images):
            raise ValueError(f"subsets[{subset!r}] has {len(lists)} arrays for {len(images)} images")
        for image, index in zip(images, lists):
            index = np.asarray(index, dtype=np.int64).reshape(-1)
            if len(index) and (index.min() < 0 or index.max() >= len(image.boxes) or
                               len(np.unique(index)) != len(index)):
                raise ValueError(f"subsets[{subset!r}] for {image.name}: indices must be unique and in "
                                 f"0..{len(image.boxes) - 1}, got {index.tolist()}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    groups = _group_by_event(images)
    common = {
        "event_list": _cell(list(groups)),
        "file_list": _cell([_cell([os.path.splitext(os.path.basename(images[k].name))[0] for k in ks])
                            for ks in groups.values()]),
        "face_bbx_list": _cell([_cell([_mat_boxes(images[k].boxes) for k in ks]) for ks in groups.values()]),
    }
    main = dict(common)
    for col, attribute in enumerate(ATTRIBUTES):
        main[f"{attribute}_label_list"] = _cell([
            _cell([images[k].attributes[:, col].astype(np.uint8).reshape(-1, 1) if len(images[k].boxes)
                   else np.zeros((1, 1), dtype=np.uint8) for k in ks])
            for ks in groups.values()])
    scipy.io.savemat(out_dir / MAIN_MAT, main, do_compression=True, oned_as="column")
    for subset in SUBSETS:
        gt_list = _cell([
            _cell([np.asarray(subsets[subset][k], dtype=np.float64).reshape(-1, 1) + 1 for k in ks])
            for ks in groups.values()])
        scipy.io.savemat(out_dir / subset_mat(subset), {**common, "gt_list": gt_list},
                         do_compression=True, oned_as="column")


def _mat_str(value) -> str:
    """A MATLAB char array as scipy loads it (``array(['0--Parade'])``) -> str."""
    value = np.asarray(value).reshape(-1)
    return str(value[0]) if value.size else ""


def _cells(value) -> list:
    """A MATLAB cell vector (scipy: object array, any vector shape) -> list of its elements."""
    return list(np.asarray(value, dtype=object).reshape(-1))


def _load_mat(path: Path, needed: tuple[str, ...]) -> dict:
    if not path.is_file():
        raise FileNotFoundError(f"missing WIDER FACE ground-truth file: {path}")
    try:
        mat = scipy.io.loadmat(path)
    except Exception as e:  # scipy raises several types for a file that is not a MAT file
        raise WiderFormatError(path, None, f"not a readable MATLAB file ({e})") from e
    for key in needed:
        if key not in mat:
            raise WiderFormatError(path, None, f"has no variable {key!r} (has {sorted(k for k in mat if k[0] != '_')})")
    return mat


def _read_lists(path: Path, mat: dict) -> tuple[list[str], list[list[str]]]:
    """event names and per-event image names (without extension) of one .mat file."""
    events = [_mat_str(e) for e in _cells(mat["event_list"])]
    files = [[_mat_str(f) for f in _cells(event_files)] for event_files in _cells(mat["file_list"])]
    if len(files) != len(events):
        raise WiderFormatError(path, None, f"event_list has {len(events)} events, file_list {len(files)}")
    return events, files


def read_wider_mat(path, subsets: tuple[str, ...] = SUBSETS) -> WiderGroundTruth:
    """Read the official evaluation ground truth.

    path: a directory holding ``wider_face_val.mat`` and ``wider_{subset}_val.mat`` for each of
        ``subsets``, or a main .mat file (e.g. ``wider_face_split/wider_face_train.mat``), its subset files
        then looked up beside it. ``subsets=()`` reads the main file alone.
    Image names get ``.jpg`` back (``file_list`` stores them without it). A missing ``*_label_list`` reads
    as zeros and is left out of ``labels``. Subset files must list the same events and images as the main
    file. Raises FileNotFoundError naming a missing file, WiderFormatError naming file and cell otherwise.
    """
    path = Path(path)
    main_path, folder = (path / MAIN_MAT, path) if path.is_dir() or not path.suffix else (path, path.parent)
    mat = _load_mat(main_path, ("event_list", "file_list", "face_bbx_list"))
    events, files = _read_lists(main_path, mat)
    box_cells = [_cells(c) for c in _cells(mat["face_bbx_list"])]
    labels = tuple(a for a in ATTRIBUTES if f"{a}_label_list" in mat)
    label_cells = {a: [_cells(c) for c in _cells(mat[f"{a}_label_list"])] for a in labels}

    images = []
    for e, event in enumerate(events):
        if len(box_cells[e]) != len(files[e]):
            raise WiderFormatError(main_path, None, f"event {e + 1} ({event}): {len(files[e])} files but "
                                                    f"{len(box_cells[e])} box arrays")
        for i, name in enumerate(files[e]):
            where = f"face_bbx_list{{{e + 1}}}{{{i + 1}}} ({event}/{name})"
            boxes = np.asarray(box_cells[e][i], dtype=np.float64)
            if boxes.size % 4:
                raise WiderFormatError(main_path, None, f"{where} has shape {boxes.shape}, expected n x 4")
            boxes = boxes.reshape(-1, 4)
            attrs = np.zeros((len(boxes), len(ATTRIBUTES)), dtype=np.int64)
            for a in labels:
                column = np.asarray(label_cells[a][e][i], dtype=np.int64).reshape(-1)
                if len(column) != len(boxes):
                    raise WiderFormatError(main_path, None, f"{a}_label_list{{{e + 1}}}{{{i + 1}}} ({event}/{name}) "
                                                            f"has {len(column)} labels for {len(boxes)} boxes")
                attrs[:, ATTRIBUTES.index(a)] = column
            if len(boxes) == 1 and not boxes.any() and not attrs.any():  # placeholder of a face-less image
                boxes, attrs = boxes[:0], attrs[:0]
            images.append(WiderImage(f"{event}/{name}.jpg", boxes, attrs))

    subset_index = {}
    for subset in subsets:
        sub_path = folder / subset_mat(subset)
        sub = _load_mat(sub_path, ("gt_list",))
        gt_cells = [_cells(c) for c in _cells(sub["gt_list"])]
        if "event_list" in sub and "file_list" in sub and _read_lists(sub_path, sub) != (events, files):
            raise WiderFormatError(sub_path, None, f"event_list/file_list differ from {main_path.name}")
        if [len(c) for c in gt_cells] != [len(f) for f in files]:
            raise WiderFormatError(sub_path, None, f"gt_list does not have one cell per image of {main_path.name}")
        index_lists, k = [], 0
        for e, event in enumerate(events):
            for i, name in enumerate(files[e]):
                index = np.asarray(gt_cells[e][i], dtype=np.float64).reshape(-1)
                n = len(images[k].boxes)
                if np.any(index != np.round(index)) or np.any(index < 1) or np.any(index > n) or \
                        len(np.unique(index)) != len(index):
                    raise WiderFormatError(sub_path, None, f"gt_list{{{e + 1}}}{{{i + 1}}} ({event}/{name}) = "
                                                           f"{index.tolist()} is not a set of 1-based indices "
                                                           f"into its {n} boxes")
                index_lists.append(index.astype(np.int64) - 1)
                k += 1
        subset_index[subset] = index_lists
    return WiderGroundTruth(images, subset_index, labels)


# --------------------------------------------------------------------------------------------------
# Predictions


def _parse_detection(line: str, columns: int | None) -> list[float]:
    """``x y w h score [sub-detector]`` -> floats; all rows of a file have ``columns`` numbers."""
    tokens = line.split()
    if len(tokens) not in (5, 6):
        raise ValueError(f"expected 5 or 6 numbers (x y w h score [sub-detector]), got {len(tokens)}")
    if columns is not None and len(tokens) != columns:
        raise ValueError(f"{len(tokens)} numbers where the file's first row has {columns}")
    row = [float(t) for t in tokens]
    if not all(math.isfinite(v) for v in row):
        raise ValueError("not finite")
    return row


def _read_prediction_file(path: Path, out: Predictions, lenient: bool) -> np.ndarray | None:
    """One ``<image>.txt`` -> (K, 5 or 6) float64, or None when lenient and the file is unreadable."""
    lines = read_lines(path)
    problem = Problems(path, out, lenient, WiderFormatError)
    try:
        count = int(lines[1])
        if count < 0:
            raise ValueError
    except (ValueError, IndexError):
        got = repr(lines[1]) if len(lines) > 1 else "the end of the file"
        problem(1, f"expected the number of detections on line 2, got {got}", "files")
        return None
    rows, columns = [], None
    for i in range(2, 2 + count):
        if i >= len(lines):
            problem(i, f"count {count} on line 2 but only {i - 2} detection lines", "detections", count - (i - 2))
            break
        try:
            row = _parse_detection(lines[i], columns)
        except ValueError as e:
            problem(i, f"{e}: {lines[i]!r}", "detections")
            continue
        columns = len(row)
        rows.append(row)
    if len(lines) > 2 + count:
        problem(2 + count, f"{len(lines) - 2 - count} lines after the {count} detections the count announces",
                "detections", len(lines) - 2 - count)
    return np.array(rows, dtype=np.float64).reshape(-1, columns or 5)


def read_predictions(pred_dir, lenient: bool = False) -> Predictions:
    """Read an official prediction folder -> :class:`Predictions`, ``{"<event>/<image>": (K, 5|6) float64}``.

    Columns: x y w h score [sub-detector]. Rows keep the file's order (the evaluator does not depend on
    it). Every ``<event>/<image>.txt`` is read; a ``.txt`` directly in ``pred_dir`` is an error (the
    official layout has one folder per event). Lenient: bad rows are skipped (``skipped["detections"]``),
    a file without a readable count is dropped (``skipped["files"]``).
    """
    pred_dir = Path(pred_dir)
    if not pred_dir.is_dir():
        raise FileNotFoundError(f"missing prediction folder: {pred_dir}")
    out = Predictions()
    stray = sorted(pred_dir.glob("*.txt"))
    if stray:
        message = f"prediction files must be in one folder per event, found {stray[0].name} at the top level"
        if not lenient:
            raise WiderFormatError(stray[0], None, message)
        out.skipped["files"] += len(stray)
        out.problems += [f"{p}: {message}" for p in stray]
    for path in sorted(pred_dir.glob("*/*.txt")):
        rows = _read_prediction_file(path, out, lenient)
        if rows is not None:
            out[f"{path.parent.name}/{path.stem}"] = rows
    return out


def write_predictions(pred_dir, preds: dict[str, np.ndarray]) -> None:
    """Write ``{"<event>/<image>": (K, 5|6) array}`` in the official layout (keys may end with ``.jpg``).

    Numbers are written exactly (shortest repr), so reading back gives the same arrays.
    """
    pred_dir = Path(pred_dir)
    for key, rows in preds.items():
        key = image_key(key) if key.endswith(".jpg") else key
        event, _, name = key.partition("/")
        if not name or "/" in name:
            raise ValueError(f"prediction key {key!r} is not '<event>/<image name>'")
        rows = np.asarray(rows, dtype=np.float64)
        rows = rows.reshape(-1, rows.shape[-1] if rows.ndim == 2 else 5)
        if rows.shape[1] not in (5, 6):
            raise ValueError(f"{key}: rows have {rows.shape[1]} columns, expected 5 or 6")
        (pred_dir / event).mkdir(parents=True, exist_ok=True)
        lines = [name, str(len(rows))] + [" ".join(_fmt(v) for v in row) for row in rows]
        (pred_dir / event / f"{name}.txt").write_text("\n".join(lines) + "\n")

"""WIDER FACE readers and writers: annotation text, evaluation .mat files, predictions."""
from pathlib import Path

import numpy as np
import pytest
import scipy.io

from gslib.data.wider import (
    ATTRIBUTES,
    SUBSETS,
    WiderFormatError,
    WiderImage,
    read_predictions,
    read_wider_mat,
    read_wider_txt,
    write_predictions,
    write_wider_mat,
    write_wider_txt,
)

OFFICIAL = Path("/work/shared/widerface/wider_face_split")
needs_official = pytest.mark.skipif(not (OFFICIAL / "wider_face_val.mat").is_file(),
                                    reason="official WIDER FACE annotations not present")


def make_images():
    return [
        WiderImage("0--Parade/0_Parade_a_1.jpg", [[10, 20, 30, 40], [1.5, 2.25, 3, 4]],
                   [[2, 0, 0, 0, 2, 0], [0, 1, 1, 1, 1, 1]]),
        WiderImage("0--Parade/0_Parade_empty_2.jpg", np.zeros((0, 4))),
        WiderImage("1--Handshaking/1_Handshaking_b_3.jpg", [[5, 5, 8, 8]]),
    ]


def test_wider_image_defaults_and_properties():
    image = WiderImage("0--Parade/x_1.jpg", [[1, 2, 3, 4], [5, 6, 7, 8]], [[0, 0, 0, 1, 0, 0], [0] * 6])
    assert image.boxes.dtype == np.float64 and image.boxes.shape == (2, 4)
    assert image.attributes.dtype == np.int64 and image.attributes.shape == (2, 6)
    assert image.invalid.tolist() == [True, False]
    assert image.event == "0--Parade" and image.key == "0--Parade/x_1"
    assert WiderImage("e/x.jpg", [[1, 2, 3, 4]]).attributes.tolist() == [[0] * 6]
    with pytest.raises(ValueError, match="2 boxes but 1 attribute"):
        WiderImage("e/x.jpg", [[1, 2, 3, 4], [1, 2, 3, 4]], [[0] * 6])


# -- annotation text -----------------------------------------------------------------------------------


def test_write_txt_is_the_official_layout(tmp_path):
    write_wider_txt(tmp_path / "gt.txt", make_images())
    assert (tmp_path / "gt.txt").read_text() == (
        "0--Parade/0_Parade_a_1.jpg\n2\n"
        "10 20 30 40 2 0 0 0 2 0 \n"
        "1.5 2.25 3 4 0 1 1 1 1 1 \n"
        "0--Parade/0_Parade_empty_2.jpg\n0\n"
        "0 0 0 0 0 0 0 0 0 0 \n"          # a face-less image is still followed by the all-zero line
        "1--Handshaking/1_Handshaking_b_3.jpg\n1\n"
        "5 5 8 8 0 0 0 0 0 0 \n"
    )


def test_txt_round_trip(tmp_path):
    images = make_images()
    write_wider_txt(tmp_path / "gt.txt", images)
    back = read_wider_txt(tmp_path / "gt.txt")
    assert not back.skipped and not back.problems
    assert [i.name for i in back] == [i.name for i in images]
    for a, b in zip(images, back):
        np.testing.assert_array_equal(a.boxes, b.boxes)
        np.testing.assert_array_equal(a.attributes, b.attributes)
    assert len(back[1].boxes) == 0 and back[1].boxes.shape == (0, 4) and back[1].attributes.shape == (0, 6)


def test_txt_placeholder_with_count_one_is_no_face(tmp_path):
    # The official val file writes its 4 face-less images with a count of 1 and the all-zero line.
    (tmp_path / "gt.txt").write_text("e/a.jpg\n1\n0 0 0 0 0 0 0 0 0 0 \ne/b.jpg\n1\n0 0 0 0 0 0 0 1 0 0\n")
    a, b = read_wider_txt(tmp_path / "gt.txt")
    assert len(a.boxes) == 0
    assert len(b.boxes) == 1 and b.invalid.tolist() == [True]  # a zero box with a label is data, kept


BAD_TXT = {
    # name: (text, line of the error, lenient skipped, images read leniently, faces read leniently)
    "count not a number": ("e/a.jpg\nx\n1 2 3 4 0 0 0 0 0 0\ne/b.jpg\n1\n1 2 3 4 0 0 0 0 0 0\n",
                           2, {"images": 1}, 1, 1),
    "negative count": ("e/a.jpg\n-1\ne/b.jpg\n1\n1 2 3 4 0 0 0 0 0 0\n", 2, {"images": 1}, 1, 1),
    "nine numbers": ("e/a.jpg\n2\n1 2 3 4 0 0 0 0 0\n1 2 3 4 0 0 0 0 0 0\n", 3, {"faces": 1}, 1, 1),
    "attribute out of range": ("e/a.jpg\n2\n1 2 3 4 0 0 0 0 0 0\n1 2 3 4 3 0 0 0 0 0\n", 4, {"faces": 1}, 1, 1),
    "attribute not integer": ("e/a.jpg\n1\n1 2 3 4 0.5 0 0 0 0 0\n", 3, {"faces": 1}, 1, 0),
    "count larger than lines": ("e/a.jpg\n3\n1 2 3 4 0 0 0 0 0 0\ne/b.jpg\n1\n1 2 3 4 0 0 0 0 0 0\n",
                                4, {"faces": 2}, 2, 2),
    "count larger at end of file": ("e/a.jpg\n2\n1 2 3 4 0 0 0 0 0 0\n", 4, {"faces": 1}, 1, 1),
    "more lines than the count": ("e/a.jpg\n1\n1 2 3 4 0 0 0 0 0 0\n5 6 7 8 0 0 0 0 0 0\ne/b.jpg\n0\n"
                                  "0 0 0 0 0 0 0 0 0 0\n", 4, {"faces": 1}, 2, 1),
    "count 0 without the zero line": ("e/a.jpg\n0\ne/b.jpg\n1\n1 2 3 4 0 0 0 0 0 0\n", 3, {}, 2, 1),
    "count 0 then a real face": ("e/a.jpg\n0\n1 2 3 4 0 0 0 0 0 0\n", 3, {"faces": 1}, 1, 0),
    "path then end of file": ("e/a.jpg\n1\n1 2 3 4 0 0 0 0 0 0\ne/b.jpg\n", 5, {"images": 1}, 1, 1),
    "empty line in the middle": ("e/a.jpg\n1\n1 2 3 4 0 0 0 0 0 0\n\ne/b.jpg\n1\n1 2 3 4 0 0 0 0 0 0\n",
                                 4, {"lines": 1}, 2, 2),
    "token not a number": ("e/a.jpg\n2\n1 2 x 4 0 0 0 0 0 0\n5 6 7 8 0 0 0 0 0 0\ne/b.jpg\n1\n1 2 3 4 0 0 0 0 0 0\n",
                           3, {"faces": 1}, 2, 2),
    # Lenient keeps a negative box (the official files hold three) and reports it: nothing skipped.
    "negative width": ("e/a.jpg\n1\n1 2 -3 4 0 0 0 0 0 0\n", 3, {}, 1, 1),
    "negative height": ("e/a.jpg\n2\n1 2 3 4 0 0 0 0 0 0\n1 2 3 -4 0 0 0 0 0 0\n", 4, {}, 1, 2),
}


@pytest.mark.parametrize("case", BAD_TXT)
def test_txt_error_names_file_and_line(tmp_path, case):
    text, line, *_ = BAD_TXT[case]
    path = tmp_path / "gt.txt"
    path.write_text(text)
    with pytest.raises(WiderFormatError) as info:
        read_wider_txt(path)
    assert str(info.value).startswith(f"{path}:{line}: ")
    assert info.value.line == line and info.value.path == path


@pytest.mark.parametrize("case", BAD_TXT)
def test_txt_lenient_counts_what_it_skips(tmp_path, case):
    text, line, skipped, num_images, num_faces = BAD_TXT[case]
    path = tmp_path / "gt.txt"
    path.write_text(text)
    images = read_wider_txt(path, lenient=True)
    assert dict(images.skipped) == skipped
    assert len(images.problems) >= 1 and images.problems[0].startswith(f"{path}:{line}: ")
    assert len(images) == num_images and sum(len(i.boxes) for i in images) == num_faces


BAD_TXT_MESSAGES = {
    # name: (text, the error after "path:")
    # Not "count 2 at line 2 but only 1 face lines": the line is a face line with a bad token.
    "token not a number": ("e/a.jpg\n2\n1 2 3 4 0 0 0 0 0 0\n1 2 w 4 0 0 0 0 0 0\n",
                           "4: e/a.jpg: 'w' is not a number: '1 2 w 4 0 0 0 0 0 0'"),
    "negative size": ("e/a.jpg\n1\n1 2 -3 -4 0 0 0 0 0 0\n",
                      "3: e/a.jpg: negative width -3 and height -4: '1 2 -3 -4 0 0 0 0 0 0'"),
}


@pytest.mark.parametrize("case", BAD_TXT_MESSAGES)
def test_txt_error_message(tmp_path, case):
    text, message = BAD_TXT_MESSAGES[case]
    path = tmp_path / "gt.txt"
    path.write_text(text)
    with pytest.raises(WiderFormatError) as info:
        read_wider_txt(path)
    assert str(info.value) == f"{path}:{message}"


def test_txt_lenient_on_clean_file_skips_nothing(tmp_path):
    write_wider_txt(tmp_path / "gt.txt", make_images())
    images = read_wider_txt(tmp_path / "gt.txt", lenient=True)
    assert not images.skipped and not images.problems and len(images) == 3


# -- evaluation .mat files -----------------------------------------------------------------------------


def make_subsets(images):
    return {"easy": [np.array([0]), np.array([], dtype=int), np.array([], dtype=int)],
            "medium": [np.array([0, 1]), np.array([], dtype=int), np.array([0])],
            "hard": [np.array([1, 0]), np.array([], dtype=int), np.array([0])]}


def test_mat_round_trip(tmp_path):
    images = make_images()
    write_wider_mat(tmp_path, images, make_subsets(images))
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "wider_easy_val.mat", "wider_face_val.mat", "wider_hard_val.mat", "wider_medium_val.mat"]
    gt = read_wider_mat(tmp_path)
    assert gt.labels == ATTRIBUTES
    assert [i.name for i in gt.images] == [i.name for i in images]
    for a, b in zip(images, gt.images):
        np.testing.assert_array_equal(a.boxes, b.boxes)
        np.testing.assert_array_equal(a.attributes, b.attributes)
    for subset, lists in make_subsets(images).items():
        assert [x.tolist() for x in gt.subsets[subset]] == [x.tolist() for x in lists]
        assert all(x.dtype == np.int64 for x in gt.subsets[subset])


def test_mat_structure_is_the_official_one(tmp_path):
    images = make_images()
    write_wider_mat(tmp_path, images, make_subsets(images))
    main = scipy.io.loadmat(tmp_path / "wider_face_val.mat")
    assert main["event_list"].shape == (2, 1) and main["event_list"].dtype == object
    assert main["event_list"][0, 0].tolist() == ["0--Parade"]
    assert main["file_list"][0, 0].shape == (2, 1) and main["file_list"][0, 0][1, 0].tolist() == ["0_Parade_empty_2"]
    boxes = main["face_bbx_list"][0, 0]
    assert boxes[0, 0].dtype == np.float64  # 1.5 2.25 are not integral: double
    assert boxes[1, 0].dtype == np.int32 and boxes[1, 0].tolist() == [[0, 0, 0, 0]]  # face-less placeholder
    assert main["face_bbx_list"][1, 0][0, 0].dtype == np.int32  # integral boxes: int32 as official
    blur = main["blur_label_list"][0, 0][0, 0]
    assert blur.dtype == np.uint8 and blur.shape == (2, 1) and blur.ravel().tolist() == [2, 0]
    hard = scipy.io.loadmat(tmp_path / "wider_hard_val.mat")
    assert {"event_list", "file_list", "face_bbx_list", "gt_list"} <= set(hard)
    assert hard["gt_list"][0, 0][0, 0].ravel().tolist() == [2, 1]  # 1-based
    assert hard["gt_list"][0, 0][0, 0].shape == (2, 1)


def _cell(items, shape=None):
    cell = np.empty(len(items), dtype=object)
    for k, item in enumerate(items):
        cell[k] = item
    return cell.reshape(shape or (len(items), 1))


def test_read_mat_handwritten_with_row_cells_and_no_labels(tmp_path):
    # Row-shaped cells, gt_list as row vectors and empty 0x0, no label lists: all read.
    common = {"event_list": _cell(["3--Riot"], (1, 1)),
              "file_list": _cell([_cell(["3_Riot_a_1", "3_Riot_b_2"], (1, 2))], (1, 1)),
              "face_bbx_list": _cell([_cell([np.array([[1, 2, 3, 4], [5, 6, 7, 8]], np.int32),
                                             np.array([[9, 9, 9, 9]], np.int32)], (1, 2))], (1, 1))}
    scipy.io.savemat(tmp_path / "wider_face_val.mat", common)
    for subset in SUBSETS:
        gt_list = _cell([_cell([np.array([[2.0]]), np.zeros((0, 0))], (1, 2))], (1, 1))
        scipy.io.savemat(tmp_path / f"wider_{subset}_val.mat", {**common, "gt_list": gt_list})
    gt = read_wider_mat(tmp_path)
    assert [i.name for i in gt.images] == ["3--Riot/3_Riot_a_1.jpg", "3--Riot/3_Riot_b_2.jpg"]
    assert gt.labels == () and gt.images[0].attributes.tolist() == [[0] * 6] * 2
    assert [x.tolist() for x in gt.subsets["hard"]] == [[1], []]


def test_read_mat_main_file_alone(tmp_path):
    images = make_images()
    write_wider_mat(tmp_path, images, make_subsets(images))
    gt = read_wider_mat(tmp_path / "wider_face_val.mat", subsets=())
    assert gt.subsets == {} and len(gt.images) == 3


def test_read_mat_missing_file_is_named(tmp_path):
    images = make_images()
    write_wider_mat(tmp_path, images, make_subsets(images))
    (tmp_path / "wider_hard_val.mat").unlink()
    with pytest.raises(FileNotFoundError, match=r"wider_hard_val\.mat"):
        read_wider_mat(tmp_path)
    with pytest.raises(FileNotFoundError, match=r"wider_face_val\.mat"):
        read_wider_mat(tmp_path / "nowhere")


def test_read_mat_bad_gt_list_names_file_and_cell(tmp_path):
    images = make_images()
    write_wider_mat(tmp_path, images, make_subsets(images))
    hard = scipy.io.loadmat(tmp_path / "wider_hard_val.mat")
    hard["gt_list"][1, 0][0, 0] = np.array([[2.0]])  # the event's only image has 1 box
    scipy.io.savemat(tmp_path / "wider_hard_val.mat", {k: v for k, v in hard.items() if k[0] != "_"})
    with pytest.raises(WiderFormatError, match=r"wider_hard_val.mat: gt_list\{2\}\{1\} \(1--Handshaking/"):
        read_wider_mat(tmp_path)


def test_read_mat_subset_with_other_images_is_an_error(tmp_path):
    images = make_images()
    write_wider_mat(tmp_path, images, make_subsets(images))
    easy = scipy.io.loadmat(tmp_path / "wider_easy_val.mat")
    easy["file_list"][0, 0][0, 0] = np.array(["someone_else"])
    scipy.io.savemat(tmp_path / "wider_easy_val.mat", {k: v for k, v in easy.items() if k[0] != "_"})
    with pytest.raises(WiderFormatError, match=r"wider_easy_val\.mat: event_list/file_list differ"):
        read_wider_mat(tmp_path)


def test_read_mat_not_a_mat_file(tmp_path):
    (tmp_path / "wider_face_val.mat").write_text("hello")
    with pytest.raises(WiderFormatError, match=r"wider_face_val\.mat: not a readable MATLAB file"):
        read_wider_mat(tmp_path, subsets=())


def test_write_mat_checks_subsets(tmp_path):
    images = make_images()
    with pytest.raises(ValueError, match="keys"):
        write_wider_mat(tmp_path, images, {"easy": make_subsets(images)["easy"]})
    bad = make_subsets(images)
    bad["hard"][2] = np.array([1])
    with pytest.raises(ValueError, match="1--Handshaking"):
        write_wider_mat(tmp_path, images, bad)


def test_write_mat_groups_images_by_event(tmp_path):
    images = [WiderImage("a/1.jpg", [[1, 1, 5, 5]]), WiderImage("b/2.jpg", [[1, 1, 5, 5], [9, 9, 5, 5]]),
              WiderImage("a/3.jpg", [[2, 2, 5, 5]])]
    subsets = {s: [np.array([0]), np.array([1]), np.array([0])] for s in SUBSETS}
    write_wider_mat(tmp_path, images, subsets)
    gt = read_wider_mat(tmp_path)
    assert [i.name for i in gt.images] == ["a/1.jpg", "a/3.jpg", "b/2.jpg"]
    assert [x.tolist() for x in gt.subsets["easy"]] == [[0], [0], [1]]  # followed their images


# -- the official files --------------------------------------------------------------------------------


@needs_official
def test_official_txt_and_mat_agree():
    # Strict reading stops at the file's one negative width; lenient keeps that box, as the .mat does.
    with pytest.raises(WiderFormatError, match=r":34471: 39--Ice_Skating/.*: negative width -2: "):
        read_wider_txt(OFFICIAL / "wider_face_val_bbx_gt.txt")
    txt = read_wider_txt(OFFICIAL / "wider_face_val_bbx_gt.txt", lenient=True)
    mat = read_wider_mat(OFFICIAL / "wider_face_val.mat", subsets=())
    assert not txt.skipped and len(txt.problems) == 1
    assert len(txt) == len(mat.images) == 3226
    # 39,708 face lines, of which 4 are the placeholders of face-less images.
    assert sum(len(i.boxes) for i in txt) == sum(len(i.boxes) for i in mat.images) == 39708 - 4
    assert sum(len(i.boxes) == 0 for i in txt) == 4
    assert [i.name for i in txt] == [i.name for i in mat.images]
    for a, b in zip(txt, mat.images):
        np.testing.assert_array_equal(a.boxes, b.boxes, err_msg=a.name)
        np.testing.assert_array_equal(a.attributes, b.attributes, err_msg=a.name)


def _same_structure(a, b, where):
    assert type(a) is type(b), where
    if isinstance(a, np.ndarray):
        assert a.shape == b.shape, where
        assert a.dtype == b.dtype or (a.dtype.kind == b.dtype.kind == "U"), where
        if a.dtype == object:
            for k, (x, y) in enumerate(zip(a.ravel(), b.ravel())):
                _same_structure(x, y, f"{where}[{k}]")
        else:
            np.testing.assert_array_equal(a, b, err_msg=where)


@needs_official
def test_write_mat_reproduces_the_official_file(tmp_path):
    official = OFFICIAL / "wider_face_val.mat"
    gt = read_wider_mat(official, subsets=())
    write_wider_mat(tmp_path, gt.images, {s: [np.flatnonzero(~i.invalid) for i in gt.images] for s in SUBSETS})
    a, b = scipy.io.loadmat(official), scipy.io.loadmat(tmp_path / "wider_face_val.mat")
    assert {k for k in a if k[0] != "_"} == {k for k in b if k[0] != "_"}
    for key in a:
        if key[0] != "_":
            _same_structure(a[key], b[key], key)


@needs_official
def test_write_txt_reproduces_the_official_file(tmp_path):
    official = OFFICIAL / "wider_face_val_bbx_gt.txt"
    write_wider_txt(tmp_path / "gt.txt", read_wider_txt(official, lenient=True))  # keeps the negative width
    ours, theirs = (tmp_path / "gt.txt").read_text().splitlines(), official.read_text().splitlines()
    assert len(ours) == len(theirs)
    # Identical but for the 4 face-less images, which val writes with a count of 1 and we (like train) with 0.
    diff = [(a, b) for a, b in zip(ours, theirs) if a != b]
    assert diff == [("0", "1")] * 4


# -- predictions ---------------------------------------------------------------------------------------


def test_predictions_round_trip_is_exact(tmp_path):
    rng = np.random.default_rng(0)
    preds = {"0--Parade/0_Parade_a_1": rng.uniform(0, 500, (7, 5)),
             "0--Parade/0_Parade_b_2": np.zeros((0, 5)),
             "1--Handshaking/1_Handshaking_c_3": np.c_[rng.uniform(0, 500, (3, 5)), [16, 32, 16]]}
    write_predictions(tmp_path, preds)
    back = read_predictions(tmp_path)
    assert sorted(back) == sorted(preds) and not back.skipped
    for key in preds:
        np.testing.assert_array_equal(back[key], preds[key])
    assert back["0--Parade/0_Parade_b_2"].shape == (0, 5)
    assert back["1--Handshaking/1_Handshaking_c_3"].shape == (3, 6)


def test_write_predictions_official_layout(tmp_path):
    write_predictions(tmp_path, {"0--Parade/0_Parade_a_1.jpg": [[10, 20, 30, 40, 0.5], [1.5, 2, 3, 4, 0.25]]})
    assert (tmp_path / "0--Parade" / "0_Parade_a_1.txt").read_text() == (
        "0_Parade_a_1\n2\n10 20 30 40 0.5\n1.5 2 3 4 0.25\n")
    with pytest.raises(ValueError, match="not '<event>/<image name>'"):
        write_predictions(tmp_path, {"0_Parade_a_1": [[1, 2, 3, 4, 0.5]]})


BAD_PRED = {
    # name: (file text, error line, lenient skipped, rows kept)
    "count not a number": ("a\nmany\n1 2 3 4 0.5\n", 2, {"files": 1}, None),
    "missing count": ("a\n", 2, {"files": 1}, None),
    "four numbers": ("a\n2\n1 2 3 4\n1 2 3 4 0.5\n", 3, {"detections": 1}, 1),
    "seven numbers": ("a\n1\n1 2 3 4 0.5 16 9\n", 3, {"detections": 1}, 0),
    "not a number": ("a\n1\n1 2 3 4 high\n", 3, {"detections": 1}, 0),
    "nan score": ("a\n1\n1 2 3 4 nan\n", 3, {"detections": 1}, 0),
    "mixed columns": ("a\n2\n1 2 3 4 0.5 16\n1 2 3 4 0.5\n", 4, {"detections": 1}, 1),
    "fewer rows than count": ("a\n3\n1 2 3 4 0.5\n", 4, {"detections": 2}, 1),
    "more rows than count": ("a\n1\n1 2 3 4 0.5\n1 2 3 4 0.4\n", 4, {"detections": 1}, 1),
}


@pytest.mark.parametrize("case", BAD_PRED)
def test_prediction_errors_name_file_and_line(tmp_path, case):
    text, line, skipped, rows = BAD_PRED[case]
    (tmp_path / "ev").mkdir()
    (tmp_path / "ev" / "a.txt").write_text(text)
    (tmp_path / "ev" / "b.txt").write_text("b\n1\n1 2 3 4 0.9\n")
    with pytest.raises(WiderFormatError) as info:
        read_predictions(tmp_path)
    assert str(info.value).startswith(f"{tmp_path / 'ev' / 'a.txt'}:{line}: ")
    preds = read_predictions(tmp_path, lenient=True)
    assert dict(preds.skipped) == skipped
    assert preds.problems[0].startswith(f"{tmp_path / 'ev' / 'a.txt'}:{line}: ")
    assert preds["ev/b"].shape == (1, 5)
    if rows is None:
        assert "ev/a" not in preds
    else:
        assert len(preds["ev/a"]) == rows


def test_predictions_at_top_level_are_an_error(tmp_path):
    (tmp_path / "a.txt").write_text("a\n0\n")
    with pytest.raises(WiderFormatError, match="one folder per event"):
        read_predictions(tmp_path)
    assert read_predictions(tmp_path, lenient=True).skipped == {"files": 1}
    with pytest.raises(FileNotFoundError, match="missing prediction folder"):
        read_predictions(tmp_path / "nowhere")

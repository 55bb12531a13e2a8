"""FDDB folds and detection files, region overlap by rasterisation, and the discrete ROC."""
import math
from collections import Counter

import numpy as np
import pytest

from gslib.data.fddb import (
    FddbDetections,
    FddbFormatError,
    FddbImage,
    fold_paths,
    read_fddb_detections,
    read_fddb_ellipses,
    read_fddb_folds,
    read_fddb_image_list,
    write_fddb_detections,
    write_fddb_ellipses,
)
from gslib.evaluate.fddb import discrete_roc, evaluate_fddb, region_areas, region_overlaps

ELLIPSE_LIST = """\
2002/08/11/big/img_591
1
123.583300 85.549500 1.265839 269.693400 161.781200  1
2002/08/26/big/img_265
2
67.363819 44.511485 -1.476417 105.249970 87.209036  1
41.936870 27.064477 1.471906 184.070915 129.345601  1
"""


# ------------------------------------------------------------------------------------------ files


def test_read_ellipse_list(tmp_path):
    path = tmp_path / "FDDB-fold-01-ellipseList.txt"
    path.write_text(ELLIPSE_LIST)
    images = read_fddb_ellipses(path)
    assert [im.name for im in images] == ["2002/08/11/big/img_591", "2002/08/26/big/img_265"]
    assert images[0].ellipses.shape == (1, 5) and images[1].ellipses.shape == (2, 5)
    np.testing.assert_allclose(images[0].ellipses[0], [123.5833, 85.5495, 1.265839, 269.6934, 161.7812])


def test_ellipses_round_trip_exactly(tmp_path):
    images = [FddbImage("a/b/img_1", np.array([[10.1, 5.25, 0.3, 40.0, 50.123456789]])),
              FddbImage("a/b/img_2", np.zeros((0, 5)))]
    write_fddb_ellipses(tmp_path / "e.txt", images)
    assert (tmp_path / "e.txt").read_text().splitlines()[2].endswith(" 1")
    back = read_fddb_ellipses(tmp_path / "e.txt")
    assert [im.name for im in back] == ["a/b/img_1", "a/b/img_2"]
    np.testing.assert_array_equal(back[0].ellipses, images[0].ellipses)
    assert back[1].ellipses.shape == (0, 5)


@pytest.mark.parametrize("kind, regions", [("rectangles", np.array([[1.5, 2, 30, 40], [0, 0, 1, 1]])),
                                           ("ellipses", np.array([[10.0, 5, 0.1, 20, 30]]))])
def test_detections_round_trip(tmp_path, kind, regions):
    dets = [FddbDetections("img_1", regions, np.linspace(0.9, 0.1, len(regions))),
            FddbDetections("img_2", np.zeros((0, regions.shape[1])), np.zeros(0))]
    write_fddb_detections(tmp_path / "d.txt", dets)
    back = read_fddb_detections(tmp_path / "d.txt")
    assert [d.name for d in back] == ["img_1", "img_2"]
    np.testing.assert_array_equal(back[0].regions, regions)
    np.testing.assert_array_equal(back[0].scores, dets[0].scores)
    assert back[1].regions.shape == (0, regions.shape[1])


def test_folds_checked_against_image_lists(tmp_path):
    list_path, ellipse_path = fold_paths(tmp_path, 3)
    assert ellipse_path.name == "FDDB-fold-03-ellipseList.txt"
    ellipse_path.write_text(ELLIPSE_LIST)
    list_path.write_text("2002/08/11/big/img_591\n2002/08/26/big/img_265\n")
    assert read_fddb_image_list(list_path) == ["2002/08/11/big/img_591", "2002/08/26/big/img_265"]
    assert len(read_fddb_folds(tmp_path, folds=[3])) == 2
    list_path.write_text("2002/08/11/big/img_591\n")
    with pytest.raises(ValueError, match="differ from those of"):
        read_fddb_folds(tmp_path, folds=[3])


@pytest.mark.parametrize("text, message", [
    ("img\nx\n", r"d\.txt:2: expected the number of detections of 'img', got 'x'"),
    ("img\n", r"d\.txt:1: expected the number of detections of 'img', got the end of the file"),
    ("img\n2\n1 2 3 4 0.5\n", r"d\.txt:3: 'img': count 2 at line 2 but only 1 detections lines, then the end"),
    ("img\n2\n1 2 3 4 0.5\nimg2\n0\n", r"d\.txt:4: 'img': count 2 at line 2 but only 1 detections lines, then 'img2'"),
    ("img\n1\n1 2 3 4 0.5\n1 2 3 4 0.5\n", r"d\.txt:4: expected an image name, got a line of numbers"),
    ("img\n1\n1 2 3 0.5\n", r"d\.txt:3: expected 5 or 6 numbers, got 4 fields"),
    ("img\n1\n1 2 a 4 0.5\n", r"d\.txt:3: not a number"),
    ("img\n1\n1 2 -3 4 0.5\n", r"d\.txt:3: negative size"),
    ("img\n1\n1 2 3 nan 0.5\n", r"d\.txt:3: non-finite"),
    ("img\n2\n1 2 3 4 0.5\n1 2 3 4 5 0.5\n", r"d\.txt:4: ellipse line in a file of rectangle detections"),
])
def test_detection_errors_name_file_and_line(tmp_path, text, message):
    (tmp_path / "d.txt").write_text(text)
    with pytest.raises(FddbFormatError, match=message) as info:
        read_fddb_detections(tmp_path / "d.txt")
    assert isinstance(info.value, ValueError) and info.value.path == tmp_path / "d.txt"


def test_lenient_skips_and_counts(tmp_path):
    path = tmp_path / "d.txt"
    path.write_text(
        "img\n3\n1 2 3 4 0.5\n1 2 x 4 0.5\n5 6 7 8 0.25\n"  # one bad line in the record
        "img2\nx\n1 2 3 4 0.5\n"  # a bad count: the record is dropped with its line
        "img3\n3\n1 2 3 4 0.5\n"  # announces 3, has 1, then the next record starts
        "img4\n1\n1 2 3 4 0.5\n9 9 9 9 0.5\n"  # one line more than the count
    )
    dets = read_fddb_detections(path, lenient=True)
    assert [d.name for d in dets] == ["img", "img3", "img4"]
    np.testing.assert_array_equal(dets[0].regions, [[1, 2, 3, 4], [5, 6, 7, 8]])
    assert len(dets[1].regions) == 1 and len(dets[2].regions) == 1
    assert dets.skipped == Counter(detections=4, images=1)
    assert [p.split(": ")[0] for p in dets.problems] == [f"{path}:{n}" for n in (4, 7, 12, 15)]
    assert read_fddb_detections(tmp_path / "d.txt", lenient=True).problems == dets.problems

    clean = tmp_path / "clean.txt"
    write_fddb_detections(clean, dets)
    assert read_fddb_detections(clean, lenient=True).skipped == Counter()


def test_lenient_ellipse_list(tmp_path):
    (tmp_path / "e.txt").write_text("img\n2\n-1 2 0 4 5 1\n10 5 0 40 50 1\n")
    with pytest.raises(FddbFormatError, match=r"e\.txt:3: ellipse radii must be positive"):
        read_fddb_ellipses(tmp_path / "e.txt")
    (tmp_path / "e.txt").write_text("img\n2\n-1 2 0 4 5 1\n10 5 -0.5 -40 50\n")  # 5 fields: no label
    images = read_fddb_ellipses(tmp_path / "e.txt", lenient=True)
    np.testing.assert_array_equal(images[0].ellipses, [[10, 5, -0.5, -40, 50]])
    assert images.skipped == Counter(faces=1)


# ------------------------------------------------------------------------------------------ geometry


def brute_force_mask(region, width, height):
    """(height, width) bool: pixel centres (i + 0.5, j + 0.5) inside the region, by brute force."""
    x, y = np.meshgrid(np.arange(width) + 0.5, np.arange(height) + 0.5)
    if len(region) == 4:
        return (region[0] <= x) & (x < region[0] + region[2]) & (region[1] <= y) & (y < region[1] + region[3])
    ra, rb, t, cx, cy = region
    u = (x - cx) * math.cos(t) + (y - cy) * math.sin(t)
    v = -(x - cx) * math.sin(t) + (y - cy) * math.cos(t)
    return (u / ra) ** 2 + (v / rb) ** 2 <= 1


def test_axis_aligned_ellipse_in_its_bounding_box_overlaps_pi_over_4():
    face = np.array([[100.0, 60.0, 0.0, 500.0, 400.0]])
    box = np.array([[400.0, 340.0, 200.0, 120.0]])  # x y w h of the bounding box
    assert region_overlaps(face, box)[0, 0] == pytest.approx(math.pi / 4, abs=2e-3)
    assert region_areas(box)[0] == 200 * 120  # integer rectangles cover exactly w * h pixels
    assert region_areas(face)[0] == pytest.approx(math.pi * 100 * 60, rel=2e-3)


def test_largest_inscribed_rectangle_overlaps_2_over_pi():
    a, b = 100.0, 60.0
    face = np.array([[a, b, 0.0, 500.0, 400.0]])
    box = np.array([[500 - a / math.sqrt(2), 400 - b / math.sqrt(2), a * math.sqrt(2), b * math.sqrt(2)]])
    assert region_overlaps(face, box)[0, 0] == pytest.approx(2 / math.pi, abs=5e-3)


def test_angle_turns_the_major_axis_from_x_towards_y():
    upright = np.array([[100.0, 60.0, math.pi / 2, 500.0, 400.0]])  # major axis vertical
    tall_box = np.array([[440.0, 300.0, 120.0, 200.0]])
    wide_box = np.array([[400.0, 340.0, 200.0, 120.0]])
    overlaps = region_overlaps(upright, np.concatenate([tall_box, wide_box]))
    assert overlaps[0, 0] == pytest.approx(math.pi / 4, abs=2e-3) and overlaps[0, 1] < 0.5


def test_rasterisation_matches_brute_force_masks():
    rng = np.random.default_rng(0)
    width, height = 120, 90
    faces = np.column_stack([rng.uniform(3, 40, 6), rng.uniform(3, 40, 6), rng.uniform(-3, 3, 6),
                             rng.uniform(-10, 130, 6), rng.uniform(-10, 100, 6)])
    rects = np.column_stack([rng.uniform(-20, 120, 8), rng.uniform(-20, 90, 8),
                             rng.uniform(0, 60, 8), rng.uniform(0, 60, 8)])
    for dets in (rects, faces[::-1]):
        got = region_overlaps(faces, dets, image_size=(width, height))
        masks_f = [brute_force_mask(f, width, height) for f in faces]
        masks_d = [brute_force_mask(d, width, height) for d in dets]
        want = np.array([[(mf & md).sum() / max((mf | md).sum(), 1) for md in masks_d] for mf in masks_f])
        np.testing.assert_allclose(got, want, atol=1e-12)
        np.testing.assert_array_equal(region_areas(dets, (width, height)), [m.sum() for m in masks_d])


def test_clipping_to_the_image():
    # A 20 x 20 box half outside the image: 10 x 20 pixels inside.
    box = np.array([[-10.0, 0.0, 20.0, 20.0]])
    assert region_areas(box)[0] == 400 and region_areas(box, image_size=(100, 100))[0] == 200


# ------------------------------------------------------------------------------------------ discrete ROC


FACES = [FddbImage("img_1", np.array([[40.0, 30.0, math.pi / 2, 100.0, 100.0]])),
         FddbImage("img_2", np.array([[40.0, 30.0, math.pi / 2, 100.0, 100.0],
                                      [20.0, 15.0, math.pi / 2, 300.0, 100.0]]))]


def test_perfect_detections_reach_tpr_one_at_zero_false_positives():
    dets = [FddbDetections(im.name, im.ellipses, np.linspace(0.9, 0.8, len(im.ellipses))) for im in FACES]
    roc = evaluate_fddb(FACES, dets)
    assert roc.num_faces == 3
    np.testing.assert_array_equal(roc.false_positives, 0)
    assert roc.true_positive_rate[-1] == 1.0 and roc.tpr_at(0) == 1.0


def test_bounding_rectangles_count_as_matches():
    # pi/4 > 0.5: each face's bounding box (the rectangle format, with .jpg names) is a true positive.
    boxes = {"img_1.jpg": (np.array([[70.0, 60.0, 60.0, 80.0]]), np.array([0.5])),
             "img_2.jpg": (np.array([[70.0, 60.0, 60.0, 80.0], [285.0, 80.0, 30.0, 40.0]]), np.array([0.7, 0.6]))}
    roc = evaluate_fddb(FACES, boxes)
    np.testing.assert_array_equal(roc.thresholds, [0.7, 0.6, 0.5])
    np.testing.assert_allclose(roc.true_positive_rate, [1 / 3, 2 / 3, 1])
    np.testing.assert_array_equal(roc.false_positives, [0, 0, 0])


def test_one_spurious_detection_adds_one_false_positive():
    far = np.array([[500.0, 500.0, 30.0, 30.0]])
    exact = {im.name: (im.ellipses, np.full(len(im.ellipses), 0.8)) for im in FACES}
    # Spurious detection below the faces' score: one more point, TPR unchanged, FP + 1.
    low = dict(exact, img_1=(np.concatenate([FACES[0].ellipses, [[15.0, 15.0, 0.0, 515.0, 515.0]]]),
                             np.array([0.8, 0.3])))
    roc = evaluate_fddb(FACES, low)
    np.testing.assert_array_equal(roc.thresholds, [0.8, 0.3])
    np.testing.assert_array_equal(roc.false_positives, [0, 1])
    np.testing.assert_allclose(roc.true_positive_rate, [1, 1])
    # Spurious rectangle above them: it is counted from the first threshold on.
    high = {"img_1": (np.concatenate([far, [[60.0, 60.0, 80.0, 80.0]]]), np.array([0.95, 0.1]))}
    roc = evaluate_fddb(FACES, high)
    np.testing.assert_array_equal(roc.false_positives, [1, 1])
    np.testing.assert_allclose(roc.true_positive_rate, [0, 1 / 3])
    assert roc.tpr_at(0) == 0.0 and roc.tpr_at(1) == pytest.approx(1 / 3)


def test_a_second_detection_of_the_same_face_is_a_false_positive():
    face = FACES[0]
    roc = evaluate_fddb([face], {"img_1": (np.repeat(face.ellipses, 2, axis=0), np.array([0.9, 0.8]))})
    np.testing.assert_array_equal(roc.false_positives, [0, 1])
    np.testing.assert_allclose(roc.true_positive_rate, [1, 1])


def test_matching_is_one_to_one_and_maximises_the_summed_overlap():
    # Detection 0 overlaps face B best (0.9) but also face A (0.6); detection 1 only face B (0.55).
    # Greedy matching would pair 0 with B and leave one match; the Hungarian pairs 0-A and 1-B.
    overlaps = np.array([[0.6, 0.0],
                         [0.9, 0.55]])
    roc = discrete_roc([overlaps], [np.array([0.9, 0.8])])
    np.testing.assert_allclose(roc.true_positive_rate, [0.5, 1.0])
    np.testing.assert_array_equal(roc.false_positives, [0, 0])


def test_overlap_must_exceed_the_threshold():
    roc = discrete_roc([np.array([[0.5]]), np.array([[0.51]])], [np.array([0.9]), np.array([0.9])])
    np.testing.assert_allclose(roc.true_positive_rate, [0.5])  # 0.5 itself is not > 0.5 (official tool)
    np.testing.assert_array_equal(roc.false_positives, [1])


def test_thresholds_merge_across_images():
    # Image 1: a true positive at 0.9 and a false one at 0.5; image 2: a true positive at 0.7.
    roc = discrete_roc([np.array([[0.8, 0.0]]), np.array([[0.9]])],
                       [np.array([0.9, 0.5]), np.array([0.7])])
    np.testing.assert_array_equal(roc.thresholds, [0.9, 0.7, 0.5])
    np.testing.assert_allclose(roc.true_positive_rate, [0.5, 1.0, 1.0])
    np.testing.assert_array_equal(roc.false_positives, [0, 0, 1])


def test_unannotated_image_and_missing_size_are_errors():
    with pytest.raises(ValueError, match="not annotated"):
        evaluate_fddb(FACES, {"img_9": (np.zeros((0, 4)), np.zeros(0))})
    with pytest.raises(ValueError, match="no image size"):
        evaluate_fddb(FACES, {}, image_sizes={"img_1": (10, 10)})

"""The real-photo sample as a WIDER-format set: restricting a ground truth (a hand-made one), the manifest, images
resized back, and the restricted official ground truth (204 images) evaluated by the official protocol."""
import numpy as np
import pytest
from PIL import Image

from gslib.data import real_sample
from gslib.data.wider import WiderGroundTruth, WiderImage, read_wider_mat, write_predictions, write_wider_mat
from gslib.evaluate.wider import evaluate_wider

HEADER = "image,stored_width,stored_height,original_width,original_height,kind,source\n"


def fake_ground_truth() -> WiderGroundTruth:
    """3 images over 2 events; attribute column 3 is 'invalid'."""
    images = [
        WiderImage("0--A/a_1.jpg", [[10, 10, 20, 20], [50, 50, 8, 8]], [[0] * 6, [2, 0, 0, 0, 0, 0]]),
        WiderImage("0--A/a_2.jpg", [[0, 0, 5, 5]], [[0, 0, 0, 1, 0, 0]]),
        WiderImage("1--B/b_1.jpg", [[30, 40, 12, 14], [100, 100, 40, 40], [5, 5, 3, 3]]),
    ]
    subsets = {"easy": [np.array([0]), np.array([], np.int64), np.array([1])],
               "medium": [np.array([0]), np.array([], np.int64), np.array([0, 1])],
               "hard": [np.array([0, 1]), np.array([], np.int64), np.array([0, 1, 2])]}
    return WiderGroundTruth(images, subsets)


def test_restrict_keeps_the_named_images_whole(tmp_path):
    write_wider_mat(tmp_path / "full", fake_ground_truth().images, fake_ground_truth().subsets)
    gt = read_wider_mat(tmp_path / "full")
    kept = real_sample.restrict_ground_truth(gt, ["1--B/b_1.jpg", "0--A/a_1.jpg"])
    assert [im.name for im in kept.images] == ["0--A/a_1.jpg", "1--B/b_1.jpg"]  # the ground truth's order
    assert kept.images[1].boxes.tolist() == [[30, 40, 12, 14], [100, 100, 40, 40], [5, 5, 3, 3]]
    assert kept.images[0].attributes[1].tolist() == [2, 0, 0, 0, 0, 0]
    assert [s.tolist() for s in kept.subsets["medium"]] == [[0], [0, 1]]
    # Written and read back as the evaluation reads it: unchanged.
    write_wider_mat(tmp_path / "two", kept.images, kept.subsets)
    again = read_wider_mat(tmp_path / "two")
    assert [im.name for im in again.images] == [im.name for im in kept.images]
    assert all(np.array_equal(a.boxes, b.boxes) for a, b in zip(again.images, kept.images))
    assert [s.tolist() for s in again.subsets["hard"]] == [[0, 1], [0, 1, 2]]
    with pytest.raises(ValueError, match=r"0--A/nope\.jpg"):
        real_sample.restrict_ground_truth(gt, ["0--A/nope.jpg", "0--A/a_1.jpg"])


def test_restricted_set_is_evaluated_by_hand(tmp_path):
    """The 2-image restriction, evaluated: a detection on each face of b_1 and on a_1's first face, plus one
    false positive scoring lowest. Hard (3 + 2 faces): 4 recalled of 5 at precision 1, then precision 4/5 ->
    AP 0.8. Easy (a_1's face 0, b_1's face 1): both recalled at precision 1 -> AP 1."""
    gt = real_sample.restrict_ground_truth(fake_ground_truth(), ["0--A/a_1.jpg", "1--B/b_1.jpg"])
    write_wider_mat(tmp_path / "gt", gt.images, gt.subsets)
    write_predictions(tmp_path / "pred", {
        "0--A/a_1": np.array([[10, 10, 20, 20, 0.9], [200, 200, 10, 10, 0.1]]),
        "1--B/b_1": np.array([[30, 40, 12, 14, 0.8], [100, 100, 40, 40, 0.7], [5, 5, 3, 3, 0.6]]),
    })
    aps = {k: v.ap for k, v in evaluate_wider(tmp_path / "pred", tmp_path / "gt").items()}
    assert aps["easy"] == pytest.approx(1.0)
    assert aps["hard"] == pytest.approx(0.8)
    assert aps["all"] == pytest.approx(0.8)  # the same 5 valid faces


def test_manifest_and_images_resized_back(tmp_path):
    (tmp_path / "images" / "0--A").mkdir(parents=True)
    Image.new("RGB", (10, 10), (200, 10, 10)).save(tmp_path / "images" / "0--A" / "a_1.jpg")
    Image.new("RGB", (30, 20)).save(tmp_path / "images" / "0--A" / "a_2.jpg")
    (tmp_path / "manifest.csv").write_text(HEADER + "0--A/a_1.jpg,10,10,24,16,squashed,x\n"
                                                    "0--A/a_2.jpg,30,20,30,20,original,y\n")
    rows = real_sample.read_manifest(tmp_path)
    assert rows[0] == real_sample.SampleImage("0--A/a_1.jpg", (10, 10), (24, 16), "squashed")
    image = real_sample.open_image(rows[0], tmp_path)
    assert image.size == (24, 16) and image.mode == "RGB"
    assert image.getpixel((12, 8))[0] > 150  # the same picture, stretched back
    assert real_sample.open_image(rows[1], tmp_path).size == (30, 20)
    wrong = real_sample.SampleImage("0--A/a_2.jpg", (31, 20), (31, 20), "original")
    with pytest.raises(ValueError, match=r"a_2\.jpg is 30 x 20"):
        real_sample.open_image(wrong, tmp_path)


@pytest.mark.parametrize("row, message", [("0--A/a.jpg,ten,10,24,16,squashed,x", r"manifest\.csv:2: sizes must be"),
                                          ("0--A/a.jpg,10,10,24,16,cropped,x", r"manifest\.csv:2: .*kind one of")])
def test_bad_manifest_names_file_and_line(tmp_path, row, message):
    (tmp_path / "manifest.csv").write_text(HEADER + row + "\n")
    with pytest.raises(ValueError, match=message):
        real_sample.read_manifest(tmp_path)
    (tmp_path / "manifest.csv").write_text("image,width\n")
    with pytest.raises(ValueError, match=r"manifest\.csv:1: expected the columns"):
        real_sample.read_manifest(tmp_path)


def test_the_official_ground_truth_restricted_to_the_sample(tmp_path):
    if not (real_sample.SAMPLE / "manifest.csv").is_file() or not real_sample.WIDERFACE_GT.is_dir():
        pytest.skip("needs ../shared/wider-real-sample and ../shared/widerface/ground_truth (../shared is absent)")
    gt = real_sample.write_ground_truth(tmp_path)
    rows = {row.name: row for row in real_sample.read_manifest()}
    assert len(gt.images) == 204 and {im.name for im in gt.images} == set(rows)
    assert real_sample.count_faces(gt) == 4_699
    # The sample README's "4,370 annotated faces, median 10 per image, at most 473, one image has none" are the
    # 200 squashed images' faces of positive size (their one 0-px-wide box aside); the 4 full photos add 328.
    squashed = [im for im in gt.images if rows[im.name].kind == "squashed"]
    counts = np.array([len(im.boxes) for im in squashed])
    assert sum(int((im.boxes[:, 2:] > 0).all(axis=1).sum()) for im in squashed) == 4_370
    assert np.median(counts) == 10 and counts.max() == 473 and (counts == 0).sum() == 1
    # The official lists are kept: each subset's faces, as the official file has them for these images.
    official = real_sample.restrict_ground_truth(read_wider_mat(real_sample.WIDERFACE_GT), list(rows))
    for subset in ("easy", "medium", "hard"):
        assert all(np.array_equal(a, b) for a, b in zip(gt.subsets[subset], official.subsets[subset]))
    # The official boxes as detections recall (nearly) every face: duplicated boxes are claimed once.
    write_predictions(tmp_path / "pred", {im.key: np.column_stack([im.boxes, np.ones(len(im.boxes))])
                                          for im in gt.images})
    aps = {k: v.ap for k, v in evaluate_wider(tmp_path / "pred", tmp_path).items()}
    assert all(aps[s] > 0.99 for s in ("easy", "medium", "hard", "all")), aps

"""COCO JSON reading / writing and the COCOeval-based metrics, against hand-worked cases."""
import json
import math
from types import SimpleNamespace

import numpy as np
import pytest

from gslib.data.coco import (
    coco_from_dict,
    detections_to_coco_results,
    load_coco,
    load_coco_results,
    write_coco_json,
    write_coco_results,
)
from gslib.evaluate.coco import METRIC_KEYS, evaluate_coco


def record(name, boxes, invalid=None):
    """A WiderImage-like record (duck typing: .name, .boxes, .attributes)."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    attributes = np.zeros((len(boxes), 6), dtype=np.int64)
    if invalid is not None:
        attributes[:, 3] = invalid
    return SimpleNamespace(name=name, boxes=boxes, attributes=attributes)


def gt_dataset(boxes_per_image, categories=(1,), labels=None, crowd=None):
    """An instances dict: image k (id k + 1) holds boxes_per_image[k]."""
    images, annotations = [], []
    for k, boxes in enumerate(boxes_per_image):
        images.append({"id": k + 1, "file_name": f"{k}.jpg", "width": 2000, "height": 2000})
        for j, box in enumerate(boxes):
            annotations.append({
                "id": len(annotations) + 1, "image_id": k + 1, "bbox": list(map(float, box)),
                "area": float(box[2] * box[3]),
                "category_id": labels[k][j] if labels else categories[0],
                "iscrowd": crowd[k][j] if crowd else 0,
            })
    return {"images": images, "annotations": annotations,
            "categories": [{"id": c, "name": str(c)} for c in categories]}


def exact_detections(dataset, score=lambda i: 1.0 - 1e-4 * i):
    return [{"image_id": a["image_id"], "category_id": a["category_id"], "bbox": a["bbox"], "score": score(i)}
            for i, a in enumerate(dataset["annotations"])]


# One small (20 px), one medium (50 px) and one large (150 px) face per image, two images.
SIZED = [[[10, 10, 20, 20], [100, 100, 50, 50], [300, 300, 150, 150]],
         [[40, 10, 20, 20], [200, 100, 50, 50], [600, 300, 150, 150]]]


# ------------------------------------------------------------------------------------------ writer / reader


def test_write_then_load_round_trip(tmp_path):
    images = [record("0--Parade/a.jpg", [[1, 2, 30, 40], [50, 60, 5, 6]], invalid=[0, 1]),
              record("1--Handshaking/b.jpg", np.zeros((0, 4)))]
    path = tmp_path / "gt.json"
    write_coco_json(path, images, {"0--Parade/a.jpg": (640, 480), "1--Handshaking/b.jpg": (800, 600)})
    coco = load_coco(path)
    assert [coco.imgs[i]["file_name"] for i in (1, 2)] == ["0--Parade/a.jpg", "1--Handshaking/b.jpg"]
    assert (coco.imgs[1]["width"], coco.imgs[1]["height"]) == (640, 480)
    anns = coco.loadAnns(coco.getAnnIds(imgIds=[1]))
    assert [a["bbox"] for a in anns] == [[1, 2, 30, 40], [50, 60, 5, 6]]
    assert [a["area"] for a in anns] == [1200, 30]
    assert [a["iscrowd"] for a in anns] == [0, 1]  # the invalid face becomes a crowd (ignored) region
    assert coco.getAnnIds(imgIds=[2]) == []
    assert coco.loadCats(1)[0]["name"] == "face"


def test_write_accepts_sizes_in_order_and_records_without_attributes(tmp_path):
    images = [SimpleNamespace(name="x.jpg", boxes=np.array([[0.0, 0, 10, 10]]), attributes=None)]
    write_coco_json(tmp_path / "gt.json", images, [(100, 50)])
    coco = load_coco(tmp_path / "gt.json")
    assert coco.imgs[1]["width"] == 100 and coco.anns[1]["iscrowd"] == 0


def test_write_refuses_a_missing_size_and_a_duplicate_image(tmp_path):
    with pytest.raises(ValueError, match="no \\(width, height\\)"):
        write_coco_json(tmp_path / "gt.json", [record("a.jpg", [[0, 0, 1, 1]])], {})
    with pytest.raises(ValueError, match="appears twice"):
        write_coco_json(tmp_path / "gt.json", [record("a.jpg", []), record("a.jpg", [])], [(1, 1), (1, 1)])


def test_json_syntax_error_names_file_and_line(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text('{"images": [],\n "annotations": [,]\n}')
    with pytest.raises(ValueError, match=r"broken\.json:2:\d+: invalid JSON"):
        load_coco(path)


@pytest.mark.parametrize("mutate, message", [
    (lambda d: d.pop("categories"), "missing or non-list key 'categories'"),
    (lambda d: d["annotations"][0].pop("iscrowd"), r"annotations\[0\]: missing key 'iscrowd'"),
    (lambda d: d["annotations"][1].update(image_id=99), "image_id 99 is not among the images"),
    (lambda d: d["annotations"][1].update(category_id=7), "category_id 7 is not among the categories"),
    (lambda d: d["annotations"][1].update(id=1), r"annotations\[1\]: duplicate id 1"),
    (lambda d: d["annotations"][0].update(bbox=[1, 2, 3]), r"bbox must be \[x, y, w, h\]"),
])
def test_load_refuses_what_pycocotools_would_half_read(tmp_path, mutate, message):
    dataset = gt_dataset(SIZED)
    mutate(dataset)
    path = tmp_path / "gt.json"
    path.write_text(json.dumps(dataset))
    with pytest.raises(ValueError, match=message) as info:
        load_coco(path)
    assert "gt.json" in str(info.value)


def test_results_round_trip_and_checks(tmp_path):
    dets = [{"image_id": np.int64(1), "category_id": 1, "bbox": np.array([1.0, 2, 3, 4]), "score": np.float32(0.5)}]
    write_coco_results(tmp_path / "res.json", dets)
    assert load_coco_results(tmp_path / "res.json") == [
        {"image_id": 1, "category_id": 1, "bbox": [1.0, 2.0, 3.0, 4.0], "score": 0.5}]
    with pytest.raises(ValueError, match=r"detection 0: missing key 'score'"):
        write_coco_results(tmp_path / "bad.json", [{"image_id": 1, "category_id": 1, "bbox": [0, 0, 1, 1]}])
    (tmp_path / "bad.json").write_text("[{\"image_id\": 1,\n}]")
    with pytest.raises(ValueError, match=r"bad\.json:2:1: invalid JSON"):
        load_coco_results(tmp_path / "bad.json")


def test_detections_to_coco_results_maps_names_to_ids():
    coco = coco_from_dict(gt_dataset(SIZED))
    results = detections_to_coco_results(coco, {"1.jpg": (np.array([[1.0, 2, 3, 4]]), np.array([0.9]))})
    assert results == [{"image_id": 2, "category_id": 1, "bbox": [1.0, 2.0, 3.0, 4.0], "score": 0.9}]
    with pytest.raises(ValueError, match="not in the ground truth"):
        detections_to_coco_results(coco, {"nope.jpg": (np.zeros((0, 4)), np.zeros(0))})


# ------------------------------------------------------------------------------------------ metrics


def test_perfect_detections_give_one_everywhere(capsys):
    dataset = gt_dataset(SIZED)
    metrics = evaluate_coco(coco_from_dict(dataset), exact_detections(dataset))
    assert tuple(metrics) == METRIC_KEYS
    for key, value in metrics.items():
        assert value == pytest.approx(1.0), key
    assert capsys.readouterr().out == ""  # pycocotools' prints are suppressed


def test_no_detections_give_zero():
    metrics = evaluate_coco(coco_from_dict(gt_dataset(SIZED)), [])
    assert all(value == 0.0 for value in metrics.values())


def test_half_the_faces_found():
    # 4 faces, 2 found exactly: recall 1/2 at every IoU threshold; precision 1 up to recall 1/2 and 0
    # beyond, so AP = (recall thresholds 0, 0.01, ..., 0.50) / 101 = 51/101.
    dataset = gt_dataset([[[0, 0, 40, 40], [100, 0, 40, 40], [200, 0, 40, 40], [300, 0, 40, 40]]])
    metrics = evaluate_coco(coco_from_dict(dataset), exact_detections(dataset)[:2])
    assert metrics["AR100"] == pytest.approx(0.5) and metrics["AR1k"] == pytest.approx(0.5)
    assert metrics["AP"] == pytest.approx(51 / 101) and metrics["AP50"] == pytest.approx(51 / 101)


def test_partial_overlap_counts_at_the_iou_thresholds_it_passes():
    # IoU 0.72 passes 0.50, 0.55, ..., 0.70 (5 of the 10 thresholds): AR = AP = 0.5, AP50 = 1, AP75 = 0.
    dataset = gt_dataset([[[0, 0, 100, 100]]])
    dets = [{"image_id": 1, "category_id": 1, "bbox": [0, 0, 100, 72], "score": 0.9}]
    metrics = evaluate_coco(coco_from_dict(dataset), dets)
    assert metrics["AR100"] == pytest.approx(0.5) and metrics["AP"] == pytest.approx(0.5)
    assert metrics["AP50"] == pytest.approx(1.0) and metrics["AP75"] == 0.0


def test_ar100_and_ar1k_differ_by_the_detection_budget():
    # 150 small faces in one image, all found: 100 detections find 2/3 of them, 1000 find all.
    boxes = [[20 * (k % 50), 20 * (k // 50), 10, 10] for k in range(150)]
    dataset = gt_dataset([boxes])
    metrics = evaluate_coco(coco_from_dict(dataset), exact_detections(dataset))
    assert metrics["AR100"] == pytest.approx(2 / 3) and metrics["AR100_s"] == pytest.approx(2 / 3)
    assert metrics["AR1k"] == pytest.approx(1.0) and metrics["AR1k_s"] == pytest.approx(1.0)
    # No medium or large face: undefined (pycocotools' -1), reported as nan.
    assert math.isnan(metrics["AR100_m"]) and math.isnan(metrics["AP_l"])
    assert evaluate_coco(coco_from_dict(dataset), exact_detections(dataset), ap_max_dets=1000)["AP"] == 1.0


def test_crowd_faces_are_ignored():
    # A detection on the invalid (crowd) face is not a false positive; missing it is not a miss.
    dataset = gt_dataset([[[0, 0, 40, 40], [100, 0, 40, 40]]], crowd=[[0, 1]])
    dets = exact_detections(dataset)
    assert evaluate_coco(coco_from_dict(dataset), dets)["AP"] == pytest.approx(1.0)
    assert evaluate_coco(coco_from_dict(dataset), dets[:1])["AR100"] == pytest.approx(1.0)


def test_class_agnostic_versus_per_class():
    # Two categories, each detection exact but with the other category's label.
    dataset = gt_dataset([[[0, 0, 40, 40], [100, 0, 40, 40]]], categories=(1, 2), labels=[[1, 2]])
    dets = exact_detections(dataset)
    for d in dets:
        d["category_id"] = 3 - d["category_id"]
    coco = coco_from_dict(dataset)
    per_class = evaluate_coco(coco, dets)
    agnostic = evaluate_coco(coco, dets, class_agnostic=True)
    assert per_class["AP"] == 0.0 and per_class["AR100"] == 0.0
    assert agnostic["AP"] == pytest.approx(1.0) and agnostic["AR100"] == pytest.approx(1.0)


def test_per_class_mean_leaves_out_categories_without_ground_truth():
    # Category 2 has no ground truth (-1 in pycocotools): the mean is over category 1 only.
    dataset = gt_dataset([[[0, 0, 40, 40]]], categories=(1, 2))
    assert evaluate_coco(coco_from_dict(dataset), exact_detections(dataset))["AP"] == pytest.approx(1.0)


def test_paths_and_errors(tmp_path):
    dataset = gt_dataset(SIZED)
    (tmp_path / "gt.json").write_text(json.dumps(dataset))
    write_coco_results(tmp_path / "res.json", exact_detections(dataset))
    assert evaluate_coco(tmp_path / "gt.json", tmp_path / "res.json")["AP"] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="not in the ground truth"):
        evaluate_coco(tmp_path / "gt.json", [{"image_id": 9, "category_id": 1, "bbox": [0, 0, 1, 1], "score": 1}])
    with pytest.raises(ValueError, match="category id"):
        evaluate_coco(tmp_path / "gt.json", [{"image_id": 1, "category_id": 5, "bbox": [0, 0, 1, 1], "score": 1}])


def test_verbose_lets_pycocotools_print(capsys):
    dataset = gt_dataset(SIZED)
    evaluate_coco(coco_from_dict(dataset), exact_detections(dataset), verbose=True)
    assert "Accumulating evaluation results" in capsys.readouterr().out

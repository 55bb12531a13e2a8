"""The embedded benchmark generator (gslib.data.synth): layout, formats, determinism, scale distribution."""
import dataclasses
import json
import shutil

import numpy as np
import pytest
from PIL import Image

from gslib.data import synth

if not synth.DEFAULT_STATS_PATH.is_file():
    pytest.skip(f"WIDER FACE val statistics not found at {synth.DEFAULT_STATS_PATH} (the study's shared/ folder "
                "beside the repository); the generator needs them", allow_module_level=True)

STATS = synth.load_wider_stats()
SMOKE = synth.SMOKE


def _readers():
    """The WIDER and COCO readers, or skip: they are written alongside the generator."""
    wider = pytest.importorskip("gslib.data.wider", reason="gslib.data.wider (WIDER FACE readers) is not there yet")
    coco = pytest.importorskip("gslib.data.coco", reason="gslib.data.coco (COCO reader) is not there yet")
    return wider, coco


@pytest.fixture(scope="module")
def smoke_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("synth") / "smoke"
    synth.generate(out, SMOKE, progress=False)
    return out


def _annotation_files(root):
    return sorted(p.relative_to(root) for p in root.rglob("*") if p.is_file() and p.name != "manifest.json")


def test_layout(smoke_dir):
    for split, num in (("train", SMOKE.num_train), ("val", SMOKE.num_val)):
        assert (smoke_dir / "wider_face_split" / f"wider_face_{split}_bbx_gt.txt").is_file()
        assert (smoke_dir / "annotations" / f"instances_{split}.json").is_file()
        jpgs = list((smoke_dir / f"WIDER_{split}" / "images").glob("*/*.jpg"))
        assert len(jpgs) == num
        assert all(p.parent.name in synth.EVENTS for p in jpgs)
    for name in ("wider_face_val.mat", "wider_easy_val.mat", "wider_medium_val.mat", "wider_hard_val.mat"):
        assert (smoke_dir / "eval_tools" / "ground_truth" / name).is_file()
    manifest = json.loads((smoke_dir / "manifest.json").read_text())
    assert manifest["profile"]["name"] == "smoke" and manifest["seed"] == SMOKE.seed
    assert manifest["splits"]["val"]["images"] == SMOKE.num_val
    assert manifest["version"] == synth.GENERATOR_VERSION and manifest["seconds"] > 0


def test_boxes_inside_images_and_sizes_agree(smoke_dir):
    wider, coco = _readers()
    for split in ("train", "val"):
        images = wider.read_wider_txt(smoke_dir / "wider_face_split" / f"wider_face_{split}_bbx_gt.txt")
        gt = coco.load_coco(smoke_dir / "annotations" / f"instances_{split}.json")
        sizes = {im["file_name"]: (im["width"], im["height"]) for im in gt.dataset["images"]}
        for image in images:
            with Image.open(smoke_dir / f"WIDER_{split}" / "images" / image.name) as im:
                assert im.size == sizes[image.name] and im.mode == "RGB"
                width, height = im.size
            assert width == SMOKE.image_width
            x, y, w, h = image.boxes.T
            assert (w > 0).all() and (h > 0).all()
            assert (x >= 0).all() and (y >= 0).all()
            assert (x + w <= width).all() and (y + h <= height).all()


def test_counts_agree_between_txt_mat_and_coco(smoke_dir):
    wider, coco = _readers()
    manifest = json.loads((smoke_dir / "manifest.json").read_text())
    txt = wider.read_wider_txt(smoke_dir / "wider_face_split" / "wider_face_val_bbx_gt.txt")
    mat = wider.read_wider_mat(smoke_dir / "eval_tools" / "ground_truth")
    gt = coco.load_coco(smoke_dir / "annotations" / "instances_val.json")
    by_name = {im.name: im for im in txt}
    assert len(txt) == len(mat.images) == len(gt.dataset["images"]) == SMOKE.num_val
    assert sum(len(im.boxes) for im in txt) == len(gt.dataset["annotations"]) == manifest["splits"]["val"]["boxes"]
    for image in mat.images:  # the .mat files are event-major: match by name
        np.testing.assert_allclose(image.boxes, by_name[image.name].boxes, atol=1e-9)
        np.testing.assert_array_equal(image.attributes, by_name[image.name].attributes)
    crowd = sum(a["iscrowd"] for a in gt.dataset["annotations"])
    assert crowd == sum(int(im.invalid.sum()) for im in txt) == manifest["splits"]["val"]["invalid"]
    for subset in ("easy", "medium", "hard"):
        assert sum(len(ix) for ix in mat.subsets[subset]) == manifest["splits"]["val"]["subsets"][subset]


def test_subsets_nested_and_exclude_invalid(smoke_dir):
    wider, _ = _readers()
    mat = wider.read_wider_mat(smoke_dir / "eval_tools" / "ground_truth")
    for image, easy, medium, hard in zip(mat.images, *(mat.subsets[k] for k in ("easy", "medium", "hard"))):
        assert set(easy) <= set(medium) <= set(hard)
        assert not image.invalid[hard].any()


def test_subset_shares_near_wider():
    scenes = synth.plan_split(synth.DEFAULT, "val", 400, STATS)
    total = sum(len(s.boxes) for s in scenes)
    counts = {k: 0 for k in synth.SUBSET_THRESHOLDS}
    for s in scenes:
        index = synth.subset_indices(s.boxes, s.attributes, s.width)
        assert set(index["easy"]) <= set(index["medium"]) <= set(index["hard"])
        for k, v in index.items():
            counts[k] += len(v)
    wider_boxes = STATS["boxes"]
    for k, v in counts.items():
        assert abs(v / total - STATS["subset_box_counts"][k] / wider_boxes) < 0.03, (k, v / total)


def test_deterministic(smoke_dir, tmp_path):
    again = tmp_path / "again"
    synth.generate(again, SMOKE, progress=False)
    files = _annotation_files(smoke_dir)
    assert files == _annotation_files(again)
    assert any(f.suffix == ".jpg" for f in files) and any(f.suffix == ".mat" for f in files)
    for f in files:
        assert (smoke_dir / f).read_bytes() == (again / f).read_bytes(), f
    manifest = json.loads((again / "manifest.json").read_text())
    assert manifest["digest"] == json.loads((smoke_dir / "manifest.json").read_text())["digest"]
    assert manifest["digest"] == synth.files_digest(again)


def test_the_digest_names_the_files_bytes(smoke_dir, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(smoke_dir, copy)
    digest = synth.files_digest(copy)
    assert synth.files_digest(copy) == digest
    (copy / "manifest.json").write_text("{}")  # the manifest is not part of its own digest
    assert synth.files_digest(copy) == digest
    image = next(copy.rglob("*.jpg"))
    data = bytearray(image.read_bytes())
    data[-3] ^= 1  # one bit of one image
    image.write_bytes(bytes(data))
    assert synth.files_digest(copy) != digest
    image.rename(image.with_name("renamed.jpg"))  # the same bytes under another name
    assert synth.files_digest(copy) != digest


def test_ensure_adds_a_digest_to_an_older_manifest(smoke_dir, tmp_path):
    copy = tmp_path / "old"
    shutil.copytree(smoke_dir, copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    digest = manifest.pop("digest")
    (copy / "manifest.json").write_text(json.dumps(manifest))
    synth.ensure(SMOKE, copy, progress=False)
    assert json.loads((copy / "manifest.json").read_text())["digest"] == digest


def test_annotations_only_writes_the_same_annotations(smoke_dir, tmp_path):
    out = tmp_path / "ann"
    synth.generate(out, SMOKE, annotations_only=True, progress=False)
    assert not (out / "WIDER_val").exists()
    files = _annotation_files(out)
    assert files and all(f.suffix in (".txt", ".json", ".mat") for f in files)
    for f in files:
        assert (out / f).read_bytes() == (smoke_dir / f).read_bytes(), f


def test_seed_and_split_change_the_draw():
    a = synth.plan_split(SMOKE, "val", 6, STATS)
    b = synth.plan_split(dataclasses.replace(SMOKE, seed=SMOKE.seed + 1), "val", 6, STATS)
    c = synth.plan_split(SMOKE, "train", 6, STATS)
    assert not all(np.array_equal(x.boxes, y.boxes) for x, y in zip(a, b))
    assert not all(np.array_equal(x.boxes, y.boxes) for x, y in zip(a, c))


def test_scale_distribution_matches_wider():
    """An annotations-only plan of a few thousand faces has WIDER's scale percentiles (after the rescale)."""
    scenes = synth.plan_split(synth.DEFAULT, "val", 300, STATS)
    assert sum(len(s.boxes) for s in scenes) > 2500
    table = synth.scale_quantiles(scenes, synth.DEFAULT.image_width, STATS)
    assert list(table.columns) == ["generated", "wider", "ratio"]
    assert list(table.index) == list(synth.QUANTILE_PERCENTILES)
    inner = table.loc[[5, 10, 25, 50, 75, 90, 95], "ratio"]
    assert ((inner > 0.95) & (inner < 1.05)).all(), table
    assert ((table["ratio"] > 0.9) & (table["ratio"] < 1.1)).all(), table
    # faces per image: WIDER's shares of images by count bin (exact quotas, capped at max_faces)
    counts = np.array([len(s.boxes) for s in scenes])
    shares = STATS["faces_per_image"]["share_of_images_with"]
    assert abs((counts == 1).mean() - shares["1"]) < 0.01
    assert abs(((counts >= 6) & (counts <= 20)).mean() - shares["6-20"]) < 0.01
    # invalid faces: about WIDER's 585 / 39,708
    invalid = np.concatenate([s.attributes[:, 3] for s in scenes]).mean()
    assert 0.007 < invalid < 0.025


def test_plot_scale_comparison():
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    scenes = synth.plan_split(SMOKE, "val", 12, STATS)
    fig = synth.plot_scale_comparison(scenes, SMOKE.image_width, STATS)
    assert isinstance(fig, matplotlib.figure.Figure) and len(fig.axes) == 2
    assert fig.axes[1].get_xscale() == "log"
    matplotlib.pyplot.close(fig)


def test_attributes_follow_what_is_rendered():
    scenes = synth.plan_split(synth.DEFAULT, "val", 120, STATS)
    for s in scenes:
        blur, expression, illumination, _, occlusion, pose = s.attributes.T
        assert ((s.blur_sigma > 0) == (blur > 0)).all()
        assert (s.blur_sigma[blur == 2] > 0.45).all()
        assert (np.isin(s.mouth, (2, 3)) == (expression == 1)).all()
        atypical = (np.abs(s.yaw) >= 0.85) | (np.abs(s.roll) >= 35) | s.look_down
        assert (atypical == (pose == 1)).all()
        assert (occlusion[s.accessory == 3] == 2).all()  # a mask hides ~45 % of the face
        if s.image_gain < 0.45:
            assert (illumination == 1).all()
        # the occlusion label is the covered share of the face, measured again here from the plan
        np.testing.assert_array_equal(occlusion, synth._occlusion_labels(s.boxes, s.accessory, s.occluder))


def test_render_is_deterministic_and_sized():
    scene = synth.plan_split(SMOKE, "val", 3, STATS)[1]
    a, b = synth.render_scene(scene), synth.render_scene(scene)
    assert a.size == (scene.width, scene.height) and a.mode == "RGB"
    assert np.array_equal(np.asarray(a), np.asarray(b))


def test_missing_stats_is_a_clear_error(tmp_path, capsys):
    missing = tmp_path / "nowhere.json"
    with pytest.raises(FileNotFoundError, match=r"shared/wider_val_statistics\.json"):
        synth.load_wider_stats(missing)
    with pytest.raises(SystemExit) as e:
        synth.main(["--profile", "smoke", "--out", str(tmp_path / "o"), "--stats", str(missing), "--quiet"])
    assert e.value.code == 1
    assert "--stats" in capsys.readouterr().err


def test_official_evaluation_of_the_generated_val_set(tmp_path):
    """Perfect detections give AP 1.0 on the generated set read back from its .mat files; none give 0."""
    import warnings

    from gslib.data.wider import read_wider_mat, read_wider_txt, write_predictions
    from gslib.evaluate.wider import evaluate_wider

    synth.generate(tmp_path / "set", synth.SMOKE, num_train=0, num_val=12, annotations_only=True, progress=False)
    gt = read_wider_mat(tmp_path / "set" / "eval_tools" / "ground_truth")
    txt = read_wider_txt(tmp_path / "set" / "wider_face_split" / "wider_face_val_bbx_gt.txt")
    assert sorted(im.name for im in gt.images) == sorted(im.name for im in txt)  # the .mat is event-major
    perfect = {im.key: np.c_[im.boxes, np.linspace(1.0, 0.5, len(im.boxes))] for im in txt}
    write_predictions(tmp_path / "perfect", perfect)
    aps = {k: v.ap for k, v in evaluate_wider(tmp_path / "perfect", gt).items()}
    assert aps.keys() == {"easy", "medium", "hard", "all"}
    assert all(abs(ap - 1.0) < 1e-12 for ap in aps.values()), aps  # VOCap sums recall steps
    write_predictions(tmp_path / "none", {im.key: np.zeros((0, 5)) for im in txt})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        aps = {k: v.ap for k, v in evaluate_wider(tmp_path / "none", gt).items()}
    assert aps == {"easy": 0.0, "medium": 0.0, "hard": 0.0, "all": 0.0}


def test_ensure_generates_once(tmp_path):
    out = tmp_path / "b"
    assert synth.main(["--profile", "smoke", "--out", str(out), "--ensure", "--quiet"]) == 0
    stamp = (out / "manifest.json").stat().st_mtime_ns
    assert synth.main(["--profile", "smoke", "--out", str(out), "--ensure", "--quiet"]) == 0
    assert (out / "manifest.json").stat().st_mtime_ns == stamp  # up to date: nothing rewritten

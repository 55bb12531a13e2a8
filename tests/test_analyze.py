"""The anchor-distribution analysis (Fig. 2): counts against hand-worked and direct computations."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from gslib.analyze import (
    AnnotatedImage,
    count_training_samples,
    figure2,
    load_annotations,
    read_sizes,
    sample_balance,
)
from gslib.anchors import fpn_finest, fpn_finest_stride
from gslib.sampling import GroupSampler, RandomSampler

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "widerface"


def one_face_image():
    # A 64 x 64 image, one face exactly on the scale-16 anchor of cell (3, 3): [6, 6, 22, 22].
    return AnnotatedImage("a.jpg", 64, 64, torch.tensor([[6.0, 6.0, 22.0, 22.0]]), torch.tensor([False]))


def test_hand_worked_counts_one_face():
    counts = count_training_samples([one_face_image()], fpn_finest(), RandomSampler(1024), scales=(1.0,),
                                    progress=False)
    # The anchor on the face (IoU 1) and its 4 neighbours shifted by one stride (IoU 192/320 = 0.6);
    # diagonal neighbours have IoU 144/368 < 0.4. Scale 32+ anchors reach at most IoU 0.25.
    assert counts["pos_all"].tolist() == [5, 0, 0, 0]
    # 16 x 16 cells, one anchor per scale each; scale 16: 5 positives, the 4 diagonals at IoU 0.39 negative.
    assert counts["neg_all"][0] == 256 - 5
    # RS with 1024 samples takes everything that is labelled (5 + (4*256 - 5 - ignored)).
    assert counts["pos"].tolist() == [5, 0, 0, 0]
    assert (counts["neg"] == counts["neg_all"]).all()


def test_sample_balance_of_the_one_face_image():
    # The 5 positives of test_hand_worked_counts_one_face, all at scale 16: RS with N = 64 and 128 draws them all
    # (at most N / 4) and fills N with negatives, so doubling N halves the share of positives.
    table = sample_balance([one_face_image()] * 2, {"N64": (fpn_finest(), RandomSampler(64)),
                                                     "N128": (fpn_finest(), RandomSampler(128))}, scales=(1.0,))
    table = table.set_index("detector")
    assert table["positives per image"].tolist() == [5.0, 5.0]
    assert table["samples per image"].tolist() == [64.0, 128.0]
    assert table.loc["N64", "positive share"] == 5 / 64 and table.loc["N128", "positive share"] == 5 / 128
    # Scales 32-128 draw negatives only: their share, 0, is the lowest.
    assert table["lowest scale share"].tolist() == [0.0, 0.0]


def test_gs_draws_the_same_total_per_group_and_rs_follows_the_anchors():
    rng = np.random.default_rng(0)
    images = []
    for i in range(6):
        xy = rng.uniform(0, 200, (8, 2))
        side = rng.uniform(8, 100, (8, 1))
        boxes = torch.tensor(np.hstack([xy, xy + side]), dtype=torch.float32)
        images.append(AnnotatedImage(f"{i}.jpg", 256, 256, boxes, torch.zeros(8, dtype=torch.bool)))
    gs = count_training_samples(images, fpn_finest(), GroupSampler(64), progress=False)
    assert ((gs["pos"] + gs["neg"]) == 6 * 64).all()
    assert (gs["pos"] <= 6 * 16).all() and (gs["pos"] <= gs["pos_all"]).all()
    rs = count_training_samples(images, fpn_finest_stride(), RandomSampler(256), progress=False)
    # FPN-finest-stride has 4x as many scale-16 anchors as scale-32 ones: RS negatives follow.
    assert rs["neg"][0] > 2.5 * rs["neg"][1]


def test_figure2_shares_sum_to_one_per_detector():
    table = figure2([one_face_image()] * 3, progress=False)
    assert set(table["detector"]) == {"RPN", "FPN", "FPN-finest-stride", "FPN-finest", "FPN-finest-sampling"}
    sums = table.groupby("detector")[["pos", "neg"]].sum().sum(axis=1)
    assert np.allclose(sums, 1.0)


def test_load_wider_txt_needs_sizes_and_cli_prints_json(tmp_path):
    ann = tmp_path / "gt.txt"
    ann.write_text("0--Parade/a.jpg\n2\n6 6 16 16 0 0 0 0 0 0 \n30 30 5 5 0 0 0 1 0 0 \n")
    sizes = tmp_path / "sizes.csv"
    sizes.write_text("image,width,height\n0--Parade/a.jpg,64,64\n")
    with pytest.raises(ValueError, match="sizes"):
        load_annotations(ann)
    (im,) = load_annotations(ann, read_sizes(sizes))
    assert im.boxes.tolist() == [[6, 6, 22, 22], [30, 30, 35, 35]] and im.ignore.tolist() == [False, True]
    out = subprocess.run([sys.executable, "-m", "gslib.analyze", "anchors", "--annotations", str(ann),
                          "--sizes", str(sizes), "--sampler", "gs", "--json"], capture_output=True, text=True,
                         check=True)
    result = json.loads(out.stdout)
    assert result["layout"] == "FPN-finest" and len(result["rows"]) == 4
    bad = subprocess.run([sys.executable, "-m", "gslib.analyze", "anchors", "--annotations", str(ann)],
                         capture_output=True, text=True)
    assert bad.returncode != 0 and "sizes" in bad.stderr


@pytest.mark.skipif(not SHARED.is_dir(), reason="../shared/widerface not present")
def test_runs_on_the_real_wider_train_annotations():
    images = load_annotations(SHARED / "wider_face_split" / "wider_face_train.mat",
                              read_sizes(SHARED / "image_sizes.csv"))
    # 159,424 rows in the file, 4 of them the all-zero placeholders of face-less images.
    assert len(images) == 12880 and sum(len(i.boxes) for i in images) == 159420
    counts = count_training_samples(images[:20], fpn_finest(), GroupSampler(256), progress=False)
    assert counts["pos"].sum() > 0

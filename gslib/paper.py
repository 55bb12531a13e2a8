"""The paper's own numbers, as printed, for the notebooks to show beside ours (AP in %).

Copied by hand from the tables of ``../shared/paper/group_sampling_tpami2022.txt``: this is data, not code.
"""
from __future__ import annotations

import pandas as pd

AP_COLUMNS = ("easy", "medium", "hard", "all", "@16", "@32", "@64", "@128")

# Table 1: AP on the WIDER FACE validation set by feature map and anchor stride, keyed by our experiment names
# (FPN-single on P2 at stride 4 is FPN-finest).
TABLE1 = {
    "FPN": (90.9, 91.3, 87.6, 82.1, 72.3, 67.3, 43.2, 21.2),
    "FPN-finest-stride": (90.4, 91.0, 87.1, 81.6, 72.2, 66.6, 43.3, 21.8),
    "FPN-finest": (94.1, 93.0, 86.6, 80.2, 65.6, 66.8, 43.9, 22.4),
    "FPN-single-P2-s8": (94.2, 92.8, 86.0, 79.5, 62.5, 66.5, 44.1, 22.8),
    "FPN-single-P3-s8": (93.9, 92.6, 85.9, 79.6, 62.5, 66.4, 44.2, 22.4),
    "FPN-single-P2-s16": (93.3, 91.7, 83.1, 73.7, 46.1, 64.7, 44.2, 22.0),
    "FPN-single-P3-s16": (93.2, 91.8, 83.5, 74.2, 48.1, 65.0, 44.5, 22.1),
    "FPN-single-P4-s16": (93.1, 91.6, 83.5, 74.4, 47.9, 65.6, 44.2, 22.1),
}

# Table 3: AP on the WIDER FACE validation set (easy, medium, hard, All, @16, @32, @64, @128).
TABLE3 = {
    "RPN": (92.5, 91.0, 83.0, 74.0, 48.6, 65.1, 43.8, 21.5),
    "FPN-finest": (94.1, 93.0, 86.6, 80.2, 65.6, 66.8, 43.9, 22.4),
    "FPN-finest-DC": (94.4, 93.3, 87.3, 81.1, 66.5, 67.9, 44.5, 23.5),
    "FPN": (90.9, 91.3, 87.6, 82.1, 72.3, 67.3, 43.2, 21.2),
    "FPN-finest-stride": (90.4, 91.0, 87.1, 81.6, 72.2, 66.6, 43.3, 21.8),
    "FPN-finest-sampling": (94.7, 93.8, 88.7, 82.8, 74.1, 72.9, 47.8, 24.5),
    "FPN-finest-stride-sampling": (87.6, 89.1, 88.2, 83.5, 75.9, 74.2, 48.5, 25.1),
    "FPN-finest-DC-sampling": (94.9, 94.0, 89.3, 83.7, 74.8, 73.4, 48.8, 25.8),
    "FPN-finest-DC-WRS": (95.1, 94.9, 89.5, 84.5, 75.9, 73.8, 49.3, 26.3),
}


# Table 9a (WIDER FACE): @16, @32, @64, @128, All only (easy / medium / hard are not reported: NaN), keyed
# by our run names (experiments.variant: "+Focal*" on FPN is FPN-FocalStar, "+GS" on FPN-finest is
# FPN-finest-sampling).
_NA = float("nan")


def _sub_detector_row(at16, at32, at64, at128, all_):
    """A row of the tables that give only @16, @32, @64, @128 and All (easy / medium / hard NaN)."""
    return (_NA, _NA, _NA, all_, at16, at32, at64, at128)


TABLE9A = {name: _sub_detector_row(*row) for name, row in {
    "FPN": (72.3, 67.3, 43.2, 21.2, 82.1), "FPN-FocalStar": (78.2, 69.6, 44.0, 21.2, 83.1),
    "FPN-OHEM-NMS0.7": (77.6, 69.9, 44.3, 21.6, 82.7), "FPN-WRS": (78.8, 69.5, 44.0, 20.5, 83.4),
    "FPN-GS": (75.7, 73.4, 48.2, 24.9, 83.6), "FPN-GS+OHEM-NMS0.7": (79.4, 74.1, 48.2, 24.6, 83.6),
    "FPN-GS+WRS": (81.2, 74.3, 48.5, 24.2, 84.1), "FPN-GS+FocalStar": (77.1, 73.6, 47.8, 24.0, 83.7),
    "FPN-finest": (65.6, 66.8, 43.9, 22.4, 80.2), "FPN-finest-FocalStar": (75.8, 68.5, 44.2, 21.5, 81.2),
    "FPN-finest-OHEM-NMS0.7": (76.0, 68.9, 43.9, 22.0, 81.5), "FPN-finest-WRS": (77.6, 69.1, 43.7, 21.5, 82.9),
    "FPN-finest-sampling": (74.1, 72.9, 47.8, 24.5, 82.8),
    "FPN-finest-GS+OHEM-NMS0.7": (77.9, 72.7, 47.4, 24.2, 82.6),
    "FPN-finest-GS+WRS": (78.2, 73.1, 46.8, 23.7, 83.1), "FPN-finest-GS+FocalStar": (75.9, 72.9, 47.4, 23.7, 82.5),
}.items()}

# Table 5: with and without GS on each feature map (@16, @32, @64, @128, All). The text lost the rows' labels;
# the rows pair as {P2..P5} (FPN; = Table 3), P2 (FPN-finest; = Table 3), P3 and P4 (= Table 1's stride 8 and
# 16 rows), a plain C map, and C4 (RPN; = Table 3). The fifth pair is read as C2 at stride 4 (the paper
# compares "P_n with C_n"; C4 is RPN): an assumption, shown as such in notebook 03.
TABLE5 = {name: _sub_detector_row(*row) for name, row in {
    "FPN": (72.3, 67.3, 43.2, 21.2, 82.1), "FPN-GS": (75.7, 73.4, 48.2, 24.9, 83.6),
    "FPN-finest": (65.6, 66.8, 43.9, 22.4, 80.2), "FPN-finest-sampling": (74.1, 72.9, 47.8, 24.5, 82.8),
    "FPN-single-P3-s8": (62.5, 66.4, 44.2, 22.4, 79.6), "FPN-single-P3-s8-GS": (72.1, 73.2, 48.7, 25.3, 83.7),
    "FPN-single-P4-s16": (47.9, 65.6, 44.2, 22.1, 74.4), "FPN-single-P4-s16-GS": (57.8, 71.0, 48.4, 25.2, 79.6),
    "FPN-single-C2-s4": (59.8, 61.8, 39.2, 18.0, 71.0), "FPN-single-C2-s4-GS": (68.8, 68.9, 44.3, 21.2, 75.4),
    "RPN": (48.6, 65.1, 43.8, 21.5, 74.0), "RPN-GS": (58.0, 70.8, 48.2, 24.6, 78.9),
}.items()}

# Table 7: each sub-detector's AP (easy, medium, hard, All of the boxes of that anchor scale) for S (trained
# on that scale alone), M (= FPN-finest) and M+GS (= FPN-finest-sampling). {scale: {model: row}}.
TABLE7 = {
    16: {"S": (34.2, 56.8, 75.5, 73.7), "M": (13.5, 36.9, 66.1, 65.6), "M+GS": (32.9, 56.8, 76.2, 74.1)},
    32: {"S": (83.4, 88.6, 86.0, 72.3), "M": (75.7, 84.1, 81.5, 66.8), "M+GS": (85.0, 89.6, 86.7, 72.9)},
    64: {"S": (95.1, 94.8, 58.5, 47.1), "M": (94.7, 94.6, 54.5, 43.9), "M+GS": (95.6, 95.3, 59.4, 47.8)},
    128: {"S": (95.1, 71.3, 29.8, 24.0), "M": (95.3, 66.8, 27.9, 22.4), "M+GS": (95.9, 72.6, 30.4, 24.5)},
}

# Table 8: the regression loss of FPN-finest-sampling (@16, @32, @64, @128, All), keyed by our run names
# (FPN-finest-sampling trains with LS-IoU, eq. 5). The paper's Smooth-L1 row equals its Table 3
# FPN-finest-sampling row (82.8): its Table 3 seems to be trained with Smooth-L1.
TABLE8 = {name: _sub_detector_row(*row) for name, row in {
    "FPN-finest-sampling-smooth_l1": (74.1, 72.9, 47.8, 24.5, 82.8),
    "FPN-finest-sampling-neg_ln_iou": (74.6, 73.1, 48.0, 25.1, 83.5),
    "FPN-finest-sampling": (75.0, 73.2, 48.2, 24.9, 83.7),
}.items()}

# Table 10 (ResNet-18, WIDER FACE val): easy, medium, hard, All AP and GFLOPs at 800 x 800. Our row is the P3
# detector of Table 15 (gslib.flops.TABLE10_R18); CenterNet is not run here.
TABLE10 = {"CenterNet": (81.9, 81.8, 76.5, 70.1, 98.61), "FPN-finest-sampling (R18)": (92.2, 91.3, 85.1, 76.0, 29.73)}

# Table 15's rows of the other methods: GFLOPs at 800 x 800 and parameters (millions), as the paper counted them
# (our rows, Ours(R18/R50/R152), are gslib.flops.TABLE15). PyramidBox* is its ResNet-50 build.
TABLE15_OTHERS = {"HR": (93.0, 30.0), "SSH": (208.5, 19.8), "S3FD": (201.0, 22.5), "PyramidBox*": (229.1, 67.3),
                  "SRN": (394.6, 53.4), "DSFD": (540.5, 120.0), "RetinaFace": (164.5, 61.9)}

# Fig. 7 (WIDER FACE val) and Fig. 8 (WIDER FACE test): the AP legend values (easy, medium, hard) the text
# states. The curves and the other methods' legend values are only in the figures, which the text lacks.
FIG7 = {
    "Ours-R152": (96.5, 95.9, 91.7),  # Sec. 7: "our method based on ResNet-152 achieves 96.5, 95.9 and 91.7"
    # Sec. 6.3: Table 13's last row is "our final model, which is used to compare with other methods" (ResNet-50).
    "Ours-R50 (Table 13, +GS)": (96.2, 95.5, 91.1),
}
FIG8: dict[str, tuple[float, float, float]] = {}  # Sec. 7 gives no value: "best performance on all subsets"


def ap_rows(table: dict[str, tuple[float, ...]], names) -> pd.DataFrame:
    """The rows ``names`` of one of the tables above as fractions (0-1, like our APs), indexed by detector,
    columns :data:`AP_COLUMNS`."""
    return pd.DataFrame({n: [v / 100 for v in table[n]] for n in names}, index=list(AP_COLUMNS)).T


def table1(names) -> pd.DataFrame:
    """Table 1's rows ``names`` (:func:`ap_rows`)."""
    return ap_rows(TABLE1, names)


def table9a(names) -> pd.DataFrame:
    """Table 9a's rows ``names`` (:func:`ap_rows`; easy / medium / hard NaN; NaN rows for ours beyond the
    paper, OHEM without NMS)."""
    return ap_rows({**{n: (_NA,) * len(AP_COLUMNS) for n in names}, **TABLE9A}, names)


def table3(names) -> pd.DataFrame:
    """Table 3's rows ``names`` (:func:`ap_rows`)."""
    return ap_rows(TABLE3, names)


def table5(names) -> pd.DataFrame:
    """Table 5's rows ``names`` (:func:`ap_rows`; easy / medium / hard NaN, rows it lacks NaN)."""
    return ap_rows({**{n: (_NA,) * len(AP_COLUMNS) for n in names}, **TABLE5}, names)


def table7() -> pd.DataFrame:
    """Table 7 as fractions: one row per (scale, model), columns easy, medium, hard, all."""
    return pd.DataFrame([{"scale": scale, "model": model, **{c: v / 100 for c, v in
                                                              zip(("easy", "medium", "hard", "all"), row)}}
                         for scale, models in TABLE7.items() for model, row in models.items()])


def table8(names) -> pd.DataFrame:
    """Table 8's rows ``names`` (:func:`ap_rows`; easy / medium / hard NaN)."""
    return ap_rows(TABLE8, names)


def _subset_row(easy, medium, hard, all_):
    """A row of the tables that give only easy, medium, hard and All (the sub-detectors' APs NaN)."""
    return (easy, medium, hard, all_, _NA, _NA, _NA, _NA)


# Table 13 (WIDER FACE val): FPN-finest-sampling, then a second stage, each row adding one change to the one
# above; easy, medium, hard, All only. Keyed by our run names (experiments.TABLE13).
TABLE13 = {name: _subset_row(*row) for name, row in {
    "FPN-finest-sampling": (94.7, 93.8, 88.7, 82.8),
    "FPN-finest-sampling+Fast-R-CNN": (96.2, 95.1, 89.7, 83.9),
    "FPN-finest-sampling+Fast-R-CNN-IoU": (96.4, 95.3, 90.3, 84.6),
    "FPN-finest-sampling+Fast-R-CNN-OHEM": (96.1, 95.0, 90.4, 85.3),
    "FPN-finest-sampling+Fast-R-CNN-Focal": (95.9, 95.0, 90.7, 85.5),
    "FPN-finest-sampling+Grouped-Fast-R-CNN": (96.2, 95.5, 91.1, 85.7),
}.items()}

# Table 6 (WIDER FACE val): four pipelines without and with GS (easy, medium, hard, All). The text prints each
# cell as "without with" (e.g. RetinaFace's Easy "93.8 95.0"), the GS column as one tick: the first number of a
# pair is read as without GS (the second is never the smaller, as the paper's "large improvement" says).
# "-sampling" names the GS row, as FPN-finest-sampling (ours for RetinaFace: experiments.TABLE6's IoU35 pair). The
# paper's pipelines have ResNet-50 bodies (YOLOv3: darknet-59), its RetinaFace no deformable convolution and no
# self-supervision; R-FCN's GS is in its first stage only.
TABLE6 = {name: _subset_row(*row) for name, row in {
    "YOLOv3": (90.8, 89.6, 81.0, 74.0), "YOLOv3-sampling": (92.1, 91.5, 83.7, 76.0),
    "SSD": (93.0, 91.3, 81.2, 74.2), "SSD-sampling": (93.9, 92.4, 83.4, 75.4),
    "RetinaFace": (93.8, 92.8, 88.7, 83.5), "RetinaFace-sampling": (95.0, 94.0, 89.7, 84.3),
    "R-FCN": (95.9, 94.9, 90.3, 85.1), "R-FCN-sampling": (95.9, 95.0, 90.6, 85.4),
}.items()}

# Table 14 (COCO val, Fast R-CNN on P3): AP@0.5, AP, AP_s, AP_m, AP_l. The text merged two pairs of rows into
# one line each ("+OHEM +WRS 54.9 56.1 32.0 33.6 ..."; "+GS +GS +WRS 57.3 57.5 ..."); each pair is split as
# Table 6's cells are: the first number of every pair to the first row named.
TABLE14_COLUMNS = ("AP@0.5", "AP", "AP_s", "AP_m", "AP_l")
TABLE14 = {
    "Faster R-CNN": (56.4, 33.4, 17.7, 36.1, 45.4),
    "+IoU loss": (56.4, 33.5, 18.1, 36.4, 45.2),
    "+OHEM": (54.9, 32.0, 17.0, 35.4, 44.3),
    "+WRS": (56.1, 33.6, 17.9, 36.7, 45.3),
    "+GS": (57.3, 34.4, 18.9, 37.0, 46.3),
    "+GS +WRS": (57.5, 34.8, 19.0, 38.5, 47.1),
}


def table13(names) -> pd.DataFrame:
    """Table 13's rows ``names`` (:func:`ap_rows`; the sub-detectors' APs NaN)."""
    return ap_rows(TABLE13, names)


def table6(names) -> pd.DataFrame:
    """Table 6's rows ``names`` (:func:`ap_rows`; the sub-detectors' APs NaN)."""
    return ap_rows(TABLE6, names)


def table14() -> pd.DataFrame:
    """Table 14 as printed (AP in %, not fractions: nothing of ours stands beside it), one row per method."""
    return pd.DataFrame.from_dict(TABLE14, orient="index", columns=list(TABLE14_COLUMNS))

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
TABLE9A = {name: (_NA, _NA, _NA, row[4], *row[:4]) for name, row in {
    "FPN": (72.3, 67.3, 43.2, 21.2, 82.1), "FPN-FocalStar": (78.2, 69.6, 44.0, 21.2, 83.1),
    "FPN-OHEM": (77.6, 69.9, 44.3, 21.6, 82.7), "FPN-WRS": (78.8, 69.5, 44.0, 20.5, 83.4),
    "FPN-GS": (75.7, 73.4, 48.2, 24.9, 83.6), "FPN-GS+OHEM": (79.4, 74.1, 48.2, 24.6, 83.6),
    "FPN-GS+WRS": (81.2, 74.3, 48.5, 24.2, 84.1), "FPN-GS+FocalStar": (77.1, 73.6, 47.8, 24.0, 83.7),
    "FPN-finest": (65.6, 66.8, 43.9, 22.4, 80.2), "FPN-finest-FocalStar": (75.8, 68.5, 44.2, 21.5, 81.2),
    "FPN-finest-OHEM": (76.0, 68.9, 43.9, 22.0, 81.5), "FPN-finest-WRS": (77.6, 69.1, 43.7, 21.5, 82.9),
    "FPN-finest-sampling": (74.1, 72.9, 47.8, 24.5, 82.8), "FPN-finest-GS+OHEM": (77.9, 72.7, 47.4, 24.2, 82.6),
    "FPN-finest-GS+WRS": (78.2, 73.1, 46.8, 23.7, 83.1), "FPN-finest-GS+FocalStar": (75.9, 72.9, 47.4, 23.7, 82.5),
}.items()}


def ap_rows(table: dict[str, tuple[float, ...]], names) -> pd.DataFrame:
    """The rows ``names`` of one of the tables above as fractions (0-1, like our APs), indexed by detector,
    columns :data:`AP_COLUMNS`."""
    return pd.DataFrame({n: [v / 100 for v in table[n]] for n in names}, index=list(AP_COLUMNS)).T


def table1(names) -> pd.DataFrame:
    """Table 1's rows ``names`` (:func:`ap_rows`)."""
    return ap_rows(TABLE1, names)


def table9a(names) -> pd.DataFrame:
    """Table 9a's rows ``names`` (:func:`ap_rows`; easy / medium / hard NaN)."""
    return ap_rows(TABLE9A, names)


def table3(names) -> pd.DataFrame:
    """Table 3's rows ``names`` (:func:`ap_rows`)."""
    return ap_rows(TABLE3, names)

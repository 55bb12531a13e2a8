"""The paper's claims and the study's verdicts: ``results/claims.md`` (STUDY.md, "Claims and verdicts").

:data:`CLAIMS` lists every claim of the paper with its evidence there and the notebook that tests it.
Each notebook writes ``results/tables/<NN>_claims.csv`` (columns ``claim, ours, verdict``; see
:func:`write_verdicts`); :func:`build` joins them into the Markdown table, marking a claim no notebook has
judged yet as "not yet tested". ``python -m gslib.claims [--profile default]`` (and ``make reproduce``)
writes the file.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from gslib.paths import results_dir

# (id, claim, the paper's evidence, notebook)
CLAIMS = [
    ("fig2-rpn", "RPN: small anchors get few positives", "Fig. 2a; Sec. 1", "01"),
    ("fig2-fpn", "FPN: far more negatives for small scales than for large", "Fig. 2b; Sec. 1", "01"),
    ("fig2-stride", "FPN-finest-stride's sample distribution is like FPN's", "Fig. 2b, 2c; Sec. 3", "01"),
    ("fig2-finest", "FPN-finest's sample distribution is like RPN's", "Fig. 2a, 2d; Sec. 1", "01"),
    ("fig2-contrast", "FPN-finest-stride has more small negatives, FPN-finest more large positives",
     "Fig. 2c, 2d; Sec. 3", "01"),
    ("fig2-gs", "Group sampling balances the training samples across scales", "Fig. 2e; Sec. 3", "01"),
    ("single-layer", "One layer matches FPN when anchor distributions match (FPN ~ FPN-finest-stride)",
     "Table 1: All 82.1 vs 81.6; Table 2: AR100 46.1 vs 46.7", "02"),
    ("same-stride", "The same anchor stride on different maps gives similar accuracy",
     "Table 1: FPN-single s8 P2/P3 79.5/79.6, s16 P2/P3/P4 73.7/74.2/74.4", "02"),
    ("minority", "The minority scale loses: FPN-finest @16 below FPN-finest-stride @16", "Table 3: 65.6 vs 72.2", "03"),
    ("gs-all", "GS improves FPN-finest (All)", "Table 3: 80.2 -> 82.8", "03"),
    ("gs-every", "GS improves every sub-detector @16..@128", "Tables 3, 5", "03"),
    ("p-vs-c", "Top-down features help: P_n beats C_n on every map",
     "Table 5: P2 / P4 80.2 / 74.4 vs C2 / C4 71.0 / 74.0", "03"),
    ("gs-maps", "GS helps whatever the feature map (All)", "Table 5: +1.5 to +5.2 All on each map", "03"),
    ("gs-n", "Larger N helps GS and hurts FPN / FPN-finest", "Fig. 6", "03"),
    ("gs-sub", "M+GS beats both S and M for every sub-detector", "Table 7", "03"),
    ("ls-iou", "LS-IoU >= -ln IoU > smooth-L1", "Table 8: All 83.7 / 83.5 / 82.8", "03"),
    ("gs-schedule", "GS's gain persists at 4x the default schedule (beyond the paper)",
     "not in the paper: its gain, +2.6 All, is at 100 epochs", "03"),
    ("stride-schedule", "The minority scale's loss (@16, FPN-finest-stride vs FPN-finest) persists at 4x the schedule "
     "(beyond the paper)", "not in the paper: Table 3's 72.2 vs 65.6 is at 100 epochs", "03"),
    ("gs-pipelines", "GS helps other pipelines (YOLOv3, SSD, RetinaFace, R-FCN)",
     "Table 6: All +2.0 / +1.2 / +0.8 / +0.3 (RetinaFace 83.5 -> 84.3)", "06"),
    ("rf-equiv", "3x3 on a x2-upsampled map has the receptive field of 2x2 on the original", "Fig. 4", "04"),
    ("dilated", "A larger receptive field (dilated head) helps", "Table 3: FPN-finest-DC 81.1 vs 80.2", "04"),
    ("wrs-ohem", "WRS beats OHEM", "Table 9a: FPN-finest All 82.9 vs 81.5", "05"),
    ("gs-vs-mining", "GS beats OHEM and Focal* on All", "Table 9a: 82.8 vs 81.5 / 81.2", "05"),
    ("mining-small", "OHEM and Focal* help @16 but not the large sub-detectors",
     "Table 9a: FPN-finest @16 65.6 -> 76.0 / 75.8, @128 22.4 -> 22.0 / 21.5", "05"),
    ("gs-mining", "GS and hard mining are complementary (GS+WRS best)", "Table 9a: 84.1 (FPN)", "05"),
    ("mining-cost", "OHEM's NMS costs training time; WRS's weighted draw does not",
     "Sec. 4.2 (argued, no timing given)", "05"),
    ("mining-coco", "On COCO (RetinaNet), GS+WRS beats Focal Loss", "Table 9b: AP 35.0 vs 34.0", "05"),
    ("n-coco", "On COCO, more samples N help FPN with GS+WRS", "Table 12: AP 33.4 (N 128) -> 35.1 (1024)", "05"),
    ("rcnn-helps", "A Fast R-CNN second stage improves FPN-finest-sampling", "Table 13: All 82.8 -> 83.9", "06"),
    ("grouped-rcnn", "Grouped Fast R-CNN beats Fast R-CNN", "Table 13: All 85.7 vs 84.6", "06"),
    ("rcnn-gs-vs-mining", "GS beats OHEM and Focal Loss in the second stage", "Table 13: All 85.7 vs 85.3 / 85.5",
     "06"),
    ("rcnn-coco", "On COCO, GS in the second stage helps", "Table 14: AP 33.5 (+IoU loss) -> 34.4 (+GS)", "06"),
    ("flops", "FPN-finest-sampling costs fewer FLOPs than FPN (S1 < S2 for c > 5)",
     "Table 11: 81.33 vs 88.92 GFLOPs", "07"),
    ("sota", "The final model is state of the art on WIDER FACE hard",
     "Fig. 7: Ours-R152 val easy / medium / hard 96.5 / 95.9 / 91.7; Fig. 8 (test): best on every subset", "07"),
]


def write_verdicts(rows: pd.DataFrame, notebook: str, profile: str) -> Path:
    """A notebook's verdicts: ``rows`` with columns ``claim`` (an id of :data:`CLAIMS`), ``ours``,
    ``verdict`` -> ``results/tables/<notebook>_claims.csv``."""
    known = {c[0] for c in CLAIMS}
    unknown = set(rows["claim"]) - known
    if unknown:
        raise ValueError(f"unknown claim ids {sorted(unknown)}; add them to gslib.claims.CLAIMS")
    out = results_dir(profile) / "tables" / f"{notebook}_claims.csv"
    out.parent.mkdir(parents=True, exist_ok=True)
    rows[["claim", "ours", "verdict"]].to_csv(out, index=False)
    return out


NOT_YET = "not yet tested"


def verdicts(profile: str = "default") -> pd.DataFrame:
    """Every claim of :data:`CLAIMS` with its verdict from the notebooks' files: columns ``claim, text,
    evidence, notebook, ours, verdict``; a claim no notebook has judged is "not yet tested" with ``ours`` empty."""
    tables = sorted((results_dir(profile) / "tables").glob("*_claims.csv"))
    found = pd.concat([pd.read_csv(t) for t in tables]) if tables else pd.DataFrame(columns=["claim", "ours",
                                                                                             "verdict"])
    found = found.set_index("claim")
    rows = [{"claim": cid, "text": text, "evidence": evidence, "notebook": notebook,
             "ours": found.loc[cid, "ours"] if cid in found.index else "",
             "verdict": found.loc[cid, "verdict"] if cid in found.index else NOT_YET}
            for cid, text, evidence, notebook in CLAIMS]
    return pd.DataFrame(rows).fillna({"ours": ""})


FIRST = ("replicated", "not replicated", "inconclusive")  # the order of a tally: these, the others, then NOT_YET


def tally(verdict_column) -> str:
    """``"3 replicated, 1 inconclusive, 2 not yet tested"``: how many claims have each kind of verdict, a kind
    being the verdict without its parenthesis ("not replicated (reversed)" is "not replicated", "not yet tested
    (runs missing)" is "not yet tested"); replicated / not replicated / inconclusive first, "not yet tested"
    last, the others between in order of first appearance."""
    kinds = [str(v).split(" (")[0] for v in verdict_column]
    order = [k for k in FIRST if k in kinds] + [k for k in dict.fromkeys(kinds) if k not in FIRST and k != NOT_YET]
    order += [NOT_YET] if NOT_YET in kinds else []
    return ", ".join(f"{kinds.count(kind)} {kind}" for kind in order)


def build(profile: str = "default") -> str:
    """The Markdown of results/claims.md from the notebooks' verdict files."""
    table = verdicts(profile)
    lines = ["# Claims and verdicts", "",
             f"Profile `{profile}`. Each verdict follows from the check its notebook states; "
             "\"not yet tested\" means no notebook has judged the claim yet.", "",
             f"{len(table)} claims: {tally(table['verdict'])}.", "",
             "| claim | paper's evidence | ours | verdict | notebook |", "|---|---|---|---|---|"]
    for row in table.itertuples():
        lines.append(f"| {row.text} | {row.evidence} | {row.ours} | {row.verdict} | {row.notebook} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m gslib.claims", description="Write results/claims.md.")
    parser.add_argument("--profile", default="default")
    args = parser.parse_args(argv)
    out = results_dir(args.profile) / "claims.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(build(args.profile))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()

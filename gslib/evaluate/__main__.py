"""Command line of the evaluators: ``python -m gslib.evaluate <benchmark> ...``.

    python -m gslib.evaluate wider --pred DIR --gt DIR [--json] [--pr-out FILE] [--lenient]

``wider``: the official WIDER FACE protocol (:mod:`gslib.evaluate.wider`). ``--pred`` is an official
prediction folder (one folder per event, one ``<image>.txt`` per image), ``--gt`` the folder holding
``wider_face_val.mat`` and ``wider_{easy,medium,hard}_val.mat``. Prints one line per curve (easy, medium,
hard, all, @S...), or with ``--json`` exactly one JSON object ``{"easy": AP, "medium": AP, "hard": AP,
"all": AP, "@16": AP, ...}`` (AP in [0, 1], null when undefined). ``--pr-out FILE`` writes every PR curve
as CSV: ``curve,threshold,precision,recall,true_positives,proposals``. Errors go to stderr with exit code 1.
"""
from __future__ import annotations

import argparse
import csv
import json
import math
import sys

from gslib.data.wider import WiderFormatError, read_predictions, read_wider_mat
from gslib.evaluate.wider import PRCurve, evaluate_wider


def write_pr_csv(path, results: dict[str, PRCurve]) -> None:
    """Every curve as rows ``curve,threshold,precision,recall,true_positives,proposals`` (NaN as empty)."""
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["curve", "threshold", "precision", "recall", "true_positives", "proposals"])
        for name, curve in results.items():
            for row in zip(curve.thresholds, curve.precision, curve.recall, curve.true_positives, curve.proposals):
                writer.writerow([name] + ["" if isinstance(v, float) and math.isnan(v) else repr(v.item())
                                          for v in row])


def _wider(args) -> int:
    preds = read_predictions(args.pred, lenient=args.lenient)  # first: a wrong --pred is the likelier mistake
    gt = read_wider_mat(args.gt)
    if preds.skipped:
        print(f"skipped while reading predictions: {dict(preds.skipped)}", file=sys.stderr)
        for problem in preds.problems:
            print(f"  {problem}", file=sys.stderr)
    results = evaluate_wider(preds, gt)
    if args.pr_out:
        write_pr_csv(args.pr_out, results)
    aps = {name: (None if math.isnan(curve.ap) else curve.ap) for name, curve in results.items()}
    if args.json:
        print(json.dumps(aps))
    else:
        for name, curve in results.items():
            ap = "n/a" if aps[name] is None else f"{aps[name]:.4f}"
            print(f"{name:>8}  AP {ap}  ({curve.num_faces} faces)")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m gslib.evaluate", description="Evaluate detections.")
    commands = parser.add_subparsers(dest="command", required=True)
    wider = commands.add_parser("wider", help="the official WIDER FACE protocol (easy / medium / hard AP)")
    wider.add_argument("--pred", required=True, help="prediction folder: <event>/<image>.txt")
    wider.add_argument("--gt", required=True,
                       help="folder with wider_face_val.mat and wider_{easy,medium,hard}_val.mat")
    wider.add_argument("--json", action="store_true", help="print exactly one JSON object of APs")
    wider.add_argument("--pr-out", metavar="FILE", help="write the PR curves to FILE as CSV")
    wider.add_argument("--lenient", action="store_true",
                       help="skip unreadable prediction rows and files, and report them")
    wider.set_defaults(run=_wider)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except (FileNotFoundError, WiderFormatError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())

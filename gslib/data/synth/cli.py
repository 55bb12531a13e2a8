"""``python -m gslib.data.synth``: generate the embedded benchmark (see ``--help``)."""
from __future__ import annotations

import argparse

from gslib.cli import non_negative_int
from gslib.data.synth.profiles import PROFILES
from gslib.data.synth.wider_stats import DEFAULT_STATS_PATH
from gslib.data.synth.write import ensure, generate


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m gslib.data.synth",
        description="Generate the embedded WIDER-FACE-like benchmark (deterministic from the profile's seed).",
    )
    parser.add_argument("--profile", choices=sorted(PROFILES), default="default")
    parser.add_argument("--out", default="data/synthwider", help="output folder (default: data/synthwider)")
    parser.add_argument("--stats", default=None, help=f"wider_val_statistics.json (default: {DEFAULT_STATS_PATH})")
    parser.add_argument("--num-train", type=non_negative_int, default=None,
                        help="override the profile's train images (0: none)")
    parser.add_argument("--num-val", type=non_negative_int, default=None,
                        help="override the profile's val images (0: none)")
    parser.add_argument("--seed", type=non_negative_int, default=None, help="override the profile's seed")
    parser.add_argument("--annotations-only", action="store_true", help="write annotations but no images")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.add_argument("--ensure", action="store_true",
                        help="generate only if OUT is missing or was made with other settings (make data)")
    args = parser.parse_args(argv)
    if args.ensure:
        if any(v is not None for v in (args.num_train, args.num_val, args.seed)) or args.annotations_only:
            parser.error("--ensure regenerates the profile as it is: no overrides")
        try:
            out = ensure(PROFILES[args.profile], args.out, progress=not args.quiet)
        except FileNotFoundError as e:
            parser.exit(1, f"error: {e}\n")
        print(f"{out}: up to date ({args.profile} profile)")
        return 0
    try:
        manifest = generate(args.out, PROFILES[args.profile], args.stats, args.num_train, args.num_val,
                            args.annotations_only, args.seed, progress=not args.quiet)
    except FileNotFoundError as e:
        parser.exit(1, f"error: {e}\n")
    for split, counts in manifest["splits"].items():
        print(f"{split}: {counts}")
    print(f"wrote {args.out} in {manifest['seconds']:.1f} s")
    return 0

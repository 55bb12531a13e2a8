"""``python -m gslib``: train a named experiment, or count a detector's FLOPs.

    python -m gslib train --experiment FPN-finest --profile smoke [--seed 1]
    torchrun --nproc-per-node 8 -m gslib train --experiment FPN-finest-sampling --profile paper
    python -m gslib pretrain --profile default   (the profile's shared trunk, gslib.pretrain; train does it too)
    python -m gslib flops --backbone resnet50 --detector FPN --size 1024      (see ``flops --help``)
    python -m gslib runs [--list] [--notebook 03] [--profile default]   (the notebooks' runs, gslib.runs)

``train`` prints the run directory (results/runs/<name>-<hash>/); a complete run is reused, an interrupted
one resumes from its checkpoint.
"""
from __future__ import annotations

import argparse
import dataclasses
import sys


def train_main(argv: list[str]) -> int:
    from gslib.experiments import PROFILES, TABLE3, TABLE13, experiment
    from gslib.study import get_run

    parser = argparse.ArgumentParser(prog="python -m gslib train", description="Train one experiment "
                                     "(or reuse its complete run).")
    parser.add_argument("--experiment", required=True,
                        help=f"{', '.join(TABLE3)}, FPN-single-P<k>-s<stride> (e.g. FPN-single-P3-s8), or a "
                        f"two-stage detector of Table 13: {', '.join(c.name for c in list(TABLE13.values())[1:])}")
    parser.add_argument("--profile", choices=sorted(PROFILES), default="default")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data", help="override the profile's data root (e.g. where WIDER FACE lives)")
    parser.add_argument("--pretrained", help="path of a torchvision ImageNet state_dict for the trunk")
    parser.add_argument("--runs", help="folder of run directories (default: the profile's results/runs)")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    try:
        config = experiment(args.experiment, seed=args.seed)
    except (KeyError, ValueError) as err:
        parser.error(str(err))
    profile = PROFILES[args.profile]
    if args.data:
        profile = dataclasses.replace(profile, data_root=args.data, synth_profile=None)
    if args.pretrained:
        profile = dataclasses.replace(profile, pretrained=args.pretrained, pretrain_iterations=0)
    run = get_run(config, profile, progress=not args.no_progress, runs=args.runs)
    import torch.distributed as dist

    if not dist.is_initialized() or dist.get_rank() == 0:
        print(run)
    return 0


def pretrain_main(argv: list[str]) -> int:
    from gslib.experiments import PROFILES
    from gslib.pretrain import pretrained_trunk

    parser = argparse.ArgumentParser(prog="python -m gslib pretrain",
                                     description="Pre-train (or find) the profile's shared trunk.")
    parser.add_argument("--profile", choices=sorted(PROFILES), default="default")
    args = parser.parse_args(argv)
    profile = PROFILES[args.profile]
    if not profile.pretrain_iterations:
        parser.error(f"profile {profile.name} does not pre-train its trunk (pretrain_iterations = 0)")
    print(pretrained_trunk(profile))
    return 0


def flops_main(argv: list[str]) -> int:
    from gslib.flops import main  # written alongside; imported only when asked for

    main(argv)
    return 0


def runs_main(argv: list[str]) -> int:
    from gslib.runs import main

    return main(argv)


# name -> (what it does, its main(argv) -> exit code)
COMMANDS = {
    "train": ("train a named experiment", train_main),
    "pretrain": ("pre-train a profile's shared trunk", pretrain_main),
    "flops": ("FLOPs and parameters of a detector", flops_main),
    "runs": ("list, or train and evaluate, the runs the notebooks need", runs_main),
}


def usage() -> str:
    return __doc__ + "\ncommands:\n" + "\n".join(f"  {name:<9} {text}" for name, (text, _) in COMMANDS.items())


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in ("-h", "--help"):
        print(usage())
        return 0
    if not argv:
        print(usage(), file=sys.stderr)
        return 2
    if argv[0] not in COMMANDS:
        print(f"python -m gslib: unknown command {argv[0]!r}; commands: {', '.join(COMMANDS)} "
              "(python -m gslib --help)", file=sys.stderr)
        return 2
    _, command = COMMANDS[argv[0]]
    return command(argv[1:])


if __name__ == "__main__":
    sys.exit(main())

"""Argument types shared by gslib's command lines: counts that argparse checks when it parses them.

    parser.add_argument("--max-images", type=positive_int)     # -3 and 0: "error: argument --max-images: ..."

A bad value makes argparse print the usage and ``argument --NAME: <message>``, and exit with code 2.
"""
from __future__ import annotations

import argparse

__all__ = ["non_negative_int", "positive_int"]


def _integer(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None


def positive_int(text: str) -> int:
    """An integer >= 1: a count for which 0 means nothing (images to analyse, samples per image, a size)."""
    value = _integer(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer (1 or more), got {value}")
    return value


def non_negative_int(text: str) -> int:
    """An integer >= 0: a count for which 0 has a meaning (0 images skips a split), or a seed."""
    value = _integer(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be a non-negative integer (0 or more), got {value}")
    return value

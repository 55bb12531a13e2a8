"""Strict or lenient reading of line-based text files, shared by the WIDER FACE and FDDB readers.

A reader reports each problem through :class:`Problems`: strict, it raises :class:`FormatError`
(message ``path:line: message``); lenient, it counts the loss in the result's ``skipped`` and keeps the
message in its ``problems`` (both from :class:`ReadReport`).
"""
from __future__ import annotations

from collections import Counter
from pathlib import Path

__all__ = ["FormatError", "Problems", "ReadReport", "is_number_row", "read_lines"]


class FormatError(ValueError):
    """Bad input; the message starts with ``path:line:`` (``path:`` when ``line`` is None)."""

    def __init__(self, path, line: int | None, message: str):
        self.path, self.line = Path(path), line
        super().__init__(f"{path}:{line}: {message}" if line is not None else f"{path}: {message}")


class ReadReport:
    """Mixin for a reader's result (a list or dict): what a lenient read skipped.

    skipped: Counter, reason -> count; problems: one ``path:line: message`` string per problem.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.skipped: Counter = Counter()
        self.problems: list[str] = []


class Problems:
    """Reports the problems of one file: ``problems(index, message, reason, count=1)``.

    Strict: raises ``error(path, index + 1, message)``. Lenient: adds ``count`` to ``out.skipped[reason]``
    (unless 0) and ``path:line: message`` to ``out.problems``. ``index`` is 0-based.
    """

    def __init__(self, path, out: ReadReport, lenient: bool, error: type[FormatError] = FormatError):
        self.path, self.out, self.lenient, self.error = path, out, lenient, error

    def __call__(self, index: int, message: str, reason: str, count: int = 1) -> None:
        if not self.lenient:
            raise self.error(self.path, index + 1, message)
        if count:
            self.out.skipped[reason] += count
        self.out.problems.append(f"{self.path}:{index + 1}: {message}")


def read_lines(path) -> list[str]:
    """The lines of a text file, without line ends and without trailing blank lines."""
    lines = Path(path).read_text().splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    return lines


def is_number_row(line: str) -> bool:
    """True for a line of one or more numbers (a face or detection row); False for a name or blank line."""
    tokens = line.split()
    try:
        [float(t) for t in tokens]
    except ValueError:
        return False
    return bool(tokens)

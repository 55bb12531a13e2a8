"""Writing what a notebook produced: tables (CSV + Markdown) and figures (PNG) under results/."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from gslib.paths import results_dir


def save_table(table: pd.DataFrame, name: str, profile: str, float_format: str = "{:.4f}") -> Path:
    """results/tables/<name>.csv and .md; returns the CSV path."""
    out = results_dir(profile) / "tables"
    out.mkdir(parents=True, exist_ok=True)
    table.to_csv(out / f"{name}.csv", index=False)
    (out / f"{name}.md").write_text(_markdown(table, float_format) + "\n")
    return out / f"{name}.csv"


def save_figure(fig, name: str, profile: str) -> Path:
    """results/figures/<name>.png (150 dpi)."""
    out = results_dir(profile) / "figures"
    out.mkdir(parents=True, exist_ok=True)
    fig.savefig(out / f"{name}.png", dpi=150, bbox_inches="tight")
    return out / f"{name}.png"


def legend_right(fig, handles, **kwargs):
    """A legend of ``handles`` (labelled artists) right of all of ``fig``'s panels, where it hides no data: call it
    after ``tight_layout``; :func:`save_figure`'s tight bounding box and the notebooks' inline figures keep it."""
    return fig.legend(handles=handles, loc="upper left", bbox_to_anchor=(1, 1), fontsize=7, frameon=False, **kwargs)


def _markdown(table: pd.DataFrame, float_format: str) -> str:
    # pandas.to_markdown needs the optional 'tabulate' package; a pipe table is simple enough to write.
    def cell(v):
        return float_format.format(v) if isinstance(v, float) else str(v)

    lines = ["| " + " | ".join(map(str, table.columns)) + " |", "|" + "---|" * len(table.columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in table.itertuples(index=False)]
    return "\n".join(lines)

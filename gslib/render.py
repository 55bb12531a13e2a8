"""The study as web pages: every executed notebook of a profile rendered to HTML, with an index.

``python -m gslib.render [--profile default]`` (``make html``) renders ``<results>/notebooks/*.ipynb``
(papermill's executed copies) with nbconvert into ``<results>/html/<name>.html``, ``claims.md`` into
``claims.html``, and writes ``index.html`` linking them with each notebook's title (its first heading). The
figures are embedded in the notebooks' outputs, so the folder reads offline. ``--screenshot`` then opens
the index and one notebook in headless Chromium (Debian's ``chromium``) and saves PNG screenshots beside
them; :func:`check_page` says whether a rendered notebook holds its figures and tables, and :func:`drawn` whether
Chromium actually draws them (the pixels that change when they are hidden).
"""
from __future__ import annotations

import argparse
import html
import json
import re
import shutil
import subprocess
from pathlib import Path

import nbformat
from nbconvert import HTMLExporter
from nbconvert.filters import markdown2html

from gslib.claims import tally, verdicts
from gslib.paths import results_dir

CHROMIUM = ("chromium", "chromium-browser", "google-chrome")
STYLESHEET = "notebook.css"  # the nbconvert template's style sheets, shared by every page
# The template's inline style sheets in a page's head (the tables' own ``<style scoped>`` sit in the body).
_HEAD_STYLE = re.compile(r'<style type="text/css">(.*?)</style>\n?', re.S)


def share_stylesheet(page: str, folder: Path) -> str:
    """``page`` (an nbconvert HTML page) with its head's inline style sheets replaced by a link to
    ``folder/``:data:`STYLESHEET`, written from the first page; a page whose style sheets differ from the file's
    keeps its own (every page carried the same ~300 KB of CSS)."""
    head_end = page.index("</head>")
    styles = "\n".join(_HEAD_STYLE.findall(page[:head_end]))  # the sheets' CSS, without their tags
    if not styles:
        return page
    sheet = folder / STYLESHEET
    if not sheet.is_file():
        sheet.write_text(styles)
    if sheet.read_text() != styles:
        return page
    head = _HEAD_STYLE.sub("", page[:head_end], count=0)
    return head.replace("</title>", f'</title><link rel="stylesheet" href="{STYLESHEET}">', 1) + page[head_end:]


def title(notebook: nbformat.NotebookNode, default: str) -> str:
    """The first Markdown heading of ``notebook`` (without its #s), else ``default``."""
    for cell in notebook.cells:
        if cell.cell_type == "markdown":
            for line in cell.source.splitlines():
                if line.startswith("#"):
                    return line.lstrip("#").strip()
    return default


def _page(heading: str, body: str) -> str:
    return (f"<!DOCTYPE html>\n<html><head><meta charset='utf-8'><title>{html.escape(heading)}</title>"
            "<style>body{font-family:sans-serif;max-width:64em;margin:2em auto;padding:0 1em}"
            "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 6px;font-size:90%}</style>"
            f"</head><body>\n{body}\n</body></html>\n")


def render(profile: str = "default") -> Path:
    """Render the profile's executed notebooks and claims.md to ``<results>/html/``; returns index.html."""
    root = results_dir(profile)
    notebooks = sorted((root / "notebooks").glob("*.ipynb"))
    if not notebooks:
        raise FileNotFoundError(f"no executed notebooks in {root / 'notebooks'}: run `make notebooks "
                                f"PROFILE={profile}` first")
    out = root / "html"
    out.mkdir(parents=True, exist_ok=True)
    (out / STYLESHEET).unlink(missing_ok=True)  # of an earlier nbconvert, whose style sheets may differ
    exporter = HTMLExporter(template_name="lab")
    claims = verdicts(profile)
    rows = []
    for path in notebooks:
        try:
            notebook = nbformat.read(path, as_version=4)
        except (json.JSONDecodeError, nbformat.reader.NotJSONError) as error:
            raise ValueError(f"{path}: not a notebook ({error})") from error
        if errors(notebook):
            print(f"{path}: {errors(notebook)} cells ended in an error")
        body, _ = exporter.from_notebook_node(notebook, resources={"metadata": {"name": title(notebook, path.stem)}})
        page = out / f"{path.stem}.html"
        page.write_text(share_stylesheet(body, out))
        shows = check_page(page)
        judged = claims[claims["notebook"] == path.stem[:2]]["verdict"]
        rows.append((f"<a href='{page.name}'>{html.escape(title(notebook, path.stem))}</a>",
                     html.escape(tally(judged)) if len(judged) else "(no claim)", shows["figures"], shows["tables"],
                     errors(notebook)))
    items = "\n".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    summary = ""
    if (root / "claims.md").is_file():
        (out / "claims.html").write_text(_page("Claims and verdicts", markdown2html((root / "claims.md").read_text())))
        summary = (f"<p><a href='claims.html'>Claims and verdicts</a> (results/claims.md): {len(claims)} claims, "
                   f"{html.escape(tally(claims['verdict']))}.</p>")
    index = out / "index.html"
    index.write_text(_page("Group Sampling for Scale Invariant Face Detection: the study",
                           "<h1>Group Sampling for Scale Invariant Face Detection (Ming et al., TPAMI 2022): "
                           f"the reproduction</h1>\n<p>Profile <code>{html.escape(profile)}</code>. Each notebook "
                           "was executed by papermill; its tables and figures are embedded.</p>\n"
                           "<table><tr><th>notebook</th><th>its claims' verdicts</th><th>figures</th><th>tables</th>"
                           f"<th>cells in error</th></tr>\n{items}\n</table>\n{summary}"))
    return index


def check_page(page: Path) -> dict:
    """What a rendered notebook shows: ``{"figures": embedded PNGs, "tables": HTML tables}``."""
    text = Path(page).read_text()
    return {"figures": text.count("src=\"data:image/png;base64"), "tables": text.count("<table")}


def errors(notebook: nbformat.NotebookNode) -> int:
    """How many cells of an executed notebook ended in an error."""
    return sum(o.get("output_type") == "error" for c in notebook.cells for o in c.get("outputs", []))


def _crop(png: Path, top: int) -> None:
    """Cut the rows above ``top`` off the PNG ``png`` (in place)."""
    from PIL import Image

    with Image.open(png) as image:
        cropped = image.crop((0, top, image.width, image.height))
    cropped.save(png)


def screenshot(page: Path, png: Path, width: int = 1280, height: int = 2400) -> Path:
    """Open ``page`` in headless Chromium and save a ``width`` x ``height`` screenshot to ``png``."""
    browser = next((shutil.which(b) for b in CHROMIUM if shutil.which(b)), None)
    if browser is None:
        raise FileNotFoundError("no Chromium on PATH: install Debian's package (apt-get install chromium)")
    subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                    f"--window-size={width},{height}", f"--screenshot={png}", Path(page).resolve().as_uri()],
                   check=True, capture_output=True, timeout=120)
    if not png.is_file() or png.stat().st_size == 0:
        raise RuntimeError(f"Chromium wrote no screenshot of {page} to {png}")
    return png


# What hides a page's figures or its tables without moving anything else (visibility keeps their boxes).
HIDE = {"figures": "img{visibility:hidden !important}", "tables": "table{visibility:hidden !important}"}


def drawn(page: Path, width: int = 1400, height: int = 8000) -> dict:
    """Whether Chromium draws ``page``'s figures and tables: the page's screenshot (``width`` x ``height``)
    against screenshots of copies with its images, then its tables, hidden (:data:`HIDE`). The pixels that
    differ are what the figures (tables) drew. Returns ``{"figures": pixels, "tables": pixels,
    "figure_rows": [first, last] rows the figures drew on, or None}``; 0 pixels: nothing shown (in the
    window). Needs Chromium (:func:`screenshot`) and Pillow (matplotlib's)."""
    import numpy as np
    from PIL import Image

    page = Path(page)
    folder = page.parent
    shots = {}
    for what in ("page", *HIDE):
        source = page if what == "page" else folder / f".{page.stem}.no-{what}.html"
        if what != "page":  # beside the page, so that its style sheet link still resolves
            source.write_text(page.read_text().replace("</head>", f"<style>{HIDE[what]}</style></head>", 1))
        png = folder / f".{page.stem}.{what}.png"
        try:
            screenshot(source, png, width, height)
            shots[what] = np.asarray(Image.open(png).convert("RGB"))
        finally:
            png.unlink(missing_ok=True)
            if source != page:
                source.unlink(missing_ok=True)
    result = {}
    for what in HIDE:
        changed = (shots["page"] != shots[what]).any(axis=2)
        result[what] = int(changed.sum())
        if what == "figures":
            rows = np.nonzero(changed.any(axis=1))[0]
            result["figure_rows"] = [int(rows[0]), int(rows[-1])] if rows.size else None
    return result


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m gslib.render", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", default="default")
    parser.add_argument("--screenshot", metavar="NOTEBOOK", nargs="?", const="",
                        help="also screenshot the index and this rendered notebook (default: the first)")
    args = parser.parse_args(argv)
    index = render(args.profile)
    print(f"wrote {index}")
    pages = sorted(p for p in index.parent.glob("[0-9][0-9]_*.html"))
    for page in pages:
        print(f"{page.name}: {check_page(page)}")
    if args.screenshot is not None:
        page = next((p for p in pages if p.stem.startswith(args.screenshot)), pages[0])
        # The index is one short table: a shorter window than a notebook's.
        print(f"screenshot: {screenshot(index, index.with_suffix('.png'), height=600)}")
        shown = drawn(page)
        check = index.parent / "screenshot_check.json"
        check.write_text(json.dumps({"page": page.name, "window": [1400, 8000], **shown}, indent=1) + "\n")
        print(f"{page.name} as Chromium draws it (pixels that change when hidden): {shown} -> {check}")
        if not shown["figures"] or not shown["tables"]:
            raise SystemExit(f"{page.name}: Chromium draws no {'figure' if not shown['figures'] else 'table'} "
                             "in its first 8000 px")
        # The screenshot kept: the page from 1,200 px above its first figure to 800 px below the figure's top.
        top = max(0, shown["figure_rows"][0] - 1200)
        png = screenshot(page, page.with_suffix(".png"), width=1400, height=top + 2000)
        _crop(png, top)
        print(f"screenshot: {png} (rows {top} to {top + 2000}: a table, then the first figure)")


if __name__ == "__main__":
    main()

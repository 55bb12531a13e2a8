"""gslib.render: executed notebooks to HTML with an index, and what a rendered page shows."""
import base64
import shutil

import nbformat
import pytest

from gslib import claims, render

PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"0" * 16).decode()


def _executed(path, heading, error=False):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell(f"intro\n# {heading}\ntext"),
                nbformat.v4.new_code_cell("x", outputs=[nbformat.v4.new_output(
                    "display_data", data={"image/png": PNG, "text/plain": "<Figure>"})]),
                nbformat.v4.new_code_cell("t", outputs=[nbformat.v4.new_output(
                    "execute_result", data={"text/html": "<table><tr><td>1</td></tr></table>", "text/plain": "1"},
                    execution_count=1)])]
    if error:
        nb.cells.append(nbformat.v4.new_code_cell("1/0", outputs=[nbformat.v4.new_output(
            "error", ename="ZeroDivisionError", evalue="division by zero", traceback=[])]))
    nbformat.write(nb, path)
    return nb


def test_render_writes_every_notebook_and_an_index_linking_them(tmp_path, monkeypatch):
    monkeypatch.setenv("GSLIB_RESULTS", str(tmp_path))
    (tmp_path / "notebooks").mkdir()
    _executed(tmp_path / "notebooks" / "01_first.ipynb", "01 — First")
    nb = _executed(tmp_path / "notebooks" / "02_second.ipynb", "02 — Second", error=True)
    (tmp_path / "claims.md").write_text("# Claims\n\n| claim | verdict |\n|---|---|\n| gs-all | replicated |\n")
    (tmp_path / "tables").mkdir()
    (tmp_path / "tables" / "02_claims.csv").write_text("claim,ours,verdict\nsingle-layer,x,inconclusive\n"
                                                       "same-stride,y,not yet tested (runs missing)\n")
    index = render.render("default")
    text = index.read_text()
    assert "href='01_first.html'>01 — First<" in text and "href='02_second.html'>02 — Second<" in text
    # one row per notebook: its claims' verdicts, figures, tables, cells in error
    assert "02 — Second</a></td><td>1 inconclusive, 1 not yet tested</td><td>1</td><td>1</td><td>1</td>" in text
    assert "01 — First</a></td><td>6 not yet tested</td><td>1</td><td>1</td><td>0</td>" in text
    assert f"{len(claims.CLAIMS)} claims, 1 inconclusive, {len(claims.CLAIMS) - 1} not yet tested." in text
    assert "href='claims.html'" in text and "<td>replicated</td>" in (tmp_path / "html" / "claims.html").read_text()
    assert render.check_page(tmp_path / "html" / "01_first.html") == {"figures": 1, "tables": 1}
    assert render.errors(nb) == 1
    assert render.title(nbformat.v4.new_notebook(), "untitled") == "untitled"
    # Every page links the one style sheet instead of carrying it; each is titled by its notebook.
    sheet = tmp_path / "html" / render.STYLESHEET
    assert sheet.stat().st_size > 10_000 and "<style" not in sheet.read_text()
    for name, heading in (("01_first", "01 — First"), ("02_second", "02 — Second")):
        page = (tmp_path / "html" / f"{name}.html").read_text()
        assert f'<link rel="stylesheet" href="{render.STYLESHEET}">' in page and f"<title>{heading}</title>" in page
        assert '<style type="text/css">' not in page[:page.index("</head>")]


def test_a_page_whose_style_sheets_differ_keeps_its_own(tmp_path):
    page = '<html><head><title>t</title><style type="text/css">a{}</style>\n</head><body>x</body></html>'
    shared = render.share_stylesheet(page, tmp_path)
    assert shared == ('<html><head><title>t</title><link rel="stylesheet" href="notebook.css"></head>'
                      '<body>x</body></html>')
    assert (tmp_path / render.STYLESHEET).read_text() == "a{}"  # CSS, without the tags
    other = page.replace("a{}", "b{}")
    assert render.share_stylesheet(other, tmp_path) == other


def test_render_without_executed_notebooks_says_what_to_run(tmp_path, monkeypatch):
    monkeypatch.setenv("GSLIB_RESULTS", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="make notebooks PROFILE=default"):
        render.render("default")


@pytest.mark.skipif(not any(shutil.which(b) for b in render.CHROMIUM), reason="no Chromium installed")
def test_a_screenshot_of_a_rendered_page_is_a_png(tmp_path, monkeypatch):
    page = tmp_path / "page.html"
    page.write_text("<html><body><h1>hello</h1></body></html>")
    png = render.screenshot(page, tmp_path / "page.png", width=200, height=100)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.skipif(not any(shutil.which(b) for b in render.CHROMIUM), reason="no Chromium installed")
def test_drawn_counts_the_pixels_of_figures_and_tables_that_chromium_draws(tmp_path):
    import base64
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (40, 30), (200, 30, 30)).save(buffer, format="PNG")
    figure = f'<img src="data:image/png;base64,{base64.b64encode(buffer.getvalue()).decode()}">'
    table = '<table border="1"><tr><td>AP</td><td>0.5</td></tr></table>'
    page = tmp_path / "page.html"
    page.write_text(f"<html><head></head><body><p>text</p>{table}<div style='height:50px'></div>{figure}</body></html>")
    shown = render.drawn(page, width=300, height=300)
    assert shown["figures"] >= 40 * 30 * 0.9 and shown["tables"] > 0  # the red block, the table's text and border
    first, last = shown["figure_rows"]
    assert 25 <= last - first + 1 <= 35
    page.write_text(f"<html><head></head><body><p>text</p>{table}</body></html>")  # no figure
    assert render.drawn(page, width=300, height=300)["figures"] == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["page.html"]  # no copies or screenshots left behind

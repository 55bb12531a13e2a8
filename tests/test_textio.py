"""gslib.data.textio: the strict/lenient reporting shared by the WIDER FACE and FDDB readers."""
import pytest

from gslib.data.fddb import FddbFormatError, FddbRecords
from gslib.data.textio import FormatError, Problems, ReadReport, is_number_row, read_lines
from gslib.data.wider import Predictions, WiderFormatError, WiderImages


def test_format_error_message():
    assert str(FormatError("a.txt", 3, "bad")) == "a.txt:3: bad"
    assert str(FormatError("a.mat", None, "bad")) == "a.mat: bad"
    assert issubclass(WiderFormatError, FormatError) and issubclass(FddbFormatError, FormatError)


def test_problems_strict_and_lenient():
    out = WiderImages()
    with pytest.raises(WiderFormatError, match=r"^a\.txt:2: bad$") as info:
        Problems("a.txt", out, lenient=False, error=WiderFormatError)(1, "bad", "faces")
    assert info.value.line == 2 and not out.skipped and not out.problems
    report = Problems("a.txt", out, lenient=True)
    report(1, "bad", "faces", 3)
    report(4, "nothing lost", "faces", 0)  # a problem that loses nothing is listed, not counted
    assert out.skipped == {"faces": 3}
    assert out.problems == ["a.txt:2: bad", "a.txt:5: nothing lost"]


def test_read_report_on_list_and_dict():
    for result in (WiderImages([1]), FddbRecords([1]), Predictions(a=1)):
        assert isinstance(result, ReadReport) and len(result) == 1
        assert not result.skipped and result.problems == []


def test_read_lines_and_number_rows(tmp_path):
    path = tmp_path / "a.txt"
    path.write_text("name\n\n2\n1 2.5 -3e1\n  \n\n")
    assert read_lines(path) == ["name", "", "2", "1 2.5 -3e1"]
    assert is_number_row("1 2.5 -3e1 ") and is_number_row("7")
    assert not is_number_row("") and not is_number_row("   ") and not is_number_row("0--Parade/1.jpg")
    assert not is_number_row("1 2 x")

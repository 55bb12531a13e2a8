"""Command lines: bad arguments get a clear message and exit code 2; help exits 0."""
import argparse
import json
import subprocess
import sys

import pytest

from gslib.__main__ import COMMANDS
from gslib.__main__ import main as gslib_main
from gslib.analyze import main as analyze_main
from gslib.cli import non_negative_int, positive_int
from gslib.data import synth
from gslib.flops import main as flops_main


def test_positive_and_non_negative_int():
    assert positive_int("3") == 3 and positive_int("1") == 1
    assert non_negative_int("0") == 0 and non_negative_int("7") == 7
    for text, message in [("0", "must be a positive integer (1 or more), got 0"),
                          ("-3", "must be a positive integer (1 or more), got -3"),
                          ("x", "expected an integer, got 'x'"), ("2.5", "expected an integer, got '2.5'")]:
        with pytest.raises(argparse.ArgumentTypeError) as info:
            positive_int(text)
        assert str(info.value) == message
    with pytest.raises(argparse.ArgumentTypeError, match=r"^must be a non-negative integer \(0 or more\), got -1$"):
        non_negative_int("-1")


def refused(main, argv, capsys) -> str:
    """Run a command line that argparse must refuse: exit code 2; returns its stderr."""
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    return capsys.readouterr().err


# -- python -m gslib.analyze ---------------------------------------------------------------------------


@pytest.fixture
def five_images(tmp_path):
    """A WIDER FACE txt of 5 small images with one face each, and their sizes."""
    names = [f"0--Parade/{k}.jpg" for k in range(5)]
    (tmp_path / "gt.txt").write_text("".join(f"{n}\n1\n6 6 16 16 0 0 0 0 0 0 \n" for n in names))
    (tmp_path / "sizes.csv").write_text("image,width,height\n" + "".join(f"{n},64,64\n" for n in names))
    return ["anchors", "--annotations", str(tmp_path / "gt.txt"), "--sizes", str(tmp_path / "sizes.csv"), "--json"]


def analyze_json(argv, capsys) -> dict:
    analyze_main(argv)
    return json.loads(capsys.readouterr().out)


def test_analyze_refuses_a_negative_or_zero_max_images(five_images, capsys):
    assert analyze_json([*five_images, "--max-images", "2"], capsys)["images"] == 2
    assert analyze_json(five_images, capsys)["images"] == 5
    # -3 used to slice images[:-3], 2 of 5
    err = refused(analyze_main, [*five_images, "--max-images", "-3"], capsys)
    assert "argument --max-images: must be a positive integer (1 or more), got -3" in err
    err = refused(analyze_main, [*five_images, "--max-images", "0"], capsys)
    assert "argument --max-images: must be a positive integer (1 or more), got 0" in err


def test_analyze_num_samples_zero_is_refused_and_none_is_the_default(five_images, capsys):
    err = refused(analyze_main, [*five_images, "--num-samples", "0"], capsys)  # used to mean the default
    assert "argument --num-samples: must be a positive integer (1 or more), got 0" in err
    default = analyze_json(five_images, capsys)["rows"]
    assert default == analyze_json([*five_images, "--num-samples", "1024"], capsys)["rows"]
    few = analyze_json([*five_images, "--num-samples", "4"], capsys)["rows"]
    assert sum(r["pos"] + r["neg"] for r in few) == 5 * 4 < sum(r["pos"] + r["neg"] for r in default)


# -- python -m gslib -----------------------------------------------------------------------------------


def test_gslib_help_exits_0_and_lists_the_commands(capsys):
    for flag in ("--help", "-h"):
        assert gslib_main([flag]) == 0
        out = capsys.readouterr().out
        assert out.startswith("``python -m gslib``") and "commands:" in out
        assert all(f"  {name} " in out for name in COMMANDS)
    run = subprocess.run([sys.executable, "-m", "gslib", "--help"], capture_output=True, text=True)
    assert run.returncode == 0 and "commands:" in run.stdout and run.stderr == ""


def test_gslib_unknown_command_says_so(capsys):
    assert gslib_main(["nosuchcmd"]) == 2
    err = capsys.readouterr().err
    assert "unknown command 'nosuchcmd'" in err and "commands: train, pretrain, flops" in err
    assert gslib_main([]) == 2 and "commands:" in capsys.readouterr().err


def test_gslib_train_unknown_experiment_message_has_no_stray_quotes(capsys):
    err = refused(gslib_main, ["train", "--experiment", "FPN-coarsest"], capsys)
    assert "error: unknown experiment 'FPN-coarsest'; known: RPN, " in err
    assert err.count("FPN-finest-sampling,") == 1 and '"' not in err


def test_flops_refuses_non_positive_sizes(capsys):
    err = refused(flops_main, ["--size", "-800"], capsys)
    assert "argument --size: must be a positive integer (1 or more), got -800" in err
    err = refused(flops_main, ["--width-divisor", "0"], capsys)
    assert "argument --width-divisor: must be a positive integer (1 or more), got 0" in err


# -- python -m gslib.data.synth ------------------------------------------------------------------------


def test_synth_refuses_negative_image_counts(tmp_path, capsys):
    out = ["--profile", "smoke", "--out", str(tmp_path / "o"), "--quiet"]
    err = refused(synth.main, [*out, "--num-val", "-1"], capsys)
    assert "argument --num-val: must be a non-negative integer (0 or more), got -1" in err
    err = refused(synth.main, [*out, "--num-train", "-5"], capsys)
    assert "argument --num-train: must be a non-negative integer (0 or more), got -5" in err
    assert not (tmp_path / "o").exists()  # refused before anything was written

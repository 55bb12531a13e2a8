"""``make reproduce`` writes each profile's outputs under that profile's results folder
(:func:`gslib.paths.results_dir`), and ``FRESH=1`` under results/fresh/: read from ``make -n`` (nothing runs)."""
import os
import re
import shutil
import subprocess

import pytest

from gslib.paths import REPO, results_dir

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
ENV = {k: v for k, v in os.environ.items() if k not in ("GSLIB_RESULTS", "MAKEFLAGS", "MAKELEVEL")}


def make(*args: str) -> str:
    return subprocess.run(["make", *args], cwd=REPO, env=ENV, capture_output=True, text=True, check=True).stdout


def results_paths(commands: str) -> list[str]:
    """Every path below results/ that the commands name."""
    return re.findall(r"results/[\w./-]*", commands)


def gslib_commands(commands: str) -> list[str]:
    return [line for line in commands.splitlines() if re.search(r"python -m (gslib|papermill)", line)]


def test_smoke_reproduce_writes_only_under_results_smoke():
    commands = make("-n", "reproduce", "PROFILE=smoke")
    paths = results_paths(commands)
    smoke = results_dir("smoke").relative_to(REPO).as_posix()
    assert smoke == "results/smoke"
    assert paths and all(p.startswith(smoke + "/") for p in paths), sorted(set(paths))
    for sub in ("bench/matching.json", "bench/train.json", "bench/run.json", "notebooks/", "claims.md"):
        assert f"{smoke}/{sub}" in commands
    # Every gslib command and notebook runs in the smoke profile (papermill's -p sits on a continuation line).
    runs = gslib_commands(commands)
    assert len(runs) >= 6 and all("--profile smoke" in c for c in runs if "papermill" not in c), runs
    assert "-p profile smoke" in commands


def test_default_reproduce_writes_the_committed_folders():
    commands = make("-n", "reproduce")
    paths = set(results_paths(commands))
    assert {"results/bench/matching.json", "results/notebooks/", "results/claims.md"} <= paths
    assert not any(p.startswith(("results/smoke", "results/fresh")) for p in paths)
    assert all("--profile default" in c for c in gslib_commands(commands) if "papermill" not in c)


@pytest.mark.parametrize("profile", ["smoke", "default"])
def test_fresh_reproduce_writes_only_under_results_fresh(profile):
    commands = make("-n", "reproduce", f"PROFILE={profile}", "FRESH=1")
    paths = results_paths(commands)
    assert paths and all(p.startswith("results/fresh/") for p in paths), sorted(set(paths))
    # gslib itself (runs, tables, figures, claims) follows through $GSLIB_RESULTS.
    root = make("-s", "--eval", "show-root: ; @echo $$GSLIB_RESULTS", "show-root", "FRESH=1").strip()
    assert root == str(REPO / "results" / "fresh")

"""gslib.store's WorkClock: the seconds a run records for its work, without the time its process stood stopped."""
import dataclasses
import time

import pytest

from gslib import store
from gslib.experiments import SMOKE, experiment
from gslib.store import WorkClock
from gslib.train import train


class FakeTime:
    """time.perf_counter that moves only when told."""

    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


@pytest.fixture
def clock_time(monkeypatch):
    fake = FakeTime()
    monkeypatch.setattr(store.time, "perf_counter", fake)
    return fake


def test_a_step_much_longer_than_the_mean_counts_as_the_mean(clock_time):
    clock = WorkClock(pause_factor=50.0, min_pause=10.0)
    for step in (0.2, 0.2, 0.2):
        clock_time.now += step
        clock.tick()
    clock_time.now += 600.0  # stopped by SIGSTOP for ten minutes inside the fourth step
    assert clock.tick() == pytest.approx(0.2)
    assert clock.seconds == pytest.approx(0.8) and clock.steps == 4 and clock.paused == pytest.approx(599.8)
    # A step 25x the mean is work (a slow test image), and so is one under min_pause however long it is.
    clock_time.now += 5.0
    assert clock.tick() == pytest.approx(5.0) and clock.paused == pytest.approx(599.8)


def test_the_first_step_counts_whole_and_restart_skips_untimed_work(clock_time):
    clock = WorkClock()
    clock_time.now += 300.0  # nothing to compare it with: the first step is work (a warm-up, a slow profile)
    clock.tick()
    clock_time.now += 60.0  # writing a checkpoint, not timed
    clock.restart()
    clock_time.now += 100.0
    clock.tick()
    assert clock.seconds == pytest.approx(400.0) and clock.paused == 0.0


def test_a_resumed_clock_compares_with_the_resumed_mean(clock_time):
    clock = WorkClock(seconds=50.0, steps=1000)  # 50 ms per step before the resume
    clock_time.now += 20.0
    clock.tick()
    assert clock.seconds == pytest.approx(50.05) and clock.paused == pytest.approx(19.95)


def test_training_does_not_count_a_stop_as_training(monkeypatch, tmp_path, smoke_train_set):
    # A smoke run whose process stands stopped for 1,000 s after its third iteration (simulated: the clock
    # jumps); its record gives the training time without the stop, and the stop apart.
    real = time.perf_counter
    calls = {"n": 0}

    def jumping():
        calls["n"] += 1
        return real() + (1000.0 if calls["n"] > 4 else 0.0)
    monkeypatch.setattr(store.time, "perf_counter", jumping)
    profile = dataclasses.replace(SMOKE, data_root=str(smoke_train_set), synth_profile=None, max_train_images=4,
                                  images_per_batch=2, jitter_scales=(2.0,), max_side=128, epochs=4.0, lr_steps=(),
                                  warmup_iterations=0, checkpoint_every=100, cpu_threads=1, pretrain_iterations=0)
    metrics = train(experiment("FPN-finest"), profile, tmp_path, progress=False)
    assert metrics["iterations"] == 8
    assert metrics["paused_seconds"] > 990 and metrics["train_seconds"] < 100

"""Shared fixtures."""
import pytest
import torch

from gslib.data import synth


@pytest.fixture(autouse=True)
def _torch_threads_restored():
    """Each test starts on the process's torch thread count: commands under test (bench, peers) set it for their
    process, and a test that ran after one of them saw 1 thread instead of 2 (an order-dependent pass)."""
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def smoke_train_set(tmp_path_factory):
    """A 6-image training split of the smoke benchmark (about a second to generate)."""
    root = tmp_path_factory.mktemp("synth")
    synth.generate(root, synth.SMOKE, num_train=6, num_val=0, progress=False)
    return root

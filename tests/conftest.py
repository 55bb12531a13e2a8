"""Shared fixtures."""
import pytest

from gslib.data import synth


@pytest.fixture(scope="session")
def smoke_train_set(tmp_path_factory):
    """A 6-image training split of the smoke benchmark (about a second to generate)."""
    root = tmp_path_factory.mktemp("synth")
    synth.generate(root, synth.SMOKE, num_train=6, num_val=0, progress=False)
    return root

"""Suite-wide settings: what every test needs so that none of them has to repeat it."""

from __future__ import annotations

import os

import pytest
import torch


@pytest.fixture(autouse=True, scope="session")
def private_engine_cache(tmp_path_factory):
    """Engines exported during tests go to a temporary cache, never the user's ~/.cache."""
    old = os.environ.get("AVAFFECT_CACHE")
    os.environ["AVAFFECT_CACHE"] = str(tmp_path_factory.mktemp("avaffect-cache"))
    yield
    if old is None:
        os.environ.pop("AVAFFECT_CACHE", None)
    else:
        os.environ["AVAFFECT_CACHE"] = old


@pytest.fixture(autouse=True, scope="session")
def one_torch_thread():
    """The test models are tiny: one thread is fastest, and on a busy 2-core machine waiting
    OpenMP threads spin and make each step many times slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)

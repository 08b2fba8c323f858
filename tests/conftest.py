"""Shared test setup: quiet progress bars and reproducible numbers."""

import os

import pytest
import torch

# Notebook kernels started by nbval inherit this: training loops draw no progress bars.
os.environ["TRANSFORMER_BOOK_PROGRESS"] = "0"
from lib.reproducibility import make_reproducible  # noqa: E402


@pytest.fixture(autouse=True)
def reproducible():
    make_reproducible(0, threads=1)
    yield
    torch.use_deterministic_algorithms(False)

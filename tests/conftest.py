"""Shared test setup: quiet progress bars and reproducible numbers."""

import os
import sys
from pathlib import Path

import pytest
import torch

# Notebook kernels started by nbval inherit this: training loops draw no progress bars.
os.environ["TRANSFORMER_BOOK_PROGRESS"] = "0"
# The notebook contract lives in tools/ (tools/execute_notebooks.py checks with it too).
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tools"))

from lib.reproducibility import make_reproducible  # noqa: E402


@pytest.fixture(autouse=True)
def reproducible():
    make_reproducible(0, threads=1)
    yield
    torch.use_deterministic_algorithms(False)

"""One call that makes a notebook or test produce the same numbers every run.

Float results depend on the random seed, on how many threads split a reduction, and on
which CPU kernels torch picks. Every chapter's first code cell calls `make_reproducible`
so that stored outputs can be re-checked on another machine.
"""

import os
import random

import numpy as np
import torch

DEFAULT_SEED = 0
DEFAULT_THREADS = 1
# Overrides the thread count of every call: tools/output_margin.py uses it to measure how much
# each printed number depends on the number of threads.
THREADS_VARIABLE = "TRANSFORMER_BOOK_THREADS"


def make_reproducible(seed: int = DEFAULT_SEED, threads: int = DEFAULT_THREADS) -> torch.Generator:
    """Seed every random number generator, pin the thread count, use deterministic kernels.

    Returns a `torch.Generator` seeded with `seed`, for code that wants its own stream.
    One thread is the default because the order of a parallel sum changes its last bits;
    the environment variable TRANSFORMER_BOOK_THREADS, when set, replaces `threads`.
    """
    threads = int(os.environ.get(THREADS_VARIABLE, threads))
    if threads < 1:
        raise ValueError(f"threads must be at least 1, got {threads}")
    os.environ["PYTHONHASHSEED"] = str(seed)  # inherited by any subprocess
    os.environ["CUBLAS_WORKSPACE_CONFIG"] = ":4096:8"  # needed for determinism on a GPU
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True)
    return torch.Generator().manual_seed(seed)


def progress_enabled() -> bool:
    """Whether training loops may draw progress bars.

    Bars are for people: the book's execute command and the test suite set
    `TRANSFORMER_BOOK_PROGRESS=0` so that stored outputs hold no timing-dependent text.
    """
    return os.environ.get("TRANSFORMER_BOOK_PROGRESS", "1") != "0"

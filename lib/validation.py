"""The argument checks every public module and the config share.

A wrong size or rate should fail where it is given, with its name and value, not later inside
PyTorch (`nn.Dropout(-0.1)` passes until the first forward pass) or not at all (0 key/value
heads read as "one per query head"). Each function raises a ValueError that says which argument,
what it got and what it takes.
"""

import math
from collections.abc import Collection
from numbers import Integral, Real


def check_positive_int(name: str, value: object) -> None:
    """An integer >= 1: a size or a count (d_model, heads, max_len, ...)."""
    check_int(name, value)
    if value < 1:
        raise ValueError(f"{name} must be positive, got {value}")


def check_non_negative_int(name: str, value: object) -> None:
    """An integer >= 0: a count that may be zero (layers of a stack an architecture leaves out)."""
    check_int(name, value)
    if value < 0:
        raise ValueError(f"{name} must be >= 0, got {value}")


def check_int(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise ValueError(f"{name} must be an integer, got {value!r}")


def check_positive(name: str, value: object) -> None:
    """A finite real number > 0: an epsilon, a base, a standard deviation, a factor."""
    if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be positive, got {value!r}")


def check_non_negative(name: str, value: object) -> None:
    """A finite real number >= 0 (an epsilon may be 0 where nothing divides by zero in practice)."""
    if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be >= 0, got {value!r}")


def check_probability(name: str, value: object) -> None:
    """A dropout rate: in [0, 1), since 1 would drop everything and leave 1 / (1 - p) undefined."""
    if isinstance(value, bool) or not isinstance(value, Real) or not 0.0 <= value < 1.0:
        raise ValueError(f"{name} must be in [0, 1), got {value!r}")


def check_choice(name: str, value: object, allowed: Collection) -> None:
    if value not in allowed:
        raise ValueError(f"{name} must be one of {tuple(allowed)}, got {value!r}")

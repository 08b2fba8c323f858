"""Positional encodings: the paper's formula, the rotation property, rotary's relative scores."""

import math

import pytest
import torch

from lib.positional import (
    LearnedPositionalEmbedding,
    LengthCheck,
    RotaryEmbedding,
    SinusoidalPositionalEncoding,
    additive_positional,
    sinusoidal_table,
)


def test_sinusoidal_table_follows_the_formula():
    table = sinusoidal_table(50, 16)
    position, i = 7, 3
    assert table[position, 2 * i].item() == pytest.approx(math.sin(position / 10000 ** (2 * i / 16)), abs=1e-6)
    assert table[position, 2 * i + 1].item() == pytest.approx(math.cos(position / 10000 ** (2 * i / 16)), abs=1e-6)


def test_shifting_position_is_a_fixed_rotation():
    table = sinusoidal_table(60, 8).double()
    offset = 5
    frequencies = 1 / 10000 ** (torch.arange(0, 8, 2, dtype=torch.float64) / 8)
    rotation = torch.zeros(8, 8, dtype=torch.float64)
    for pair, frequency in enumerate(frequencies):
        c, s = math.cos(offset * frequency), math.sin(offset * frequency)
        rotation[2 * pair : 2 * pair + 2, 2 * pair : 2 * pair + 2] = torch.tensor([[c, -s], [s, c]])
    torch.testing.assert_close(table[:-offset] @ rotation, table[offset:], atol=1e-6, rtol=0)


def test_rotary_scores_depend_only_on_the_offset():
    rotary = RotaryEmbedding(head_dim=8, max_len=32)
    q, k = torch.randn(8), torch.randn(8)
    queries = rotary(q.expand(32, 8).clone())  # the same query at every position
    keys = rotary(k.expand(32, 8).clone())
    scores = queries @ keys.T
    torch.testing.assert_close(scores[10, 7], scores[20, 17])
    torch.testing.assert_close(scores[3, 3], scores[30, 30])


def test_rotary_keeps_vector_lengths():
    rotary = RotaryEmbedding(head_dim=6, max_len=10)
    x = torch.randn(2, 3, 10, 6)
    torch.testing.assert_close(rotary(x).norm(dim=-1), x.norm(dim=-1))


@pytest.mark.parametrize("module", [SinusoidalPositionalEncoding(8, 4), LearnedPositionalEmbedding(8, 4)])
def test_too_long_sequences_are_refused(module):
    with pytest.raises(ValueError, match="sequence length 5 exceeds the positional table's max_len 4"):
        module(torch.zeros(1, 5, 8))


@pytest.mark.parametrize(
    "build, message",
    [
        (lambda: SinusoidalPositionalEncoding(7, 4), "sinusoidal encoding needs an even d_model, got 7"),
        (lambda: SinusoidalPositionalEncoding(8, 0), "max_len must be positive, got 0"),
        (lambda: LearnedPositionalEmbedding(0, 4), "d_model must be positive, got 0"),
        (lambda: LearnedPositionalEmbedding(8, -2), "max_len must be positive, got -2"),
        (lambda: RotaryEmbedding(6, 0), "max_len must be positive, got 0"),
        (lambda: RotaryEmbedding(5, 8), "rotary embedding needs an even head dimension, got 5"),
        (lambda: RotaryEmbedding(8, 8, base=0.0), "base must be positive, got 0.0"),
        (lambda: LengthCheck(0), "max_len must be positive, got 0"),
        (lambda: additive_positional("relative", 8, 4), "positional must be one of .*, got 'relative'"),
    ],
)
def test_bad_positional_arguments_are_named(build, message):
    with pytest.raises(ValueError, match=message):
        build()

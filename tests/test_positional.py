"""Positional encodings: the paper's formula, the rotation property, rotary's relative scores."""

import math

import pytest
import torch

from lib.positional import (
    LearnedPositionalEmbedding,
    LengthCheck,
    RotaryEmbedding,
    RotaryScaling,
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
        (lambda: RotaryEmbedding(8, 8, scaling={"factor": 8}), "scaling must be a RotaryScaling or None"),
        (lambda: LengthCheck(0), "max_len must be positive, got 0"),
        (lambda: additive_positional("relative", 8, 4), "positional must be one of .*, got 'relative'"),
        (lambda: RotaryScaling(factor=0.0), "rotary scaling factor must be positive, got 0.0"),
        (lambda: RotaryScaling(low_freq_factor=4.0, high_freq_factor=4.0), "low_freq_factor < high_freq_factor"),
        (lambda: RotaryScaling(original_max_len=0), "rotary scaling original_max_len must be positive, got 0"),
        (lambda: RotaryScaling(kind="yarn"), "rotary scaling kind must be 'llama3'"),
    ],
)
def test_bad_positional_arguments_are_named(build, message):
    with pytest.raises(ValueError, match=message):
        build()


def test_llama3_scaling_keeps_fast_pairs_slows_slow_ones_and_blends_between():
    """Meta's rule (Llama 3.1): wavelengths under original_max_len / high_freq_factor are kept, over
    original_max_len / low_freq_factor divided by factor, and blended linearly in between."""
    scaling = RotaryScaling(factor=8.0, low_freq_factor=1.0, high_freq_factor=4.0, original_max_len=100)
    wavelengths = torch.tensor([10.0, 25.0, 50.0, 100.0, 400.0], dtype=torch.float64)  # edges at 25 and 100
    theta = 2 * math.pi / wavelengths
    blend = torch.tensor([1.0, 1.0, 1 / 3, 0.0, 0.0], dtype=torch.float64)  # 1: kept, 0: divided by 8
    expected = (1 - blend) * theta / 8 + blend * theta
    torch.testing.assert_close(scaling.scale(theta), expected, rtol=1e-15, atol=0)


def test_scaled_rotary_still_depends_only_on_the_offset_and_changes_only_slow_pairs():
    plain = RotaryEmbedding(head_dim=16, max_len=64, base=500.0)
    scaled = RotaryEmbedding(head_dim=16, max_len=64, base=500.0, scaling=RotaryScaling(original_max_len=32))
    q, k = torch.randn(16, dtype=torch.float64), torch.randn(16, dtype=torch.float64)
    scores = scaled(q.expand(64, 16).clone()) @ scaled(k.expand(64, 16).clone()).T
    torch.testing.assert_close(scores[40, 30], scores[60, 50])
    assert torch.equal(scaled.cos[:, 0], plain.cos[:, 0])  # the fastest pair: wavelength 2 pi < 32 / 4
    assert not torch.allclose(scaled.cos[:, -1], plain.cos[:, -1])  # the slowest: turned 8 times slower

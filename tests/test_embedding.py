"""Token embedding: a scaled lookup table that refuses ids outside the vocabulary."""

import math

import pytest
import torch
import torch.nn.functional as F

from lib.embedding import TokenEmbedding


def test_embedding_is_a_scaled_lookup_equal_to_one_hot_times_matrix():
    embedding = TokenEmbedding(10, 6)
    tokens = torch.tensor([[3, 1, 3]])
    one_hot = F.one_hot(tokens, 10).float()
    torch.testing.assert_close(embedding(tokens), one_hot @ embedding.lookup.weight * math.sqrt(6))


def test_gradient_touches_only_looked_up_rows():
    embedding = TokenEmbedding(10, 4)
    embedding(torch.tensor([[2, 5, 2]])).sum().backward()
    touched = embedding.lookup.weight.grad.abs().sum(dim=1) > 0
    assert touched.nonzero().flatten().tolist() == [2, 5]


def test_out_of_vocabulary_id_is_named():
    with pytest.raises(IndexError, match="id 10, outside the vocabulary \\[0, 10\\)"):
        TokenEmbedding(10, 4)(torch.tensor([[1, 10]]))


@pytest.mark.parametrize(
    "arguments, message",
    [
        (dict(vocab_size=0, d_model=8), "vocab_size must be positive, got 0"),
        (dict(vocab_size=10, d_model=-8), "d_model"),
    ],
)
def test_bad_sizes_are_named(arguments, message):
    with pytest.raises(ValueError, match=message):
        TokenEmbedding(**arguments)

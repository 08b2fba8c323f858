"""The reproducibility helper makes two runs identical."""

import pytest
import torch

from lib import Transformer, TransformerConfig, make_reproducible


def test_same_seed_same_model_and_numbers():
    make_reproducible(3)
    first = Transformer(TransformerConfig()).state_dict()
    a = torch.rand(3)
    make_reproducible(3)
    second = Transformer(TransformerConfig()).state_dict()
    assert torch.equal(a, torch.rand(3))
    assert all(torch.equal(first[k], second[k]) for k in first)
    assert torch.get_num_threads() == 1 and torch.are_deterministic_algorithms_enabled()


def test_thread_count_must_be_positive():
    with pytest.raises(ValueError, match="threads must be at least 1"):
        make_reproducible(threads=0)


def test_the_environment_can_set_the_thread_count_to_measure_its_effect(monkeypatch):
    """tools/output_margin.py runs chapters with 2 and 4 threads through TRANSFORMER_BOOK_THREADS."""
    monkeypatch.setenv("TRANSFORMER_BOOK_THREADS", "2")
    make_reproducible(threads=1)
    assert torch.get_num_threads() == 2
    monkeypatch.setenv("TRANSFORMER_BOOK_THREADS", "0")
    with pytest.raises(ValueError, match="threads must be at least 1"):
        make_reproducible()

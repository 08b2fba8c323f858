"""Greedy decoding and beam search stop at <eos>, respect max_length, and agree on a trained model."""

import pytest
import torch

from lib import Transformer, TransformerConfig
from lib.decoding import beam_search, greedy_decode, strip_after_eos
from lib.tasks import collate, make_pairs, random_batches
from lib.tokenizers import EOS_ID, PAD_ID
from lib.training import seq2seq_loss, train


@pytest.fixture(scope="module")
def reverse_model():
    torch.manual_seed(0)
    config = TransformerConfig.tiny(vocab_size=10)
    model = Transformer(config)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    train(model, random_batches("reverse", 64, 3, 6, 6, torch.Generator().manual_seed(0)), seq2seq_loss, optimizer, 400)
    return model


def test_greedy_decode_respects_max_length_and_pads_after_eos():
    model = Transformer(TransformerConfig(vocab_size=10, d_model=16, num_heads=2, d_ff=16)).eval()
    output = greedy_decode(model, torch.randint(4, 10, (3, 5)), max_length=4)
    assert output.shape[1] <= 4
    for row in output.tolist():
        if EOS_ID in row:
            assert all(t == PAD_ID for t in row[row.index(EOS_ID) + 1 :])


def test_trained_model_reverses_with_greedy_and_beam_search(reverse_model):
    pairs = make_pairs("reverse", 20, 3, 6, 6, torch.Generator().manual_seed(99))
    batch = collate(pairs)
    greedy = [strip_after_eos(row) for row in greedy_decode(reverse_model, batch.source, max_length=8).tolist()]
    beams = beam_search(reverse_model, batch.source, max_length=8, beam_size=3)
    targets = [target for _, target in pairs]
    assert sum(g == t for g, t in zip(greedy, targets, strict=True)) >= 19
    assert sum(b == t for b, t in zip(beams, targets, strict=True)) >= 19


def test_beam_search_never_exceeds_max_length(reverse_model):
    outputs = beam_search(reverse_model, torch.tensor([[5, 6, 7, 8, 9]]), max_length=2, beam_size=2)
    assert len(outputs[0]) <= 2

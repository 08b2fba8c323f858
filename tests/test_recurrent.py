"""Recurrent cells equal torch's with copied weights; the encoder-decoder is blind to padding and strict."""

import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from lib.checkpoint import load_checkpoint, save_checkpoint
from lib.decoding import beam_search, greedy_decode, sequence_accuracy
from lib.recurrent import (
    ElmanRNNCell,
    GRUCell,
    RecurrentConfig,
    RecurrentEncoder,
    RecurrentSeq2Seq,
    run_over_time,
)
from lib.tasks import make_pairs, random_batches
from lib.training import seq2seq_loss, train


def copy_cell_into(cell: nn.Module, reference: nn.Module, suffix: str) -> None:
    """Our cell's weight_ih/weight_hh/bias_ih/bias_hh -> torch's weight_ih_l0{suffix} etc."""
    with torch.no_grad():
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            getattr(reference, f"{name}_l0{suffix}").copy_(getattr(cell, name))


@pytest.mark.parametrize("cell_class, reference_class", [(ElmanRNNCell, nn.RNN), (GRUCell, nn.GRU)])
def test_cell_over_time_equals_torch(cell_class, reference_class):
    cell = cell_class(5, 7)
    reference = reference_class(5, 7, batch_first=True)
    copy_cell_into(cell, reference, "")
    x = torch.randn(3, 6, 5)
    h0 = torch.randn(3, 7)
    states, last = run_over_time(cell, x, initial=h0)
    expected, expected_last = reference(x, h0[None])
    torch.testing.assert_close(states, expected)
    torch.testing.assert_close(last, expected_last[0])


@pytest.mark.parametrize("cell_class, reference_class", [(ElmanRNNCell, nn.RNNCell), (GRUCell, nn.GRUCell)])
def test_single_step_equals_torch_cell(cell_class, reference_class):
    cell = cell_class(4, 6)
    reference = reference_class(4, 6)
    reference.load_state_dict(cell.state_dict())  # same parameter names and layout
    x, h = torch.randn(2, 4), torch.randn(2, 6)
    torch.testing.assert_close(cell(x, h), reference(x, h))


@pytest.mark.parametrize("kind, reference_class", [("rnn", nn.RNN), ("gru", nn.GRU)])
def test_bidirectional_encoder_equals_torch_on_padded_batch(kind, reference_class):
    config = RecurrentConfig(vocab_size=12, embedding_dim=5, hidden_size=7, cell=kind)
    encoder = RecurrentEncoder(config)
    reference = reference_class(5, 7, batch_first=True, bidirectional=True)
    copy_cell_into(encoder.forward_cell, reference, "")
    copy_cell_into(encoder.backward_cell, reference, "_reverse")
    source = torch.randint(4, 12, (3, 6))
    lengths = torch.tensor([6, 4, 2])
    source[1, 4:] = 0
    source[2, 2:] = 0
    annotations, summary, padding = encoder(source)
    packed = pack_padded_sequence(encoder.embedding(source), lengths, batch_first=True, enforce_sorted=False)
    expected_packed, expected_last = reference(packed)
    expected, _ = pad_packed_sequence(expected_packed, batch_first=True, total_length=6)
    real = ~padding
    torch.testing.assert_close(annotations[real], expected[real])
    torch.testing.assert_close(summary, torch.cat([expected_last[0], expected_last[1]], dim=-1))


def tiny_model(attention: bool = True, cell: str = "gru") -> RecurrentSeq2Seq:
    config = RecurrentConfig(vocab_size=14, embedding_dim=8, hidden_size=16, cell=cell, attention=attention)
    return RecurrentSeq2Seq(config).eval()


@pytest.mark.parametrize("attention", [False, True])
def test_padding_does_not_change_real_outputs(attention):
    model = tiny_model(attention)
    source = torch.randint(4, 14, (2, 7))
    target = torch.randint(4, 14, (2, 5))
    alone = model(source[:1, :4], target[:1])
    padded_source = source.clone()
    padded_source[0, 4:] = 0
    together = model(padded_source, target)
    torch.testing.assert_close(together[:1], alone)


def test_attention_weights_are_a_distribution_over_real_tokens():
    model = tiny_model(attention=True)
    source = torch.randint(4, 14, (2, 6))
    source[1, 3:] = 0
    target = torch.randint(4, 14, (2, 4))
    logits, maps = model.forward_with_attention(source, target)
    (weights,) = maps.cross
    assert weights.shape == (2, 1, 4, 6)  # (batch, heads, tgt, src)
    torch.testing.assert_close(weights.sum(-1), torch.ones(2, 1, 4))
    assert weights[1, :, :, 3:].abs().max() == 0
    torch.testing.assert_close(logits, model(source, target))
    assert tiny_model(attention=False).forward_with_attention(source, target)[1].cross == []


def test_incremental_decoding_matches_teacher_forcing_and_select_reorders():
    model = tiny_model(attention=True)
    source = torch.randint(4, 14, (3, 5))
    target = torch.randint(4, 14, (3, 4))
    state = model.start_decoding(source)
    steps = [model.decode_next(state, target[:, t]) for t in range(4)]
    torch.testing.assert_close(torch.stack(steps, dim=1), model(source, target))
    rows = torch.tensor([2, 2, 0])
    picked = model.start_decoding(source).select(rows)
    torch.testing.assert_close(model.decode_next(picked, target[rows, 0]), model(source, target)[rows, 0])


def test_errors_for_wrong_rank():
    model = tiny_model()
    with pytest.raises(ValueError, match=r"source must have shape \(batch, seq\)"):
        model(torch.tensor([4, 5, 6]), torch.tensor([[1, 4]]))


def test_errors_for_empty_sequence():
    model = tiny_model()
    with pytest.raises(ValueError, match="source is an empty sequence"):
        model(torch.zeros(2, 0, dtype=torch.long), torch.ones(2, 1, dtype=torch.long))


def test_errors_for_out_of_vocabulary_ids():
    model = tiny_model()
    with pytest.raises(IndexError, match=r"target contains id 99, outside the vocabulary \[0, 14\)"):
        model(torch.tensor([[4, 5]]), torch.tensor([[1, 99]]))


def test_config_rejects_unknown_cell():
    with pytest.raises(ValueError, match="unknown recurrent cell 'lstm'"):
        RecurrentConfig(cell="lstm")


def test_attention_model_learns_to_reverse_with_lib_training_and_decoding():
    generator = torch.Generator().manual_seed(0)
    config = RecurrentConfig(vocab_size=9, embedding_dim=16, hidden_size=32, attention=True)
    model = RecurrentSeq2Seq(config)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    train(model, random_batches("reverse", 32, 2, 5, 5, generator), seq2seq_loss, optimizer, steps=250)
    held_out = make_pairs("reverse", 200, 2, 5, 5, torch.Generator().manual_seed(1))
    assert sequence_accuracy(model, held_out) > 0.9
    source = torch.tensor([held_out[0][0]])
    assert greedy_decode(model, source, max_length=8)[0].tolist()[: len(held_out[0][1])] == held_out[0][1]
    assert beam_search(model, source, max_length=8, beam_size=3)[0] == held_out[0][1]


def test_checkpoint_round_trip(tmp_path):
    model = tiny_model(attention=True, cell="rnn")
    save_checkpoint(model, tmp_path / "recurrent.pt", {"task": "reverse", "seed": 0})
    loaded, info = load_checkpoint(tmp_path / "recurrent.pt")
    assert isinstance(loaded, RecurrentSeq2Seq) and loaded.config == model.config and info["task"] == "reverse"
    source, target = torch.randint(4, 14, (2, 5)), torch.randint(4, 14, (2, 3))
    torch.testing.assert_close(loaded(source, target), model(source, target))


def test_run_over_time_and_decode_next_name_bad_shapes():
    cell = GRUCell(3, 4)
    with pytest.raises(ValueError, match=r"inputs must have shape \(batch, seq, features\)"):
        run_over_time(cell, torch.randn(2, 3))
    with pytest.raises(ValueError, match="empty sequence"):
        run_over_time(cell, torch.randn(2, 0, 3))
    model = tiny_model()
    state = model.start_decoding(torch.tensor([[4, 5, 6]]))
    with pytest.raises(ValueError, match=r"tokens must have shape \(batch,\)"):
        model.decode_next(state, torch.tensor([[1]]))
    with pytest.raises(ValueError, match="source has batch size 1 but target has 2"):
        model.decode_next(state, torch.tensor([1, 1]))

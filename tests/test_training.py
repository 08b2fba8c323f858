"""Loss and schedules match their formulas; training converges on a small task."""

import itertools
import math

import pytest
import torch

from lib import Transformer, TransformerConfig
from lib.decoding import sequence_accuracy
from lib.tasks import make_pairs, random_batches
from lib.training import (
    cosine_schedule,
    inverse_sqrt_schedule,
    label_smoothed_cross_entropy,
    linear_warmup_schedule,
    seq2seq_loss,
    train,
)


def test_label_smoothing_matches_its_definition_and_ignores_padding():
    logits = torch.randn(2, 3, 5)
    targets = torch.tensor([[1, 2, 0], [4, 0, 0]])
    eps = 0.1
    log_probs = logits.log_softmax(-1)
    smoothed = torch.full((2, 3, 5), eps / 5).scatter_add(-1, targets[..., None], torch.full((2, 3, 1), 1 - eps))
    per_token = -(smoothed * log_probs).sum(-1)
    expected = per_token[targets != 0].mean()
    torch.testing.assert_close(label_smoothed_cross_entropy(logits, targets, eps), expected)


def test_label_smoothing_rejects_misaligned_targets():
    with pytest.raises(ValueError, match="do not line up"):
        label_smoothed_cross_entropy(torch.randn(2, 3, 5), torch.zeros(2, 4, dtype=torch.long))


def test_inverse_sqrt_schedule_peaks_at_warmup():
    rate = inverse_sqrt_schedule(d_model=512, warmup_steps=4000)
    rates = [rate(step) for step in range(1, 20000)]
    assert max(range(len(rates)), key=rates.__getitem__) + 1 == 4000
    assert rate(4000) == pytest.approx(512**-0.5 * 4000**-0.5)
    assert rate(16000) == pytest.approx(rate(4000) / 2)


def test_linear_schedule_rises_then_falls_to_zero():
    rate = linear_warmup_schedule(10, 100)
    assert rate(0) == pytest.approx(0.1) and rate(9) == 1.0 and rate(55) == pytest.approx(0.5) and rate(100) == 0.0


def test_cosine_schedule_warms_up_then_follows_half_a_cosine():
    rate = cosine_schedule(10, 110, final_fraction=0.1)
    assert rate(0) == pytest.approx(0.1) and rate(9) == 1.0 and rate(10) == 1.0
    assert rate(60) == pytest.approx(0.55)  # halfway down: the mean of 1 and 0.1
    assert rate(110) == pytest.approx(0.1) and rate(500) == pytest.approx(0.1)
    rates = [rate(step) for step in range(10, 111)]
    assert all(later <= earlier for earlier, later in zip(rates, rates[1:], strict=False))
    with pytest.raises(ValueError, match="warmup_steps < total_steps"):
        cosine_schedule(100, 100)


def test_copy_task_trains_to_99_percent_exact_sequences():
    generator = torch.Generator().manual_seed(0)
    held_out = make_pairs("copy", 1000, 10, 10, 10, torch.Generator().manual_seed(1234))
    config = TransformerConfig.tiny(vocab_size=14)
    model = Transformer(config)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    batches = random_batches("copy", 64, 10, 10, 10, generator)
    accuracy = 0.0
    for _ in range(20):
        train(model, batches, seq2seq_loss, optimizer, 50)
        accuracy = sequence_accuracy(model, held_out)
        if accuracy >= 0.99:
            break
    assert accuracy >= 0.99


def test_diverging_loss_raises():
    model = Transformer(TransformerConfig(vocab_size=8, d_model=8, num_heads=2, d_ff=8))
    optimizer = torch.optim.SGD(model.parameters(), lr=1.0)
    batches = random_batches("copy", 4, 2, 3, 4, torch.Generator().manual_seed(0))
    with torch.no_grad():
        model.generator.bias.fill_(math.nan)
    with pytest.raises(FloatingPointError, match="loss became nan"):
        train(model, batches, seq2seq_loss, optimizer, 1)


def tiny_copy_setup():
    model = Transformer(TransformerConfig(vocab_size=8, d_model=8, num_heads=2, d_ff=8))
    batches = random_batches("copy", 4, 2, 3, 4, torch.Generator().manual_seed(0))
    return model, batches


def test_empty_batch_iterator_raises_clearly():
    model, _ = tiny_copy_setup()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(ValueError, match="ran out after 0 of 3 steps"):
        train(model, iter([]), seq2seq_loss, optimizer, 3)
    two_batches = list(itertools.islice(random_batches("copy", 4, 2, 3, 4), 2))
    with pytest.raises(ValueError, match="ran out after 2 of 3 steps"):
        train(model, two_batches, seq2seq_loss, optimizer, 3)


def test_optimizer_of_another_model_raises():
    model, batches = tiny_copy_setup()
    other, _ = tiny_copy_setup()
    with pytest.raises(ValueError, match="none of the model's parameters"):
        train(model, batches, seq2seq_loss, torch.optim.SGD(other.parameters(), lr=0.1), 1)
    mixed = torch.optim.SGD([*model.parameters(), *other.generator.parameters()], lr=0.1)
    with pytest.raises(ValueError, match="2 of .* tensors that are not the model's"):
        train(model, batches, seq2seq_loss, mixed, 1)


def test_optimizer_over_part_of_the_model_is_allowed():
    model, batches = tiny_copy_setup()
    frozen_before = model.encoder.state_dict()
    frozen_before = {k: v.clone() for k, v in frozen_before.items()}
    history = train(model, batches, seq2seq_loss, torch.optim.SGD(model.decoder.parameters(), lr=0.1), 2)
    assert len(history.losses) == 2
    for name, value in model.encoder.state_dict().items():
        torch.testing.assert_close(value, frozen_before[name])

"""Next-word labels are the text's own; balanced subsets keep classes even; the head starts from the LM's; ECE."""

import pytest
import torch

from lib import DecoderOnlyTransformer, TransformerConfig
from lib.finetuning import (
    NEXT_WORDS,
    LabelledSnippets,
    SnippetClassifier,
    expected_calibration_error,
    fine_tune,
    make_next_word_task,
    pretraining_split,
)


def test_each_snippet_is_followed_by_its_labelled_word_in_the_held_out_text():
    tokenizer, pretraining, held_out = pretraining_split()
    assert len(held_out) > 0 and not set(held_out) & set(pretraining)
    task = make_next_word_task(held_out, tokenizer, 40, length=32, seed=3)
    assert task.tokens.shape == (40, 32) and task.labels.bincount().tolist() == [10, 10, 10, 10]
    text = "\n\n".join(held_out)
    for tokens, label in zip(task.tokens, task.labels, strict=True):
        assert tokenizer.decode(tokens.tolist()) + NEXT_WORDS[label] in text


def test_a_balanced_subset_draws_equally_from_every_class_and_varies_with_the_seed():
    labels = torch.tensor([0] * 10 + [1] * 3 + [2] * 5)
    data = LabelledSnippets(torch.arange(18)[:, None], labels)
    subset = data.balanced_subset(6, seed=0)
    assert subset.labels.bincount().tolist() == [2, 2, 2]
    assert (data.labels[subset.tokens[:, 0]] == subset.labels).all() and len(set(subset.tokens[:, 0].tolist())) == 6
    assert any(not torch.equal(data.balanced_subset(6, seed).tokens, subset.tokens) for seed in (1, 2, 3))
    with pytest.raises(ValueError, match="multiple of the 3 classes"):
        data.balanced_subset(7, seed=0)
    with pytest.raises(ValueError, match="class 1 has 3 examples"):
        data.balanced_subset(12, seed=0)


def test_too_few_places_is_a_clear_error():
    tokenizer, _, held_out = pretraining_split()
    with pytest.raises(ValueError, match="fewer than"):
        make_next_word_task(held_out[:3], tokenizer, 400)


def test_classifier_head_starts_as_the_language_model_rows_of_its_class_tokens():
    model = DecoderOnlyTransformer(TransformerConfig(vocab_size=12, d_model=8, num_heads=2, d_ff=16))
    tokens = torch.randint(4, 12, (3, 5))
    next_token_logits = model(tokens)[:, -1]
    classifier = SnippetClassifier(model, 2, class_token_ids=[7, 4])
    torch.testing.assert_close(classifier(tokens), next_token_logits[:, [7, 4]])
    with pytest.raises(ValueError, match="one token id per class"):
        SnippetClassifier(DecoderOnlyTransformer(model.config), 3, class_token_ids=[7, 4])


def test_fine_tuning_fits_a_few_labels():
    tokenizer, _, held_out = pretraining_split()
    task = make_next_word_task(held_out, tokenizer, 8, length=16)
    model = DecoderOnlyTransformer(
        TransformerConfig(vocab_size=len(tokenizer.vocabulary), d_model=16, num_heads=2, d_ff=32)
    )
    classifier = fine_tune(SnippetClassifier(model, len(NEXT_WORDS)), task, steps=60, seed=0, learning_rate=1e-2)
    assert (classifier(task.tokens).argmax(-1) == task.labels).float().mean() == 1.0


def test_expected_calibration_error():
    labels = torch.tensor([0, 0, 1, 1])
    always_sure_half_right = torch.tensor([[1.0, 0.0], [1.0, 0.0], [1.0, 0.0], [1.0, 0.0]])
    assert expected_calibration_error(always_sure_half_right, labels) == pytest.approx(0.5)
    honest = torch.tensor([[0.75, 0.25]] * 4)  # 75 % sure, and right on 3 of 4
    assert expected_calibration_error(honest, torch.tensor([0, 0, 0, 1])) == pytest.approx(0.0)
    with pytest.raises(ValueError, match="need probabilities"):
        expected_calibration_error(torch.ones(4), labels)

"""Supervised fine-tuning learns answers; batched greedy answers equal one-by-one answers."""

import pytest
import torch
from chat_helpers import small_decoder, tiny_chat_tokenizer

from lib import DecoderOnlyTransformer
from lib.chat import ChatTokenizer
from lib.tuning import TuningRecipe, exact_match, greedy_answers, supervised_fine_tune

QUESTIONS = {f"What is {a} + {b}?": str(a + b) for a in range(3) for b in range(3)}


@pytest.fixture(scope="module")
def tokenizer() -> ChatTokenizer:
    return tiny_chat_tokenizer()


def small_model(vocab_size: int) -> DecoderOnlyTransformer:
    return small_decoder(vocab_size, max_len=32)


def test_fine_tuning_learns_its_training_answers(tokenizer):
    model = small_model(tokenizer.vocab_size)
    turns = [tokenizer.encode_turn(q, a) for q, a in QUESTIONS.items()]
    assert exact_match(greedy_answers(model, tokenizer, list(QUESTIONS)), list(QUESTIONS.values())) < 0.5
    log = supervised_fine_tune(
        model, turns, tokenizer.pad_id, TuningRecipe(steps=150, batch_size=9, learning_rate=3e-3)
    )
    assert log.losses[-1] < 0.1 * log.losses[0]
    assert exact_match(greedy_answers(model, tokenizer, list(QUESTIONS)), list(QUESTIONS.values())) == 1.0


def test_batched_greedy_answers_equal_answers_one_at_a_time(tokenizer):
    model = small_model(tokenizer.vocab_size)
    prompts = ["What is 2 + 3?", "What is 1 + 1? What is 0 + 2?"]
    together = greedy_answers(model, tokenizer, prompts, max_new_tokens=6)
    alone = [greedy_answers(model, tokenizer, [p], max_new_tokens=6)[0] for p in prompts]
    assert together == alone


def test_a_diverging_run_stops_with_a_clear_error(tokenizer):
    model = small_model(tokenizer.vocab_size)
    turns = [tokenizer.encode_turn(q, a) for q, a in QUESTIONS.items()]
    with torch.no_grad():
        model.input.token_embedding.lookup.weight.fill_(float("nan"))
    with pytest.raises(FloatingPointError, match="lower the learning rate"):
        supervised_fine_tune(model, turns, tokenizer.pad_id, TuningRecipe(steps=2, batch_size=2, warmup_steps=1))


def test_exact_match_needs_one_answer_per_question():
    with pytest.raises(ValueError, match="2 answers for 1"):
        exact_match(["5", "6"], ["5"])

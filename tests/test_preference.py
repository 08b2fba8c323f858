"""DPO: the loss equals the paper's formula computed by hand, and a pair must hold two answers."""

import math

import pytest
import torch
from chat_helpers import small_decoder, tiny_chat_tokenizer

from lib import DecoderOnlyTransformer
from lib.chat import ChatTokenizer
from lib.lora import add_lora
from lib.preference import PreferencePair, answer_log_probs, dpo_loss, pair_batches
from lib.tuning import TuningRecipe, preference_tune

PAIRS = [PreferencePair("What is 2 + 3?", "5", "15"), PreferencePair("Sort the list [3, 1].", "[1, 3]", "[3, 1]")]


@pytest.fixture(scope="module")
def tokenizer() -> ChatTokenizer:
    return tiny_chat_tokenizer()


def small_model(vocab_size: int) -> DecoderOnlyTransformer:
    return small_decoder(vocab_size)


def log_prob_by_hand(model, tokenizer, prompt: str, answer: str) -> float:
    """log p(answer | prompt), one token at a time, each from a full forward pass over its prefix."""
    prefix, answer_ids = tokenizer.encode_turn(prompt, answer)
    total = 0.0
    for token in answer_ids:
        total += model(torch.tensor([prefix]))[0, -1].double().log_softmax(-1)[token].item()
        prefix = prefix + [token]
    return total


def test_answer_log_probs_equal_token_by_token_sums(tokenizer):
    model = small_model(tokenizer.vocab_size)
    chosen, rejected = pair_batches(PAIRS, tokenizer, context=64)
    for batch, which in ((chosen, "chosen"), (rejected, "rejected")):
        by_hand = [log_prob_by_hand(model, tokenizer, p.prompt, getattr(p, which)) for p in PAIRS]
        torch.testing.assert_close(answer_log_probs(model, batch).double(), torch.tensor(by_hand, dtype=torch.float64))


def test_dpo_loss_equals_the_formula_of_rafailov_et_al():
    policy_w, policy_l, ref_w, ref_l = [-1.0, -4.0], [-3.0, -2.5], [-2.0, -3.0], [-2.5, -2.0]
    beta = 0.5
    by_hand = (
        sum(
            -math.log(1 / (1 + math.exp(-beta * ((pw - rw) - (pl - rl)))))
            for pw, pl, rw, rl in zip(policy_w, policy_l, ref_w, ref_l, strict=True)
        )
        / 2
    )
    loss = dpo_loss(*(torch.tensor(x, dtype=torch.float64) for x in (policy_w, policy_l, ref_w, ref_l)), beta)
    assert loss.item() == pytest.approx(by_hand, rel=1e-12)
    same = torch.tensor([-1.0, -2.0])
    assert dpo_loss(same, same, same, same, beta).item() == pytest.approx(math.log(2))  # policy = reference


def test_a_pair_with_identical_answers_is_refused():
    with pytest.raises(ValueError, match="two different answers"):
        PreferencePair("What is 2 + 3?", "5", "5")


def test_dpo_with_lora_raises_the_preferred_answer_over_the_rejected_one(tokenizer):
    model = add_lora(small_model(tokenizer.vocab_size), rank=4)
    chosen, rejected = pair_batches(PAIRS, tokenizer, context=64)

    def margin() -> float:
        with torch.no_grad():
            return (answer_log_probs(model, chosen) - answer_log_probs(model, rejected)).mean().item()

    before = margin()
    preference_tune(model, PAIRS, tokenizer, TuningRecipe(steps=30, batch_size=2, learning_rate=1e-2, warmup_steps=3))
    assert margin() > before + 1.0

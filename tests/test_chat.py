"""The chat template: old ids keep their meaning, only answers are scored, padding changes nothing."""

import pytest
import torch
import torch.nn.functional as F
from chat_helpers import small_decoder, tiny_chat_tokenizer

from lib import DecoderOnlyTransformer
from lib.chat import CHAT_TOKENS, IGNORED, ChatTokenizer, answer_loss, chat_batch, train_only_new_rows, with_new_tokens


@pytest.fixture(scope="module")
def tokenizer() -> ChatTokenizer:
    return tiny_chat_tokenizer()


def small_model(vocab_size: int) -> DecoderOnlyTransformer:
    return small_decoder(vocab_size, tie=True)


def test_chat_tokens_come_after_every_old_id_and_text_encodes_as_before(tokenizer):
    base = tokenizer.base
    assert [tokenizer.user_id, tokenizer.assistant_id, tokenizer.end_id] == list(
        range(base.vocab_size, base.vocab_size + 3)
    )
    text = "Sort the list [3, 1, 2]."
    assert tokenizer.encode(text) == base.encode(text)
    prompt, answer = tokenizer.encode_turn(text, "[1, 2, 3]")
    assert prompt == [tokenizer.user_id, *base.encode(text), tokenizer.assistant_id]
    assert answer == [*base.encode("[1, 2, 3]"), tokenizer.end_id]
    assert tokenizer.decode(prompt + answer, show_specials=True) == f"<|user|>{text}<|assistant|>[1, 2, 3]<|end|>"
    assert tokenizer.answer_text(answer + answer) == "[1, 2, 3]"


def test_a_template_without_its_special_tokens_is_refused(tokenizer):
    with pytest.raises(ValueError, match="missing \\['<\\|end\\|>'\\]"):
        ChatTokenizer(tokenizer.base, chat_tokens=("<|user|>", "<|assistant|>"))


def test_new_token_rows_leave_every_old_weight_and_output_unchanged(tokenizer):
    model = small_model(tokenizer.base.vocab_size)
    grown = with_new_tokens(model, len(CHAT_TOKENS), torch.Generator().manual_seed(0))
    assert grown.config.vocab_size == tokenizer.vocab_size
    ids = torch.tensor([tokenizer.encode("What is 2 + 3?")])
    old, new = model(ids), grown(ids)
    torch.testing.assert_close(new[..., : tokenizer.base.vocab_size], old, rtol=0, atol=0)
    rows = grown.input.token_embedding.lookup.weight[-3:]
    assert len({tuple(r.tolist()) for r in rows}) == 3  # three different new rows
    assert grown.generator.weight is grown.input.token_embedding.lookup.weight  # still tied


def test_the_loss_scores_the_answer_and_end_token_only(tokenizer):
    model = small_model(tokenizer.vocab_size)
    prompt, answer = tokenizer.encode_turn("What is 2 + 3?", "5")
    batch = chat_batch([(prompt, answer)], tokenizer.pad_id, context=64)
    sequence = prompt + answer
    log_probs = model(torch.tensor([sequence[:-1]])).log_softmax(-1)[0]  # (n - 1, vocab)
    by_hand = -sum(log_probs[len(prompt) - 1 + k, token] for k, token in enumerate(answer)) / len(answer)
    torch.testing.assert_close(answer_loss(model, batch), by_hand)
    assert (batch.targets != IGNORED).sum() == len(answer)


def test_right_padding_changes_no_example_s_loss(tokenizer):
    model = small_model(tokenizer.vocab_size)
    turns = [
        tokenizer.encode_turn("What is 2 + 3?", "5"),
        tokenizer.encode_turn("Sort the list [3, 1, 2].", "[1, 2, 3]"),
    ]
    batch = chat_batch(turns, tokenizer.pad_id, context=64)
    logits = model(batch.tokens, padding_mask=batch.padding_mask)
    for row, turn in enumerate(turns):
        alone = chat_batch([turn], tokenizer.pad_id, context=64)
        n = alone.tokens.size(1)
        torch.testing.assert_close(logits[row, :n], model(alone.tokens)[0])
    per_token = F.cross_entropy(logits.flatten(0, 1), batch.targets.flatten(), ignore_index=IGNORED, reduction="sum")
    torch.testing.assert_close(answer_loss(model, batch), per_token / (batch.targets != IGNORED).sum())


def test_a_conversation_longer_than_the_context_is_refused(tokenizer):
    turn = tokenizer.encode_turn("What is 2 + 3? " * 10, "5")
    with pytest.raises(ValueError, match="the model reads at most 16"):
        chat_batch([turn], tokenizer.pad_id, context=16)


def test_a_turn_without_an_answer_is_refused(tokenizer):
    with pytest.raises(ValueError, match="no answer"):
        chat_batch([tokenizer.encode_turn("What is 2 + 3?")], tokenizer.pad_id, context=64)


def test_with_lora_only_the_new_rows_of_the_embedding_move(tokenizer):
    from lib.lora import add_lora
    from lib.tuning import TuningRecipe, supervised_fine_tune

    model = with_new_tokens(small_model(tokenizer.base.vocab_size), 3, torch.Generator().manual_seed(0))
    add_lora(model, rank=2)
    train_only_new_rows(model, 3)
    before = model.input.token_embedding.lookup.weight.detach().clone()
    turns = [tokenizer.encode_turn("What is 2 + 3?", "5")] * 4
    supervised_fine_tune(model, turns, tokenizer.pad_id, TuningRecipe(steps=5, batch_size=2, warmup_steps=1))
    after = model.input.token_embedding.lookup.weight.detach()
    assert torch.equal(after[:-3], before[:-3])
    assert not torch.equal(after[-3:], before[-3:])

"""The chat template: how a conversation becomes token ids, and the loss that teaches answers only.

A conversation turn is written with three new special tokens, appended after the base
tokenizer's last id so that every id the pretrained model knows keeps its meaning:

    <|user|> instruction <|assistant|> answer <|end|>

The model is asked to predict only the answer and the closing <|end|>: the instruction is given,
so its tokens are read but not scored. Batches pad each row on the right with <pad>, which the
model never attends to and the loss never counts.
"""

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from lib.bpe import BytePairTokenizer
from lib.config import TransformerConfig
from lib.model import DecoderOnlyTransformer

CHAT_TOKENS = ("<|user|>", "<|assistant|>", "<|end|>")
IGNORED = -100  # the target of a position the loss skips (torch's cross_entropy ignore_index)


class ChatTokenizer:
    """A trained BytePairTokenizer plus the chat template's special tokens at the end of the vocabulary.

    Text encodes exactly as with the base tokenizer; the chat tokens are never produced from
    text, only by `encode_turn`, so a user cannot type one.
    """

    def __init__(self, base: BytePairTokenizer, chat_tokens: tuple[str, ...] = CHAT_TOKENS):
        if not isinstance(base, BytePairTokenizer):
            raise TypeError(f"base must be a trained lib.bpe.BytePairTokenizer, got {type(base).__name__}")
        missing = [name for name in CHAT_TOKENS if name not in chat_tokens]
        if missing:
            raise ValueError(f"the chat template needs the special tokens {list(CHAT_TOKENS)}; missing {missing}")
        self.base = base
        self.base_vocab_size = base.vocab_size
        self.chat_tokens = tuple(chat_tokens)
        self.user_id, self.assistant_id, self.end_id = (self.chat_id(name) for name in CHAT_TOKENS)

    @property
    def vocab_size(self) -> int:
        return self.base_vocab_size + len(self.chat_tokens)

    @property
    def pad_id(self) -> int:
        return self.base.special_id("<pad>")

    def chat_id(self, name: str) -> int:
        if name not in self.chat_tokens:
            raise KeyError(f"{name!r} is not one of the chat tokens {list(self.chat_tokens)}")
        return self.base_vocab_size + self.chat_tokens.index(name)

    def encode(self, text: str) -> list[int]:
        return self.base.encode(text)

    def encode_turn(self, instruction: str, answer: str | None = None) -> tuple[list[int], list[int]]:
        """(prompt ids, answer ids): the prompt ends with <|assistant|>; the answer, if given, ends with <|end|>."""
        prompt = [self.user_id, *self.encode(instruction), self.assistant_id]
        return prompt, ([] if answer is None else [*self.encode(answer), self.end_id])

    def decode(self, ids, show_specials: bool = False) -> str:
        """Text of `ids`; chat tokens vanish unless `show_specials`, like the base tokenizer's specials."""
        parts, run = [], []
        for token_id in (int(i) for i in ids):
            if token_id >= self.base_vocab_size:
                if token_id >= self.vocab_size:
                    raise IndexError(f"id {token_id} is outside the vocabulary [0, {self.vocab_size})")
                parts.append(self.base.decode(run, show_specials))
                parts.append(self.chat_tokens[token_id - self.base_vocab_size] if show_specials else "")
                run = []
            else:
                run.append(token_id)
        return "".join(parts) + self.base.decode(run, show_specials)

    def answer_text(self, ids) -> str:
        """The text a model wrote after <|assistant|>, up to (not including) its first <|end|>."""
        ids = [int(i) for i in ids]
        ids = ids[: ids.index(self.end_id)] if self.end_id in ids else ids
        return self.decode(ids)

    def to_dict(self) -> dict:
        """The page's form: the base tokenizer's JSON plus the added tokens, in id order."""
        return {**self.base.to_dict(), "added": list(self.chat_tokens)}


def with_new_tokens(model: DecoderOnlyTransformer, count: int, generator: torch.Generator) -> DecoderOnlyTransformer:
    """A copy of `model` whose vocabulary has `count` more ids at the end; every old weight is unchanged.

    Each new embedding row starts at the mean of the old rows plus a little noise (0.02 of their
    spread), so a new token looks like an average token rather than an outlier, and no two are equal.
    """
    if count < 1:
        raise ValueError(f"count must be at least 1, got {count}")
    config = TransformerConfig(**{**model.config.to_dict(), "vocab_size": model.config.vocab_size + count})
    grown = DecoderOnlyTransformer(config)
    state = model.state_dict()
    old = state["input.token_embedding.lookup.weight"]  # (vocab, d_model)
    noise = torch.randn(count, old.size(1), generator=generator, dtype=old.dtype) * 0.02 * old.std()
    state["input.token_embedding.lookup.weight"] = torch.cat([old, old.mean(dim=0) + noise])
    if "generator.weight" in state:
        state["generator.weight"] = state["input.token_embedding.lookup.weight"]
    if "generator.bias" in state:
        state["generator.bias"] = torch.cat([state["generator.bias"], state["generator.bias"].mean().repeat(count)])
    grown.load_state_dict(state)
    return grown


def train_only_new_rows(model: DecoderOnlyTransformer, count: int) -> None:
    """Let the last `count` rows of the token embedding (and so of the tied head) train, the rest frozen.

    LoRA freezes the embedding, but new tokens start as placeholders and must learn what they mean
    (peft offers the same as `trainable_token_indices`). The matrix becomes trainable and a hook
    zeroes the gradient of every old row, so AdamW (without weight decay) never moves them.
    """
    weight = model.input.token_embedding.lookup.weight  # (vocab, d_model)
    if not 1 <= count <= weight.size(0):
        raise ValueError(f"count must be from 1 to the vocabulary size {weight.size(0)}, got {count}")
    new_rows = torch.zeros(weight.size(0), 1, dtype=weight.dtype)
    new_rows[-count:] = 1
    weight.requires_grad_(True)
    weight.register_hook(lambda gradient: gradient * new_rows)


@dataclass
class ChatBatch:
    """Right-padded conversations: `tokens` (batch, n) read by the model, `targets` (batch, n) scored.

    targets[b, t] is the id the model should predict after reading tokens[b, : t + 1], or IGNORED
    where nothing is scored: the instruction, the template's tokens before the answer, and padding.
    """

    tokens: Tensor  # (batch, n)
    targets: Tensor  # (batch, n)
    padding_mask: Tensor  # (batch, n), True at padding


def chat_batch(turns: list[tuple[list[int], list[int]]], pad_id: int, context: int) -> ChatBatch:
    """Batch (prompt ids, answer ids) pairs; refuses a conversation longer than `context` tokens."""
    if not turns:
        raise ValueError("chat_batch needs at least one conversation")
    for k, (prompt, answer) in enumerate(turns):
        if not answer:
            raise ValueError(f"conversation {k} has no answer to learn from")
        if len(prompt) + len(answer) - 1 > context:
            raise ValueError(
                f"conversation {k} has {len(prompt) + len(answer)} tokens; the model reads at most "
                f"{context} (+1 for the last target)"
            )
    width = max(len(p) + len(a) for p, a in turns) - 1
    tokens = torch.full((len(turns), width), pad_id, dtype=torch.long)
    targets = torch.full((len(turns), width), IGNORED, dtype=torch.long)
    padding = torch.ones(len(turns), width, dtype=torch.bool)
    for row, (prompt, answer) in enumerate(turns):
        sequence = prompt + answer
        n = len(sequence) - 1
        tokens[row, :n] = torch.tensor(sequence[:-1])
        padding[row, :n] = False
        # the position that reads the prompt's last token (<|assistant|>) predicts the answer's first
        targets[row, len(prompt) - 1 : n] = torch.tensor(answer)
    return ChatBatch(tokens, targets, padding)


def answer_loss(model: nn.Module, batch: ChatBatch) -> Tensor:
    """Mean cross-entropy over the answer tokens of the batch (every scored token counts the same)."""
    logits = model(batch.tokens, padding_mask=batch.padding_mask)  # (batch, n, vocab)
    return F.cross_entropy(logits.flatten(0, 1), batch.targets.flatten(), ignore_index=IGNORED)

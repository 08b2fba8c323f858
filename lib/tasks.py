"""Synthetic sequence-to-sequence tasks: small, endless, and with a known right answer.

Each task maps a source sequence of symbols to a target sequence: `copy` returns it,
`reverse` reverses it, `sort` sorts it, and `addition` adds two numbers written in digits.
A model that solves `reverse` must use positions; one that solves `sort` must compare symbols.
"""

from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch import Tensor

from lib.tokenizers import BOS_ID, EOS_ID, PAD_ID, SPECIAL_TOKENS, Vocabulary

TASK_NAMES = ("copy", "reverse", "sort", "addition")
FIRST_SYMBOL_ID = len(SPECIAL_TOKENS)


def task_vocabulary(task: str, num_symbols: int = 10) -> Vocabulary:
    """Specials, then the symbols: digits 0-9 and '+' for addition, letters a, b, c, ... otherwise."""
    check_task(task)
    if task == "addition":
        return Vocabulary([str(d) for d in range(10)] + ["+"])
    if not 1 <= num_symbols <= 26:
        raise ValueError(f"num_symbols must be between 1 and 26, got {num_symbols}")
    return Vocabulary([chr(ord("a") + i) for i in range(num_symbols)])


def check_task(task: str) -> None:
    if task not in TASK_NAMES:
        raise ValueError(f"unknown task {task!r}; choose one of {TASK_NAMES}")


def make_pairs(
    task: str,
    num_examples: int,
    min_length: int,
    max_length: int,
    num_symbols: int = 10,
    generator: torch.Generator | None = None,
) -> list[tuple[list[int], list[int]]]:
    """`num_examples` (source ids, target ids) pairs with source lengths in [min_length, max_length].

    For addition the length counts digits per operand.
    """
    check_task(task)
    if not 1 <= min_length <= max_length:
        raise ValueError(f"need 1 <= min_length <= max_length, got {min_length} and {max_length}")
    lengths = torch.randint(min_length, max_length + 1, (num_examples,), generator=generator).tolist()
    if task == "addition":
        vocabulary = task_vocabulary("addition")
        return [_addition_pair(length, vocabulary, generator) for length in lengths]
    pairs = []
    for length in lengths:
        source = (torch.randint(0, num_symbols, (length,), generator=generator) + FIRST_SYMBOL_ID).tolist()
        if task == "copy":
            target = list(source)
        elif task == "reverse":
            target = source[::-1]
        else:
            target = sorted(source)
        pairs.append((source, target))
    return pairs


def _addition_pair(
    num_digits: int, vocabulary: Vocabulary, generator: torch.Generator | None
) -> tuple[list[int], list[int]]:
    high = 10**num_digits
    a, b = torch.randint(0, high, (2,), generator=generator).tolist()
    return vocabulary.encode(list(f"{a}+{b}")), vocabulary.encode(list(str(a + b)))


@dataclass
class Seq2SeqBatch:
    """A padded batch. The decoder reads `target_input` (<bos> y) and must predict `target_output` (y <eos>)."""

    source: Tensor  # (batch, src_len)
    target_input: Tensor  # (batch, tgt_len)
    target_output: Tensor  # (batch, tgt_len)
    pad_id: int = PAD_ID  # what fills the short rows; the loss must ignore exactly this id


def pad_sequences(sequences: list[list[int]], pad_id: int = PAD_ID) -> Tensor:
    """Right-pad lists of ids to one (batch, longest) tensor."""
    longest = max(len(s) for s in sequences)
    return torch.tensor([s + [pad_id] * (longest - len(s)) for s in sequences], dtype=torch.long)


def collate(
    pairs: list[tuple[list[int], list[int]]], pad_id: int = PAD_ID, bos_id: int = BOS_ID, eos_id: int = EOS_ID
) -> Seq2SeqBatch:
    """Pad (source, target) pairs into one batch; pass the model's config ids if they differ from the defaults."""
    if not pairs:
        raise ValueError("cannot collate an empty list of pairs")
    sources = pad_sequences([source for source, _ in pairs], pad_id)
    target_input = pad_sequences([[bos_id] + target for _, target in pairs], pad_id)
    target_output = pad_sequences([target + [eos_id] for _, target in pairs], pad_id)
    return Seq2SeqBatch(sources, target_input, target_output, pad_id)


def random_batches(
    task: str,
    batch_size: int,
    min_length: int,
    max_length: int,
    num_symbols: int = 10,
    generator: torch.Generator | None = None,
    pad_id: int = PAD_ID,
    bos_id: int = BOS_ID,
    eos_id: int = EOS_ID,
) -> Iterator[Seq2SeqBatch]:
    """An endless stream of fresh batches: the model never sees the same batch twice."""
    while True:
        pairs = make_pairs(task, batch_size, min_length, max_length, num_symbols, generator)
        yield collate(pairs, pad_id, bos_id, eos_id)

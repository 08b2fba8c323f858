"""Turning a trained encoder-decoder into outputs: greedy decoding and beam search."""

import torch
from torch import Tensor

from lib.model import Transformer
from lib.tasks import collate
from lib.tokenizers import BOS_ID, EOS_ID, PAD_ID


@torch.no_grad()
def greedy_decode(
    model: Transformer, source: Tensor, max_length: int, bos_id: int = BOS_ID, eos_id: int = EOS_ID
) -> Tensor:
    """Pick the most likely next token, step by step, until every sequence emitted <eos> or max_length.

    source (batch, src) -> (batch, <= max_length) token ids without <bos>; positions after
    a sequence's <eos> are padding. The encoder runs once; the decoder re-reads its prefix.
    """
    if max_length < 1:
        raise ValueError(f"max_length must be at least 1, got {max_length}")
    model.eval()
    memory, memory_padding, _ = model.encode(source)
    batch = source.size(0)
    generated = torch.full((batch, 1), bos_id, dtype=torch.long, device=source.device)
    finished = torch.zeros(batch, dtype=torch.bool, device=source.device)
    for _ in range(max_length):
        logits, _, _ = model.decode(generated, memory, memory_padding)
        next_token = logits[:, -1].argmax(dim=-1)  # (batch,)
        next_token = next_token.masked_fill(finished, PAD_ID)
        generated = torch.cat([generated, next_token[:, None]], dim=1)
        finished |= next_token == eos_id
        if finished.all():
            break
    return generated[:, 1:]


@torch.no_grad()
def beam_search(
    model: Transformer,
    source: Tensor,
    max_length: int,
    beam_size: int = 4,
    length_penalty: float = 0.6,
    bos_id: int = BOS_ID,
    eos_id: int = EOS_ID,
) -> list[list[int]]:
    """Keep the `beam_size` best partial outputs at each step; return the best finished one per source.

    Hypotheses are ranked by log-probability / ((5 + length) / 6) ** length_penalty (Wu et al. 2016),
    so longer outputs are not punished merely for having more terms. Outputs exclude <bos> and <eos>.
    """
    if beam_size < 1:
        raise ValueError(f"beam_size must be at least 1, got {beam_size}")
    model.eval()
    return [
        _beam_search_one(model, source[i : i + 1], max_length, beam_size, length_penalty, bos_id, eos_id)
        for i in range(source.size(0))
    ]


def _beam_search_one(model, source, max_length, beam_size, length_penalty, bos_id, eos_id) -> list[int]:
    memory, memory_padding, _ = model.encode(source)  # (1, src, d_model)
    beams = [([bos_id], 0.0)]  # (tokens, summed log-probability)
    finished: list[tuple[list[int], float]] = []

    def normalized(tokens: list[int], log_prob: float) -> float:
        return log_prob / ((5 + len(tokens)) / 6) ** length_penalty

    for _ in range(max_length):
        prefixes = torch.tensor([tokens for tokens, _ in beams], device=source.device)  # (beams, t)
        count = prefixes.size(0)
        logits, _, _ = model.decode(
            prefixes, memory.expand(count, -1, -1), None if memory_padding is None else memory_padding.expand(count, -1)
        )
        log_probs = logits[:, -1].log_softmax(dim=-1)  # (beams, vocab)
        totals = torch.tensor([score for _, score in beams], device=source.device)[:, None] + log_probs
        best = totals.flatten().topk(min(beam_size * 2, totals.numel()))
        candidates = []
        for score, flat_index in zip(best.values.tolist(), best.indices.tolist(), strict=True):
            beam_index, token = divmod(flat_index, log_probs.size(1))
            tokens = beams[beam_index][0] + [token]
            if token == eos_id:
                finished.append((tokens, score))
            elif len(candidates) < beam_size:
                candidates.append((tokens, score))
        beams = candidates
        best_open = max((normalized(t, s) for t, s in beams), default=float("-inf"))
        best_done = max((normalized(t, s) for t, s in finished), default=float("-inf"))
        if not beams or (len(finished) >= beam_size and best_done >= best_open):
            break
    pool = finished or beams
    tokens, _ = max(pool, key=lambda item: normalized(*item))
    return [t for t in tokens[1:] if t != eos_id]


def strip_after_eos(ids: list[int], eos_id: int = EOS_ID) -> list[int]:
    """The tokens before the first <eos> (or all of them)."""
    return ids[: ids.index(eos_id)] if eos_id in ids else ids


@torch.no_grad()
def sequence_accuracy(model: Transformer, pairs: list[tuple[list[int], list[int]]], batch_size: int = 500) -> float:
    """Fraction of sources whose greedy output equals the target exactly (every token, and the stop)."""
    correct = 0
    for start in range(0, len(pairs), batch_size):
        chunk = pairs[start : start + batch_size]
        batch = collate(chunk)
        longest = max(len(target) for _, target in chunk)
        outputs = greedy_decode(model, batch.source, max_length=longest + 1).tolist()
        for output, (_, target) in zip(outputs, chunk, strict=True):
            correct += int(output[: len(target) + 1] == target + [EOS_ID])
    return correct / len(pairs)

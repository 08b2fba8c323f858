"""Turning a trained model into outputs: greedy decoding, beam search, and sampling.

Every sequence-to-sequence model in lib — the transformer and the recurrent ones — decodes
through the same two methods, so the functions here are written once for all of them:

    state = model.start_decoding(source)        # read the source once
    logits = model.decode_next(state, tokens)   # tokens (batch,): the latest token of each row
    state = state.select(rows)                  # keep, reorder or repeat rows (beam search)

For a transformer the state is a key/value cache: each step runs only the newest token
through the decoder. `greedy_decode(..., use_cache=False)` keeps the plain way, re-reading
the whole prefix at every step, to show that both give the same tokens.
"""

from typing import Protocol

import torch
from torch import Tensor, nn

from lib.tasks import collate
from lib.tokenizers import EOS_ID


class DecodingState(Protocol):
    def select(self, rows: Tensor) -> "DecodingState": ...


class IncrementalDecoder(Protocol):
    """What the decoding functions need from a model: its config's special ids and two methods."""

    config: object  # has pad_id, bos_id, eos_id

    def start_decoding(self, source: Tensor) -> DecodingState: ...

    def decode_next(self, state: DecodingState, tokens: Tensor) -> Tensor: ...


def check_decoder(model: nn.Module) -> None:
    for method in ("start_decoding", "decode_next"):
        if not callable(getattr(model, method, None)):
            raise TypeError(f"{type(model).__name__} has no {method}(); it cannot generate step by step")


@torch.no_grad()
def greedy_decode(model: nn.Module, source: Tensor, max_length: int, use_cache: bool = True) -> Tensor:
    """Pick the most likely next token, step by step, until every sequence emitted <eos> or max_length.

    source (batch, src) -> (batch, <= max_length) token ids without <bos>; positions after
    a sequence's <eos> are padding. The special ids are the model's `config` ones.
    """
    if max_length < 1:
        raise ValueError(f"max_length must be at least 1, got {max_length}")
    check_decoder(model)
    model.eval()
    config = model.config
    if not use_cache:
        return _greedy_decode_without_cache(model, source, max_length)
    state = model.start_decoding(source)
    batch = source.size(0)
    last = torch.full((batch,), config.bos_id, dtype=torch.long, device=source.device)
    finished = torch.zeros(batch, dtype=torch.bool, device=source.device)
    outputs = []
    for _ in range(max_length):
        next_token = model.decode_next(state, last).argmax(dim=-1)  # (batch,)
        next_token = next_token.masked_fill(finished, config.pad_id)
        outputs.append(next_token)
        finished |= next_token == config.eos_id
        if finished.all():
            break
        last = next_token
    return torch.stack(outputs, dim=1)


def _greedy_decode_without_cache(model: nn.Module, source: Tensor, max_length: int) -> Tensor:
    """The same decisions, but the decoder re-reads the whole prefix at every step (transformers only)."""
    if not callable(getattr(model, "encode", None)):
        raise TypeError(f"{type(model).__name__} has no encode()/decode(); decode it with use_cache=True")
    config = model.config
    memory, memory_padding, _ = model.encode(source)
    batch = source.size(0)
    generated = torch.full((batch, 1), config.bos_id, dtype=torch.long, device=source.device)
    finished = torch.zeros(batch, dtype=torch.bool, device=source.device)
    for _ in range(max_length):
        logits, _, _ = model.decode(generated, memory, memory_padding)
        next_token = logits[:, -1].argmax(dim=-1).masked_fill(finished, config.pad_id)  # (batch,)
        generated = torch.cat([generated, next_token[:, None]], dim=1)
        finished |= next_token == config.eos_id
        if finished.all():
            break
    return generated[:, 1:]


@torch.no_grad()
def beam_search(
    model: nn.Module, source: Tensor, max_length: int, beam_size: int = 4, length_penalty: float = 0.6
) -> list[list[int]]:
    """Keep the `beam_size` best partial outputs at each step; return the best finished one per source.

    Hypotheses are ranked by log-probability / ((5 + length) / 6) ** length_penalty (Wu et al. 2016),
    so longer outputs are not punished merely for having more terms. Outputs exclude <bos> and <eos>.
    """
    if beam_size < 1:
        raise ValueError(f"beam_size must be at least 1, got {beam_size}")
    if max_length < 1:
        raise ValueError(f"max_length must be at least 1, got {max_length}")
    check_decoder(model)
    model.eval()
    return [
        _beam_search_one(model, source[i : i + 1], max_length, beam_size, length_penalty) for i in range(len(source))
    ]


def beam_score(log_prob: float, length: int, length_penalty: float) -> float:
    """Wu et al.'s length-normalized score of a hypothesis with `length` tokens."""
    return log_prob / ((5 + length) / 6) ** length_penalty


def _beam_search_one(model, source: Tensor, max_length: int, beam_size: int, length_penalty: float) -> list[int]:
    bos_id, eos_id = model.config.bos_id, model.config.eos_id
    state = model.start_decoding(source)  # batch of 1; expanded to one row per beam below
    beams = [([bos_id], 0.0)]  # (tokens, summed log-probability)
    finished: list[tuple[list[int], float]] = []
    rows = torch.zeros(1, dtype=torch.long, device=source.device)
    for _ in range(max_length):
        state = state.select(rows)  # row i continues the beam it extends
        last = torch.tensor([tokens[-1] for tokens, _ in beams], device=source.device)
        log_probs = model.decode_next(state, last).log_softmax(dim=-1)  # (beams, vocab)
        totals = torch.tensor([score for _, score in beams], device=source.device)[:, None] + log_probs
        best = totals.flatten().topk(min(beam_size * 2, totals.numel()))
        candidates, parents = [], []
        for score, flat_index in zip(best.values.tolist(), best.indices.tolist(), strict=True):
            beam_index, token = divmod(flat_index, log_probs.size(1))
            tokens = beams[beam_index][0] + [token]
            if token == eos_id:
                finished.append((tokens, score))
            elif len(candidates) < beam_size:
                candidates.append((tokens, score))
                parents.append(beam_index)
        beams = candidates
        rows = torch.tensor(parents, dtype=torch.long, device=source.device)
        best_open = max((beam_score(s, len(t), length_penalty) for t, s in beams), default=float("-inf"))
        best_done = max((beam_score(s, len(t), length_penalty) for t, s in finished), default=float("-inf"))
        if not beams or (len(finished) >= beam_size and best_done >= best_open):
            break
    pool = finished or beams
    tokens, _ = max(pool, key=lambda item: beam_score(item[1], len(item[0]), length_penalty))
    return [t for t in tokens[1:] if t != eos_id]


def strip_after_eos(ids: list[int], eos_id: int = EOS_ID) -> list[int]:
    """The tokens before the first <eos> (or all of them)."""
    return ids[: ids.index(eos_id)] if eos_id in ids else ids


@torch.no_grad()
def sequence_accuracy(model: nn.Module, pairs: list[tuple[list[int], list[int]]], batch_size: int = 500) -> float:
    """Fraction of sources whose greedy output equals the target exactly (every token, and the stop)."""
    if not pairs:
        raise ValueError("sequence_accuracy needs at least one (source, target) pair")
    config = model.config
    correct = 0
    for start in range(0, len(pairs), batch_size):
        chunk = pairs[start : start + batch_size]
        batch = collate(chunk, config.pad_id, config.bos_id, config.eos_id)
        longest = max(len(target) for _, target in chunk)
        outputs = greedy_decode(model, batch.source, max_length=longest + 1).tolist()
        for output, (_, target) in zip(outputs, chunk, strict=True):
            correct += int(output[: len(target) + 1] == target + [config.eos_id])
    return correct / len(pairs)


@torch.no_grad()
def generate(
    model: nn.Module,
    prompt: Tensor,
    max_new_tokens: int,
    temperature: float | None = None,
    top_k: int | None = None,
    generator: torch.Generator | None = None,
    use_cache: bool = True,
) -> Tensor:
    """Continue `prompt` (batch, n >= 1) by `max_new_tokens` tokens with a decoder-only model.

    temperature None (or 0) picks the most likely token (greedy); otherwise tokens are sampled
    from softmax(logits / temperature), optionally only among the `top_k` most likely.
    Returns (batch, n + max_new_tokens): the prompt followed by the new tokens.
    """
    if prompt.dim() != 2 or prompt.size(1) == 0:
        raise ValueError(f"prompt must have shape (batch, n) with n >= 1, got {tuple(prompt.shape)}")
    if max_new_tokens < 0:
        raise ValueError(f"max_new_tokens must be >= 0, got {max_new_tokens}")
    if temperature is not None and temperature < 0:
        raise ValueError(f"temperature must be >= 0, got {temperature}")
    if top_k is not None and top_k < 1:
        raise ValueError(f"top_k must be at least 1, got {top_k}")
    check_decoder(model)
    model.eval()
    tokens = prompt
    if use_cache:
        state = model.start_decoding(prompt[:, :-1])
    for _ in range(max_new_tokens):
        logits = model.decode_next(state, tokens[:, -1]) if use_cache else model(tokens)[:, -1]
        next_token = pick_next_token(logits, temperature, top_k, generator)  # (batch,)
        tokens = torch.cat([tokens, next_token[:, None]], dim=1)
    return tokens


def pick_next_token(
    logits: Tensor, temperature: float | None, top_k: int | None, generator: torch.Generator | None
) -> Tensor:
    """logits (batch, vocab) -> (batch,) ids: the argmax, or a sample at `temperature` among the `top_k` best."""
    if not temperature:
        return logits.argmax(dim=-1)
    logits = logits / temperature
    if top_k is not None and top_k < logits.size(-1):
        kth_best = logits.topk(top_k, dim=-1).values[:, -1:]  # (batch, 1)
        logits = logits.masked_fill(logits < kth_best, float("-inf"))
    probabilities = logits.softmax(dim=-1)
    return torch.multinomial(probabilities, 1, generator=generator)[:, 0]

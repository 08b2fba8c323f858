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

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from lib.masks import check_mask_values
from lib.model import DecoderOnlyTransformer, Transformer, given_or_pad_id_padding, grow_padding
from lib.tasks import collate
from lib.tokenizers import EOS_ID


@dataclass
class RereadingState:
    """What decoding without a cache keeps: every token so far, and an encoder-decoder's memory."""

    tokens: Tensor  # (batch, read so far)
    memory: Tensor | None = None  # (batch, src, d_model); None for a decoder-only model
    memory_padding: Tensor | None = None
    padding: Tensor | None = None  # decoder-only: (batch, read so far), True at padding

    def select(self, rows: Tensor) -> "RereadingState":
        def pick(tensor: Tensor | None) -> Tensor | None:
            return None if tensor is None else tensor.index_select(0, rows)

        return RereadingState(pick(self.tokens), pick(self.memory), pick(self.memory_padding), pick(self.padding))


class Rereading:
    """A transformer decoded the plain way: each step runs the decoder over the whole prefix again.

    It speaks the same protocol as the cached models, so every decoding function works with it
    unchanged; `use_cache=False` uses it to show that the cache changes the speed, not the tokens.
    """

    def __init__(self, model: nn.Module):
        if not isinstance(model, (Transformer, DecoderOnlyTransformer)):
            raise TypeError(f"only transformers can re-read their prefix; decode {type(model).__name__} with its cache")
        self.model, self.config = model, model.config

    def start_decoding(self, source: Tensor, padding_mask: Tensor | None = None) -> RereadingState:
        """Encoder-decoder: encode `source`. Decoder-only: `source` is the prefix read so far and
        `padding_mask` (batch, n) its padding, as in `DecoderOnlyTransformer.start_decoding`."""
        if isinstance(self.model, DecoderOnlyTransformer):
            if source.size(1) == 0:
                return RereadingState(source)
            return RereadingState(source, padding=given_or_pad_id_padding(source, padding_mask, self.config.pad_id))
        if padding_mask is not None:
            raise ValueError("padding_mask is for a decoder-only model's prefix; an encoder-decoder masks <pad>")
        memory, memory_padding, _ = self.model.encode(source)
        return RereadingState(source.new_empty(source.size(0), 0), memory, memory_padding)

    def decode_next(self, state: RereadingState, tokens: Tensor) -> Tensor:
        state.tokens = torch.cat([state.tokens, tokens[:, None]], dim=1)  # (batch, read so far + 1)
        if state.memory is None:  # masked as the cached step masks: the prefix's padding, then <pad> if read
            state.padding = grow_padding(state.padding, tokens[:, None], self.config.pad_id)
            return self.model(state.tokens, padding_mask=state.padding)[:, -1]
        logits, _, _ = self.model.decode(state.tokens, state.memory, state.memory_padding)
        return logits[:, -1]


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
    decoder = model if use_cache else Rereading(model)
    state = decoder.start_decoding(source)
    batch = source.size(0)
    last = torch.full((batch,), config.bos_id, dtype=torch.long, device=source.device)
    finished = torch.zeros(batch, dtype=torch.bool, device=source.device)
    outputs = []
    for _ in range(max_length):
        next_token = decoder.decode_next(state, last).argmax(dim=-1)  # (batch,)
        next_token = next_token.masked_fill(finished, config.pad_id)
        outputs.append(next_token)
        finished |= next_token == config.eos_id
        if finished.all():
            break
        last = next_token
    return torch.stack(outputs, dim=1)


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
    top_p: float | None = None,
    padding_mask: Tensor | None = None,
) -> Tensor:
    """Continue `prompt` (batch, n >= 1) by `max_new_tokens` tokens with a decoder-only model.

    temperature None (or 0) picks the most likely token (greedy); otherwise tokens are sampled
    from softmax(logits / temperature), optionally only among the `top_k` most likely and/or the
    smallest set of most likely tokens whose probabilities add up to `top_p` (nucleus sampling).
    Returns (batch, n + max_new_tokens): the prompt followed by the new tokens. The model reads
    n + max_new_tokens - 1 tokens (the last new one is only output), which must fit its max_len.

    Prompts of different lengths go in one batch left-padded: `padding_mask` (batch, n), True at
    the padding, which must come before each row's first real token. No token attends to the padding
    and each row counts its positions from its first real token, so every row continues as its prompt
    would alone (Hugging Face's `generate` with `attention_mask` does the same). Without a mask, the
    prompt's tokens equal to config.pad_id are the padding.
    """
    if prompt.dim() != 2 or prompt.size(1) == 0:
        raise ValueError(f"prompt must have shape (batch, n) with n >= 1, got {tuple(prompt.shape)}")
    if max_new_tokens < 0:
        raise ValueError(f"max_new_tokens must be >= 0, got {max_new_tokens}")
    if temperature is not None and temperature < 0:
        raise ValueError(f"temperature must be >= 0, got {temperature}")
    if top_k is not None and top_k < 1:
        raise ValueError(f"top_k must be at least 1, got {top_k}")
    check_top_p(top_p)
    check_decoder(model)
    check_fits_context(model, prompt.size(1), max_new_tokens)
    check_left_padding(padding_mask, prompt)
    model.eval()
    decoder = model if use_cache else Rereading(model)
    tokens = prompt
    if padding_mask is None:
        state = decoder.start_decoding(prompt[:, :-1])
    else:  # the last prompt token is real (checked): decode_next reads it
        state = decoder.start_decoding(prompt[:, :-1], padding_mask[:, :-1])
    for _ in range(max_new_tokens):
        logits = decoder.decode_next(state, tokens[:, -1])
        next_token = pick_next_token(logits, temperature, top_k, generator, top_p)  # (batch,)
        tokens = torch.cat([tokens, next_token[:, None]], dim=1)
    return tokens


def check_left_padding(padding_mask: Tensor | None, prompt: Tensor) -> None:
    """`padding_mask` is None, or a bool (batch, n) like `prompt`, True only before each row's first real token."""
    if padding_mask is None:
        return
    check_mask_values(padding_mask, "padding_mask")
    if padding_mask.dtype != torch.bool:
        raise TypeError(f"padding_mask must be bool (True at padding), got {padding_mask.dtype}")
    if padding_mask.shape != prompt.shape:
        raise ValueError(f"padding_mask has shape {tuple(padding_mask.shape)} but the prompt {tuple(prompt.shape)}")
    leading = padding_mask.long().cumprod(dim=1).bool()  # (batch, n): True before the first real token
    wrong = (padding_mask & ~leading).any(dim=1) | padding_mask[:, -1]  # (batch,)
    if wrong.any():
        rows = wrong.nonzero().flatten().tolist()
        raise ValueError(
            f"padding_mask must be left padding (True only before a row's first real token, and every row's "
            f"last token real); rows {rows} are not"
        )


def check_top_p(top_p: float | None) -> None:
    if top_p is not None and not 0.0 < top_p <= 1.0:
        raise ValueError(f"top_p is a probability mass and must be in (0, 1], got {top_p}")


def check_fits_context(model: nn.Module, prompt_length: int, max_new_tokens: int) -> None:
    """Refuse, before any work, a generation whose tokens would not fit the model's context window."""
    max_len = getattr(model.config, "max_len", None)
    if max_len is None:
        return
    if prompt_length > max_len:
        raise ValueError(
            f"the prompt has {prompt_length} tokens but the model's context window is {max_len} tokens; "
            f"keep the prompt's last {max_len} tokens at most"
        )
    if prompt_length + max_new_tokens - 1 > max_len:
        raise ValueError(
            f"a prompt of {prompt_length} tokens plus {max_new_tokens} new tokens does not fit the context window "
            f"of {max_len} tokens; ask for at most {max_len - prompt_length + 1} new tokens"
        )


def nucleus_filter(logits: Tensor, top_p: float) -> Tensor:
    """Keep the smallest set of most likely tokens whose probabilities reach `top_p`; the rest get -inf.

    logits (batch, vocab) -> (batch, vocab). A token is kept when the probability of the tokens
    ranked above it, summed in float64, is still below `top_p` (Holtzman et al. 2020), so the most
    likely token is always kept and top_p near 0 leaves only it (greedy). top_p = 1 returns the
    logits unchanged, as the page's sampler (lib/widget/sampling.js) does: every token is kept, even
    one so unlikely that the float64 sum of the tokens above it has already rounded to 1.
    """
    check_top_p(top_p)
    if top_p >= 1.0:
        return logits
    sorted_logits, order = logits.sort(dim=-1, descending=True)  # (batch, vocab)
    probabilities = sorted_logits.double().softmax(dim=-1)
    mass_above = probabilities.cumsum(dim=-1) - probabilities  # (batch, vocab): mass of the better-ranked tokens
    drop_sorted = mass_above >= top_p
    drop = drop_sorted.scatter(-1, order, drop_sorted)  # back to vocabulary order
    return logits.masked_fill(drop, float("-inf"))


def pick_next_token(
    logits: Tensor,
    temperature: float | None,
    top_k: int | None,
    generator: torch.Generator | None,
    top_p: float | None = None,
) -> Tensor:
    """logits (batch, vocab) -> (batch,) ids: the argmax, or a sample at `temperature` among the `top_k` best
    and/or the `top_p` nucleus."""
    check_top_p(top_p)
    if not temperature:
        return logits.argmax(dim=-1)
    logits = logits / temperature
    if top_k is not None and top_k < logits.size(-1):
        kth_best = logits.topk(top_k, dim=-1).values[:, -1:]  # (batch, 1)
        logits = logits.masked_fill(logits < kth_best, float("-inf"))
    if top_p is not None:
        logits = nucleus_filter(logits, top_p)
    probabilities = logits.softmax(dim=-1)
    return torch.multinomial(probabilities, 1, generator=generator)[:, 0]

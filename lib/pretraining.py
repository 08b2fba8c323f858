"""Pretraining a small GPT on English text: the data, the model sizes, and the loop that trains them.

`pretrain` is the loop the GPT chapter shows and runs live for a few steps; the shipped
checkpoints are the same function run longer by `tools/train_checkpoints.py`. It uses AdamW
(Loshchilov & Hutter 2019) with weight decay on the weight matrices only, a linear warm-up then
a cosine decay of the learning rate, gradient clipping, and a validation loss every few steps.
"""

import contextlib
import math
import time
from dataclasses import asdict, dataclass, field

import torch
from torch import Tensor, nn

from lib.bpe import BytePairTokenizer
from lib.config import TransformerConfig
from lib.corpus import consecutive_windows, english_corpus, python_code_corpus, random_windows
from lib.training import backward_and_clip, cosine_schedule, language_model_loss

GPT_VOCAB_SIZE = 1024  # 3 specials + 256 bytes + 765 merges
GPT_CONTEXT = 128  # tokens a model reads at once (about 350 characters of this text)
GPT_SIZES = {  # the scale experiment's three sizes; "large" is the chapter's main model (under 1 M parameters)
    "small": dict(d_model=64, num_heads=4, d_ff=256, num_decoder_layers=2),
    "medium": dict(d_model=96, num_heads=4, d_ff=384, num_decoder_layers=3),
    "large": dict(d_model=128, num_heads=4, d_ff=512, num_decoder_layers=4),
}


def gpt_config(vocab_size: int, size: str = "large", context: int = GPT_CONTEXT, **overrides) -> TransformerConfig:
    """A decoder-only config: Pre-LN, final LayerNorm, output head tied to the token embedding."""
    if size not in GPT_SIZES:
        raise ValueError(f"unknown size {size!r}; choose one of {sorted(GPT_SIZES)}")
    settings = dict(max_len=context, norm_first=True, tie_embeddings=True, **GPT_SIZES[size])
    return TransformerConfig(vocab_size=vocab_size, **{**settings, **overrides})


CODE_GPT_SETTINGS = dict(  # the capstone's model: the GPT chapter's "large" width, 256 learned positions, GPT-2's init
    d_model=128, num_heads=4, d_ff=512, num_decoder_layers=4, max_len=256, norm_first=True, tie_embeddings=True,
    positional="learned", init="normal", depth_scaled_init=True,
)  # fmt: skip
CODE_TOKENIZER_CHARACTERS = 2_000_000  # the code tokenizer learns its merges from this much training text


def code_gpt_config(vocab_size: int = GPT_VOCAB_SIZE, **overrides) -> TransformerConfig:
    """The capstone's GPT: Pre-LN, learned positions, ReLU, tied head, N(0, 0.02) init scaled down with depth."""
    return TransformerConfig(vocab_size=vocab_size, **{**CODE_GPT_SETTINGS, **overrides})


def code_tokenizer(vocab_size: int = GPT_VOCAB_SIZE) -> BytePairTokenizer:
    """Byte-level BPE learned on the first CODE_TOKENIZER_CHARACTERS of `python_code_corpus()`'s training text."""
    return BytePairTokenizer().train(python_code_corpus().training_text[:CODE_TOKENIZER_CHARACTERS], vocab_size)


def book_tokenizer(vocab_size: int = GPT_VOCAB_SIZE) -> BytePairTokenizer:
    """Byte-level BPE learned on the training text of `english_corpus()` (about a second)."""
    return BytePairTokenizer().train(english_corpus().training_text, vocab_size)


def corpus_ids(tokenizer, corpus=None) -> tuple[Tensor, Tensor]:
    """(training ids, validation ids) of `corpus` (default `english_corpus()`; anything with
    training_text and validation_text, such as `python_code_corpus()`) under `tokenizer`."""
    corpus = english_corpus() if corpus is None else corpus
    encode = lambda text: torch.tensor(tokenizer.encode(text), dtype=torch.long)  # noqa: E731
    return encode(corpus.training_text), encode(corpus.validation_text)


@dataclass
class PretrainingRecipe:
    """Everything `pretrain` needs besides the model and the data; saved beside each checkpoint's weights."""

    steps: int = 500
    batch_size: int = 16
    context: int = GPT_CONTEXT  # each training row is context + 1 tokens: inputs and their next tokens
    learning_rate: float = 3e-3  # the peak, reached at the end of the warm-up
    warmup_steps: int = 50
    final_fraction: float = 0.1  # the cosine ends at this fraction of the peak rate
    weight_decay: float = 0.1
    clip_grad_norm: float = 1.0
    eval_every: int = 25  # steps between validation losses
    eval_windows: int = 16  # validation windows per check (the same ones every time)
    seed: int = 0  # the order of the training windows; the caller seeds the model's initial weights

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def tokens_per_step(self) -> int:
        return self.batch_size * self.context


@dataclass
class PretrainingLog:
    """What a run did: the training loss of every step, validation losses, and its speed."""

    losses: list[float] = field(default_factory=list)
    validation_steps: list[int] = field(default_factory=list)
    validation_losses: list[float] = field(default_factory=list)
    learning_rates: list[float] = field(default_factory=list)
    training_seconds: float = 0.0  # time in training steps, validation excluded
    tokens_seen: int = 0

    @property
    def tokens_per_second(self) -> float:
        return self.tokens_seen / self.training_seconds if self.training_seconds else float("nan")


def parameter_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """Weight decay for matrices (attention, feed-forward, the tied embedding); none for biases and norms.

    Decay pulls weights towards zero; a bias or a LayerNorm gain is a single scale or offset per
    feature, and shrinking it only fights the normalization, so GPT-2-style recipes leave them alone.
    """
    unique = {id(p): p for p in model.parameters() if p.requires_grad}.values()  # a tied matrix once
    decayed = [p for p in unique if p.dim() >= 2]
    other = [p for p in unique if p.dim() < 2]
    return [{"params": decayed, "weight_decay": weight_decay}, {"params": other, "weight_decay": 0.0}]


@torch.no_grad()
def validation_loss(model: nn.Module, windows: Tensor) -> float:
    """Mean next-token cross-entropy (nats) over `windows` (count, context + 1); the model is left in eval mode."""
    model.eval()
    return language_model_loss(model, windows).item()


def check_training_ids(ids: Tensor, name: str, context: int, vocab_size: int) -> None:
    """Raise a clear error unless `ids` is a 1-D tensor of token ids long enough for one window of context + 1."""
    if not isinstance(ids, Tensor) or ids.dim() != 1:
        raise ValueError(f"{name} must be a 1-D tensor of token ids, got {getattr(ids, 'shape', type(ids).__name__)}")
    if ids.dtype not in (torch.int64, torch.int32):
        raise TypeError(f"{name} must hold integer token ids (torch.long), got dtype {ids.dtype}")
    if len(ids) <= context + 1:
        raise ValueError(
            f"{name} has {len(ids)} tokens; a window needs context + 1 = {context + 1}: is the text empty?"
        )
    if ids.min() < 0 or ids.max() >= vocab_size:
        raise IndexError(f"{name} holds ids outside the model's vocabulary [0, {vocab_size})")


def autocast_for(device: torch.device):
    """bfloat16 autocast on a GPU (matrix products in bf16, weights and optimizer in float32); nothing on a CPU."""
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def pretrain(
    model: nn.Module,
    training_ids: Tensor,
    validation_ids: Tensor,
    recipe: PretrainingRecipe,
    stop_after: int | None = None,
    device: str | torch.device = "cpu",
) -> PretrainingLog:
    """Train `model` on random windows of `training_ids` as `recipe` says; `stop_after` ends early, same schedule.

    `device` "cuda" moves the model there and runs each step under bfloat16 autocast; the data stay
    on the CPU and each batch is copied over. On a CPU (the book's path) every step is in float32.
    """
    if recipe.context > model.config.max_len:
        raise ValueError(
            f"recipe.context {recipe.context} is longer than the model's window (max_len {model.config.max_len})"
        )
    for name, ids in (("training_ids", training_ids), ("validation_ids", validation_ids)):
        check_training_ids(ids, name, recipe.context, model.config.vocab_size)
    device = torch.device(device)
    model.to(device)
    order = torch.Generator().manual_seed(recipe.seed)  # which windows, in which order
    batches = random_windows(training_ids, recipe.batch_size, recipe.context + 1, order)
    held_out = consecutive_windows(validation_ids, recipe.context + 1)[: recipe.eval_windows].to(device)
    groups = parameter_groups(model, recipe.weight_decay)
    optimizer = torch.optim.AdamW(groups, lr=recipe.learning_rate, betas=(0.9, 0.95))
    schedule = cosine_schedule(recipe.warmup_steps, recipe.steps, recipe.final_fraction)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)  # rate = peak * schedule(step)
    log = PretrainingLog()
    for step in range(min(recipe.steps, stop_after or recipe.steps)):
        started = time.perf_counter()
        model.train()
        tokens = next(batches).to(device)  # (batch, context + 1)
        with autocast_for(device):
            loss = language_model_loss(model, tokens)  # inputs tokens[:, :-1], targets tokens[:, 1:]
        backward_and_clip(loss, optimizer, model.parameters(), recipe.clip_grad_norm, step)  # rescale a large norm
        log.learning_rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
        log.losses.append(loss.item())
        log.training_seconds += time.perf_counter() - started
        log.tokens_seen += recipe.tokens_per_step
        if step % recipe.eval_every == 0 or step == recipe.steps - 1:
            log.validation_steps.append(step)
            with autocast_for(device):
                log.validation_losses.append(validation_loss(model, held_out))
    model.eval()
    return log


@torch.no_grad()
def bits_per_byte(model: nn.Module, ids: Tensor, bytes_per_position: Tensor, context: int) -> float:
    """Validation loss in bits per byte of text, comparable across tokenizers.

    `ids` (n,) are cut into windows of context + 1 that overlap by one token, so every token but
    the first is predicted exactly once; the summed loss (nats) is divided by ln 2 and by the
    UTF-8 bytes of the predicted tokens, `bytes_per_position` (n,).
    """
    if ids.shape != bytes_per_position.shape:
        raise ValueError(f"ids {tuple(ids.shape)} and bytes_per_position {tuple(bytes_per_position.shape)} differ")
    model.eval()
    total_nats, total_bytes = 0.0, 0
    for start in range(0, len(ids) - 1, context):
        window = ids[start : start + context + 1][None]  # (1, <= context + 1)
        logits = model(window[:, :-1])  # (1, length, vocab)
        total_nats += nn.functional.cross_entropy(logits[0], window[0, 1:], reduction="sum").item()
        total_bytes += int(bytes_per_position[start + 1 : start + context + 1].sum())
    return total_nats / math.log(2) / total_bytes


def unigram_bits_per_byte(training_ids: Tensor, ids: Tensor, bytes_per_position: Tensor, vocab_size: int) -> float:
    """The baseline that knows only how often each token occurs in training (add-one smoothed), in bits per byte."""
    counts = torch.bincount(training_ids, minlength=vocab_size).double() + 1
    log_probabilities = (counts / counts.sum()).log()
    return float(-log_probabilities[ids[1:]].sum() / math.log(2) / bytes_per_position[1:].sum())


def byte_lengths(tokenizer: BytePairTokenizer) -> Tensor:
    """(vocab,) UTF-8 bytes per BPE id (0 for the specials): index it with ids to get bytes_per_position."""
    return torch.tensor([len(tokenizer.token_bytes(i)) for i in range(tokenizer.vocab_size)])

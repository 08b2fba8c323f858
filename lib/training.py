"""Loss, learning-rate schedules and the training loop every chapter uses."""

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from lib.reproducibility import progress_enabled
from lib.tasks import Seq2SeqBatch
from lib.tokenizers import PAD_ID


def label_smoothed_cross_entropy(
    logits: Tensor, targets: Tensor, smoothing: float = 0.1, pad_id: int | None = PAD_ID
) -> Tensor:
    """Mean cross-entropy over non-pad targets against a smoothed target distribution.

    logits (..., vocab), targets (...). With smoothing eps the true token gets 1 - eps and
    the rest eps spread over the vocabulary (Szegedy et al. 2016), as in Vaswani et al. (2017).
    `pad_id` None (a vocabulary without padding, like GPT-2's): every target counts.
    """
    if logits.shape[:-1] != targets.shape:
        raise ValueError(f"logits {tuple(logits.shape)} and targets {tuple(targets.shape)} do not line up")
    if not 0.0 <= smoothing < 1.0:
        raise ValueError(f"smoothing must be in [0, 1), got {smoothing}")
    return F.cross_entropy(
        logits.reshape(-1, logits.size(-1)),
        targets.reshape(-1),
        ignore_index=-100 if pad_id is None else pad_id,
        label_smoothing=smoothing,
    )


def inverse_sqrt_schedule(d_model: int, warmup_steps: int) -> Callable[[int], float]:
    """Vaswani et al.'s rate: d_model^-0.5 * min(step^-0.5, step * warmup^-1.5).

    It rises linearly for `warmup_steps`, then decays as 1/sqrt(step). Use with
    `torch.optim.lr_scheduler.LambdaLR` and a base learning rate of 1 (or a scale factor).
    """

    def rate(step: int) -> float:
        step = max(step, 1)
        return d_model**-0.5 * min(step**-0.5, step * warmup_steps**-1.5)

    return rate


def linear_warmup_schedule(warmup_steps: int, total_steps: int) -> Callable[[int], float]:
    """A factor rising linearly from 0 to 1 over `warmup_steps`, then falling linearly to 0 at `total_steps`."""

    def rate(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        return max(0.0, (total_steps - step) / max(1, total_steps - warmup_steps))

    return rate


def cosine_schedule(warmup_steps: int, total_steps: int, final_fraction: float = 0.0) -> Callable[[int], float]:
    """A factor rising linearly to 1 over `warmup_steps`, then following half a cosine down to `final_fraction`.

    Loshchilov & Hutter (2017) without restarts: the rate falls slowly at first, fastest midway, and
    slowly again near the end. Use with `torch.optim.lr_scheduler.LambdaLR`.
    """
    if not 0 <= warmup_steps < total_steps:
        raise ValueError(f"need 0 <= warmup_steps < total_steps, got {warmup_steps} and {total_steps}")
    if not 0.0 <= final_fraction <= 1.0:
        raise ValueError(f"final_fraction must be in [0, 1], got {final_fraction}")

    def rate(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        progress = min(1.0, (step - warmup_steps) / (total_steps - warmup_steps))
        return final_fraction + (1 - final_fraction) * 0.5 * (1 + math.cos(math.pi * progress))

    return rate


def seq2seq_loss(model: nn.Module, batch: Seq2SeqBatch, smoothing: float = 0.0) -> Tensor:
    """Teacher forcing: the decoder reads the true previous tokens and predicts the next one.

    Padding is the model's own `config.pad_id`; a batch padded with another id is refused,
    since the loss would then learn to predict padding.
    """
    pad_id = model.config.pad_id
    if batch.pad_id != pad_id:
        raise ValueError(
            f"the batch is padded with id {batch.pad_id} but the model's config.pad_id is {pad_id}; "
            "pass the config's ids to collate/random_batches"
        )
    logits = model(batch.source, batch.target_input)  # (batch, tgt, vocab)
    return label_smoothed_cross_entropy(logits, batch.target_output, smoothing, pad_id)


def language_model_loss(model: nn.Module, tokens: Tensor, smoothing: float = 0.0) -> Tensor:
    """Next-token prediction: position t predicts token t + 1. tokens (batch, seq); pads are the config's."""
    logits = model(tokens[:, :-1])
    return label_smoothed_cross_entropy(logits, tokens[:, 1:], smoothing, model.config.pad_id)


@dataclass
class TrainingHistory:
    """What a training run did, step by step, for plotting."""

    losses: list[float] = field(default_factory=list)
    learning_rates: list[float] = field(default_factory=list)


def train(
    model: nn.Module,
    batches: Iterable,
    compute_loss: Callable[[nn.Module, object], Tensor],
    optimizer: torch.optim.Optimizer,
    steps: int,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
    clip_grad_norm: float | None = 1.0,
    history: TrainingHistory | None = None,
    description: str = "training",
) -> TrainingHistory:
    """Run `steps` optimizer steps, each on the next batch; return (or extend) the loss history.

    `model` may be wrapped, e.g. in `torch.nn.parallel.DistributedDataParallel`; the optimizer
    must hold (some of) its parameters and no others. A progress bar is shown in interactive
    sessions; the book's execute command and tests turn it off (see
    `lib.reproducibility.progress_enabled`).
    """
    if steps < 1:
        raise ValueError(f"steps must be at least 1, got {steps}")
    check_optimizer_matches(model, optimizer)
    batches = iter(batches)
    history = history if history is not None else TrainingHistory()
    model.train()
    bar = _progress_bar(steps, description)
    for step in range(steps):
        try:
            batch = next(batches)
        except StopIteration:
            if bar is not None:
                bar.close()
            raise ValueError(
                f"the batch iterator ran out after {step} of {steps} steps; "
                "pass an endless stream (e.g. lib.tasks.random_batches) or fewer steps"
            ) from None
        loss = compute_loss(model, batch)
        backward_and_clip(loss, optimizer, model.parameters(), clip_grad_norm, len(history.losses))
        history.learning_rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        history.losses.append(loss.item())
        if bar is not None:
            bar.update(1)
            bar.set_postfix(loss=f"{loss.item():.3f}", refresh=False)
    if bar is not None:
        bar.close()
    model.eval()
    return history


def backward_and_clip(
    loss: Tensor, optimizer: torch.optim.Optimizer, parameters, clip_grad_norm: float | None, step: int
) -> None:
    """The part of a training step before `optimizer.step()`, shared by every loop in lib.

    A non-finite loss stops training with an error that names the step (a NaN would otherwise
    spread into every weight); then the gradients are computed afresh and their total norm clipped
    to `clip_grad_norm` (None: no clipping).
    """
    if not torch.isfinite(loss):
        raise FloatingPointError(f"loss became {loss.item()} at step {step}; lower the learning rate")
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if clip_grad_norm is not None:
        nn.utils.clip_grad_norm_(parameters, clip_grad_norm)


def check_optimizer_matches(model: nn.Module, optimizer: torch.optim.Optimizer) -> None:
    """Raise if the optimizer would update nothing of `model`, or tensors that are not its parameters.

    Both happen when an optimizer built for one model is passed along with another.
    """
    model_ids = {id(p) for p in model.parameters()}
    optimizer_params = [p for group in optimizer.param_groups for p in group["params"]]
    foreign = sum(id(p) not in model_ids for p in optimizer_params)
    if foreign == len(optimizer_params):
        raise ValueError(
            f"the optimizer holds none of the model's parameters ({len(optimizer_params)} foreign tensors); "
            "was it built for another model?"
        )
    if foreign:
        raise ValueError(
            f"the optimizer holds {foreign} of {len(optimizer_params)} tensors that are not the model's "
            "parameters; build it from model.parameters()"
        )


def _progress_bar(total: int, description: str):
    if not progress_enabled():
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=description, leave=False)

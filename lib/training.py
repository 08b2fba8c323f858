"""Loss, learning-rate schedules and the training loop every chapter uses."""

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from lib.reproducibility import progress_enabled
from lib.tasks import Seq2SeqBatch
from lib.tokenizers import PAD_ID


def label_smoothed_cross_entropy(
    logits: Tensor, targets: Tensor, smoothing: float = 0.1, pad_id: int = PAD_ID
) -> Tensor:
    """Mean cross-entropy over non-pad targets against a smoothed target distribution.

    logits (..., vocab), targets (...). With smoothing eps the true token gets 1 - eps and
    the rest eps spread over the vocabulary (Szegedy et al. 2016), as in Vaswani et al. (2017).
    """
    if logits.shape[:-1] != targets.shape:
        raise ValueError(f"logits {tuple(logits.shape)} and targets {tuple(targets.shape)} do not line up")
    if not 0.0 <= smoothing < 1.0:
        raise ValueError(f"smoothing must be in [0, 1), got {smoothing}")
    return F.cross_entropy(
        logits.reshape(-1, logits.size(-1)), targets.reshape(-1), ignore_index=pad_id, label_smoothing=smoothing
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


def seq2seq_loss(model: nn.Module, batch: Seq2SeqBatch, smoothing: float = 0.0) -> Tensor:
    """Teacher forcing: the decoder reads the true previous tokens and predicts the next one."""
    logits = model(batch.source, batch.target_input)  # (batch, tgt, vocab)
    return label_smoothed_cross_entropy(logits, batch.target_output, smoothing)


def language_model_loss(model: nn.Module, tokens: Tensor, smoothing: float = 0.0) -> Tensor:
    """Next-token prediction: position t predicts token t + 1. tokens (batch, seq)."""
    logits = model(tokens[:, :-1])
    return label_smoothed_cross_entropy(logits, tokens[:, 1:], smoothing)


@dataclass
class TrainingHistory:
    """What a training run did, step by step, for plotting."""

    losses: list[float] = field(default_factory=list)
    learning_rates: list[float] = field(default_factory=list)


def train(
    model: nn.Module,
    batches: Iterator,
    compute_loss: Callable[[nn.Module, object], Tensor],
    optimizer: torch.optim.Optimizer,
    steps: int,
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None,
    clip_grad_norm: float | None = 1.0,
    history: TrainingHistory | None = None,
    description: str = "training",
) -> TrainingHistory:
    """Run `steps` optimizer steps, each on the next batch; return (or extend) the loss history.

    A progress bar is shown in interactive sessions; the book's execute command and
    tests turn it off (see `lib.reproducibility.progress_enabled`).
    """
    history = history if history is not None else TrainingHistory()
    model.train()
    bar = _progress_bar(steps, description)
    for _ in range(steps):
        loss = compute_loss(model, next(batches))
        if not torch.isfinite(loss):
            raise FloatingPointError(
                f"loss became {loss.item()} at step {len(history.losses)}; lower the learning rate"
            )
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if clip_grad_norm is not None:
            nn.utils.clip_grad_norm_(model.parameters(), clip_grad_norm)
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


def _progress_bar(total: int, description: str):
    if not progress_enabled():
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=description, leave=False)

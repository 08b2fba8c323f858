"""Post-training loops: supervised fine-tuning on instructions and DPO on preference pairs, and scoring.

Both loops are the pretraining loop's recipe (AdamW, linear warm-up then cosine decay, gradient
clipping) around a different loss: `answer_loss` on (instruction, answer) turns, `dpo_loss` on
(instruction, preferred, rejected) triples. The post-training chapter runs them live for a few
steps; `tools/train_checkpoints.py` runs the same functions longer for the shipped checkpoints.
"""

import contextlib
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from torch import Tensor, nn

from lib.chat import CHAT_TOKENS, IGNORED, ChatTokenizer, answer_loss, chat_batch, with_new_tokens
from lib.checkpoint import load_checkpoint
from lib.decoding import generate
from lib.lora import adapters_disabled, load_adapters
from lib.preference import PreferencePair, answer_log_probs, dpo_loss, pair_batches
from lib.pretraining import parameter_groups
from lib.training import backward_and_clip, cosine_schedule


@dataclass
class TuningRecipe:
    """The settings of one fine-tuning run; saved beside each checkpoint."""

    steps: int = 300
    batch_size: int = 32
    learning_rate: float = 1e-3  # the peak, reached at the end of the warm-up
    warmup_steps: int = 30
    final_fraction: float = 0.1
    weight_decay: float = 0.0
    clip_grad_norm: float = 1.0
    beta: float = 0.1  # DPO only: how strongly the policy is tied to the reference
    nll_weight: float = 0.0  # DPO only: weight of the preferred answers' own loss added to DPO's
    seed: int = 0  # which examples, in which order

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class TuningLog:
    losses: list[float] = field(default_factory=list)
    training_seconds: float = 0.0


def run_steps(model: nn.Module, recipe: TuningRecipe, count: int, step_loss) -> TuningLog:
    """`recipe.steps` AdamW steps on step_loss(rows) for random rows (indices into `count` examples)."""
    if recipe.steps < 1 or recipe.batch_size < 1:
        raise ValueError(f"steps and batch_size must be at least 1, got {recipe.steps} and {recipe.batch_size}")
    groups = parameter_groups(model, recipe.weight_decay)
    trainable = [p for group in groups for p in group["params"]]
    if not trainable:
        raise ValueError("the model has no trainable parameters")
    optimizer = torch.optim.AdamW(groups, lr=recipe.learning_rate, betas=(0.9, 0.95))
    schedule = cosine_schedule(recipe.warmup_steps, recipe.steps, recipe.final_fraction)
    order = torch.Generator().manual_seed(recipe.seed)
    log = TuningLog()
    model.train()
    started = time.perf_counter()
    for step in range(recipe.steps):
        for group in optimizer.param_groups:
            group["lr"] = recipe.learning_rate * schedule(step)
        rows = torch.randint(0, count, (recipe.batch_size,), generator=order).tolist()
        loss = step_loss(rows)
        backward_and_clip(loss, optimizer, trainable, recipe.clip_grad_norm, step)
        optimizer.step()
        log.losses.append(loss.item())
    log.training_seconds = time.perf_counter() - started
    model.eval()
    return log


def supervised_fine_tune(
    model: nn.Module, turns: list[tuple[list[int], list[int]]], pad_id: int, recipe: TuningRecipe
) -> TuningLog:
    """Train `model` in place to write each turn's answer after its prompt (loss on answer tokens only)."""
    if not turns:
        raise ValueError("supervised_fine_tune needs at least one (prompt, answer) turn")
    context = model.config.max_len

    def step_loss(rows: list[int]) -> Tensor:
        return answer_loss(model, chat_batch([turns[r] for r in rows], pad_id, context))

    return run_steps(model, recipe, len(turns), step_loss)


def preference_tune(
    model: nn.Module,
    pairs: list[PreferencePair],
    tokenizer: ChatTokenizer,
    recipe: TuningRecipe,
    reference: nn.Module | None = None,
) -> TuningLog:
    """DPO in place. The reference is `reference`, frozen, or (None) `model` with its LoRA adapters off."""
    if not pairs:
        raise ValueError("preference_tune needs at least one preference pair")
    context = model.config.max_len

    def step_loss(rows: list[int]) -> Tensor:
        chosen, rejected = pair_batches([pairs[r] for r in rows], tokenizer, context)
        with torch.no_grad(), reference_model(model, reference) as frozen:
            reference_chosen, reference_rejected = answer_log_probs(frozen, chosen), answer_log_probs(frozen, rejected)
        policy_chosen, policy_rejected = answer_log_probs(model, chosen), answer_log_probs(model, rejected)
        loss = dpo_loss(policy_chosen, policy_rejected, reference_chosen, reference_rejected, recipe.beta)
        if recipe.nll_weight:  # answer_loss of the preferred answers, from the log-probabilities just computed
            loss = loss - recipe.nll_weight * policy_chosen.sum() / (chosen.targets != IGNORED).sum()
        return loss

    return run_steps(model, recipe, len(pairs), step_loss)


@contextlib.contextmanager
def reference_model(policy: nn.Module, reference: nn.Module | None):
    if reference is None:
        with adapters_disabled(policy) as frozen:
            yield frozen
    else:
        yield reference.eval()


@torch.no_grad()
def greedy_answers(
    model: nn.Module, tokenizer: ChatTokenizer, prompts: list[str], max_new_tokens: int = 20, batch_size: int = 256
) -> list[str]:
    """Each prompt in the chat template, answered greedily: the text up to the model's <|end|>."""
    answers = []
    for start in range(0, len(prompts), batch_size):
        encoded = [tokenizer.encode_turn(p)[0] for p in prompts[start : start + batch_size]]
        answers += [tokenizer.answer_text(row) for row in continue_left_padded(model, encoded, max_new_tokens)]
    return answers


def continue_left_padded(model: nn.Module, prompts: list[list[int]], max_new_tokens: int) -> list[list[int]]:
    """The greedy continuation of every prompt, batched with left padding (each row as if alone)."""
    width = max(len(p) for p in prompts)
    tokens = torch.zeros(len(prompts), width, dtype=torch.long)
    padding = torch.ones(len(prompts), width, dtype=torch.bool)
    for row, prompt in enumerate(prompts):
        tokens[row, width - len(prompt) :] = torch.tensor(prompt)
        padding[row, width - len(prompt) :] = False
    out = generate(model, tokens, max_new_tokens, padding_mask=padding)
    return out[:, width:].tolist()


def exact_match(answers: list[str], expected: list[str]) -> float:
    """Share of answers that equal the expected text exactly."""
    if len(answers) != len(expected):
        raise ValueError(f"{len(answers)} answers for {len(expected)} expected ones")
    return sum(a == e for a, e in zip(answers, expected, strict=True)) / len(expected)


ASSISTANT_ARMS = ("full", "scratch", "lora-r4", "lora-r16", "dpo", "dpo-nll")


def load_assistant(directory, arm: str, seed: int) -> nn.Module:
    """A post-training checkpoint of `tools/train_checkpoints.py`, as trained, in eval mode.

    "full" and "scratch" are whole models; "lora-r4" and "lora-r16" are adapters on the capstone's
    GPT (code-gpt-long), with the three new token rows they trained; "dpo" and
    "dpo-nll" are adapters on the "full" model of the same seed.
    """
    if arm not in ASSISTANT_ARMS:
        raise ValueError(f"unknown arm {arm!r}; choose one of {list(ASSISTANT_ARMS)}")
    directory = Path(directory)
    path = directory / f"assistant-{arm}-seed{seed}.pt"
    if arm in ("full", "scratch"):
        return load_checkpoint(path)[0].float()
    if arm.startswith("lora"):
        base = load_checkpoint(directory / "code-gpt-long.pt")[0].float()
        model = with_new_tokens(base, len(CHAT_TOKENS), torch.Generator().manual_seed(seed))
    else:
        model = load_assistant(directory, "full", seed)
    saved = load_adapters(model, path)
    if "new_token_rows" in saved.get("tensors", {}):  # the LoRA runs also trained the chat tokens' rows
        with torch.no_grad():
            model.input.token_embedding.lookup.weight[-len(CHAT_TOKENS) :] = saved["tensors"]["new_token_rows"]
    return model.eval()

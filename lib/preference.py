"""Direct preference optimization (DPO, Rafailov et al. 2023): learn from "this answer, not that one".

Each example is a prompt x with a preferred answer y_w and a rejected one y_l. With a frozen
reference model (the model before this step) and the model being tuned, the policy, DPO minimizes

    -log sigmoid(beta * [(log pi(y_w|x) - log ref(y_w|x)) - (log pi(y_l|x) - log ref(y_l|x))])

The bracket is how much more the policy raised the preferred answer than the rejected one,
relative to the reference; beta sets how far the policy may drift from the reference to do it.
No reward model and no sampling: the loss needs only log-probabilities of given answers.
"""

from dataclasses import dataclass

import torch.nn.functional as F
from torch import Tensor, nn

from lib.chat import IGNORED, ChatBatch, ChatTokenizer, chat_batch


@dataclass(frozen=True)
class PreferencePair:
    """An instruction with the answer to prefer and the answer to reject."""

    prompt: str
    chosen: str
    rejected: str

    def __post_init__(self):
        if self.chosen == self.rejected:
            raise ValueError(f"a preference pair needs two different answers; both are {self.chosen!r}")


def pair_batches(pairs: list[PreferencePair], tokenizer: ChatTokenizer, context: int) -> tuple[ChatBatch, ChatBatch]:
    """(chosen batch, rejected batch): row k of each is pair k's prompt followed by that answer."""
    chosen = [tokenizer.encode_turn(p.prompt, p.chosen) for p in pairs]
    rejected = [tokenizer.encode_turn(p.prompt, p.rejected) for p in pairs]
    return chat_batch(chosen, tokenizer.pad_id, context), chat_batch(rejected, tokenizer.pad_id, context)


def answer_log_probs(model: nn.Module, batch: ChatBatch) -> Tensor:
    """(batch,): log-probability of each row's whole answer, the sum over its scored tokens."""
    logits = model(batch.tokens, padding_mask=batch.padding_mask)  # (batch, n, vocab)
    scored = batch.targets != IGNORED
    picked = logits.log_softmax(dim=-1).gather(-1, batch.targets.clamp(min=0)[..., None])[..., 0]
    return (picked * scored).sum(dim=1)


def dpo_loss(
    policy_chosen: Tensor, policy_rejected: Tensor, reference_chosen: Tensor, reference_rejected: Tensor, beta: float
) -> Tensor:
    """Mean DPO loss over pairs, from the four (pairs,) answer log-probabilities."""
    if beta <= 0:
        raise ValueError(f"beta must be positive, got {beta}")
    margin = (policy_chosen - reference_chosen) - (policy_rejected - reference_rejected)
    return -F.logsigmoid(beta * margin).mean()

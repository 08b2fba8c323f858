"""Low-rank adaptation (LoRA, Hu et al. 2021): fine-tune a few small matrices beside frozen weights.

A linear layer computes W x + b with W of shape (out, in). LoRA freezes W and b and learns
two small matrices, A (rank, in) and B (out, rank), adding (alpha / rank) * B A x. B starts at
zero, so the adapted model starts exactly as the pretrained one; A starts random (the same
Kaiming-uniform draw as torch's nn.Linear and Hugging Face peft's default). Training updates
rank * (in + out) numbers per layer instead of in * out, and afterwards B A can be added into W
once ("merged"), so the tuned model costs nothing extra to run.
"""

import contextlib
import math

import torch
from torch import Tensor, nn

from lib.validation import check_int, check_positive

LORA_TARGETS = ("in_proj", "out_proj", "linear1", "linear2")  # attention's projections and the feed-forward's


class LoRALinear(nn.Module):
    """A frozen nn.Linear plus a trainable low-rank update; `enabled` False gives the frozen layer alone."""

    def __init__(self, base: nn.Linear, rank: int, alpha: float):
        super().__init__()
        if not isinstance(base, nn.Linear):
            raise TypeError(f"LoRA adapts an nn.Linear, got {type(base).__name__}")
        check_int("rank", rank)
        largest = min(base.in_features, base.out_features)
        if not 1 <= rank <= largest:
            raise ValueError(
                f"rank must be from 1 to {largest} (the smaller side of this {base.out_features} x "
                f"{base.in_features} layer), got {rank}"
            )
        check_positive("alpha", alpha)
        self.base = base.requires_grad_(False)
        self.rank, self.alpha, self.scaling = rank, alpha, alpha / rank
        weight = base.weight
        self.lora_A = nn.Parameter(torch.empty(rank, base.in_features, dtype=weight.dtype, device=weight.device))
        self.lora_B = nn.Parameter(torch.zeros(base.out_features, rank, dtype=weight.dtype, device=weight.device))
        nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))  # nn.Linear's own initialization
        self.enabled = True

    def forward(self, x: Tensor) -> Tensor:  # x (..., in) -> (..., out)
        out = self.base(x)
        if self.enabled:
            out = out + (x @ self.lora_A.T @ self.lora_B.T) * self.scaling
        return out

    @property
    def weight(self) -> Tensor:
        """The effective weight W + (alpha / rank) B A (what `merged` stores)."""
        update = self.lora_B @ self.lora_A * self.scaling if self.enabled else 0
        return self.base.weight + update

    @property
    def bias(self) -> Tensor | None:
        return self.base.bias

    def merged(self) -> nn.Linear:
        """A plain nn.Linear computing the same function: the update added into the weight."""
        layer = nn.Linear(self.base.in_features, self.base.out_features, bias=self.base.bias is not None)
        layer = layer.to(self.base.weight.dtype)
        with torch.no_grad():
            layer.weight.copy_(self.weight)
            if self.base.bias is not None:
                layer.bias.copy_(self.base.bias)
        return layer


def add_lora(model: nn.Module, rank: int, alpha: float | None = None, targets=LORA_TARGETS) -> nn.Module:
    """Freeze every weight of `model` and wrap each nn.Linear named in `targets` in a LoRALinear (in place).

    alpha defaults to 2 * rank (scaling 2). Returns the model; only the adapters' A and B train.
    """
    alpha = 2.0 * rank if alpha is None else alpha
    model.requires_grad_(False)
    chosen = [
        (parent, name)
        for parent in model.modules()
        for name, child in parent.named_children()
        if name in targets and isinstance(child, nn.Linear)
    ]
    if not chosen:
        raise ValueError(f"no nn.Linear named {list(targets)} in this model: nothing to adapt")
    for parent, name in chosen:
        setattr(parent, name, LoRALinear(getattr(parent, name), rank, alpha))
    return model


def lora_layers(model: nn.Module) -> list[LoRALinear]:
    return [module for module in model.modules() if isinstance(module, LoRALinear)]


def merge_lora(model: nn.Module) -> nn.Module:
    """Replace every LoRALinear by its merged nn.Linear (in place): the same outputs, no adapters left."""
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, LoRALinear):
                setattr(parent, name, child.merged())
    return model


@contextlib.contextmanager
def adapters_disabled(model: nn.Module):
    """Run `model` as the frozen pretrained weights alone (DPO's reference model is this, for free)."""
    layers = lora_layers(model)
    if not layers:
        raise ValueError("this model has no LoRA adapters to disable")
    for layer in layers:
        layer.enabled = False
    try:
        yield model
    finally:
        for layer in layers:
            layer.enabled = True


def adapter_state(model: nn.Module) -> dict[str, Tensor]:
    """Only the adapters' tensors (what a LoRA checkpoint needs to store beside the base model)."""
    return {name: value for name, value in model.state_dict().items() if ".lora_" in name}


def trainable_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in {id(p): p for p in model.parameters() if p.requires_grad}.values())


def save_adapters(
    model: nn.Module, path, recipe: dict, extra: dict | None = None, tensors: dict[str, Tensor] | None = None
) -> None:
    """Store only the adapters (in float16, as the page would ship them) with their rank, alpha and recipe.

    `tensors`: other trained tensors the adapters need (such as new token rows), stored beside them.
    """
    layers = lora_layers(model)
    if not layers:
        raise ValueError("this model has no LoRA adapters to save")
    adapters = {name: value.detach().half() for name, value in adapter_state(model).items()}
    saved = {"adapters": adapters, "rank": layers[0].rank, "alpha": layers[0].alpha, "recipe": dict(recipe)}
    other = {name: value.detach().half() for name, value in (tensors or {}).items()}
    torch.save({**saved, "tensors": other, "extra": dict(extra or {})}, path)


def load_adapters(model: nn.Module, path) -> dict:
    """Add the saved adapters to `model` (the base they were trained on) in place; returns the saved info."""
    saved = torch.load(path, weights_only=True, map_location="cpu")
    add_lora(model, saved["rank"], saved["alpha"])
    dtype = next(model.parameters()).dtype
    missing = model.load_state_dict({k: v.to(dtype) for k, v in saved["adapters"].items()}, strict=False)
    wrong = [k for k in missing.missing_keys if ".lora_" in k] + list(missing.unexpected_keys)
    if wrong:
        raise ValueError(f"{path}: the adapters do not fit this model: {sorted(wrong)[:4]}")
    return saved

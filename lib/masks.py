"""Masks say which positions a query may not look at.

The convention is PyTorch's (`torch.nn.Transformer`): a boolean mask is `True` where
attention is *blocked*; a float mask is added to the scores (`-inf` blocks).
"""

import torch
from torch import Tensor


def causal_mask(length: int, device: torch.device | None = None, offset: int = 0) -> Tensor:
    """(length, offset + length) bool mask, True where a query would see its future.

    Query i stands at position offset + i and may see keys 0 .. offset + i. With offset 0 this
    is the square mask, True above the diagonal; offset > 0 is for queries that follow
    `offset` cached keys during step-by-step decoding.
    """
    ones = torch.ones(length, offset + length, dtype=torch.bool, device=device)
    return torch.triu(ones, diagonal=offset + 1)


def add_causal(attn_mask: Tensor | None, length: int, device: torch.device | None = None, offset: int = 0) -> Tensor:
    """`attn_mask` with the future blocked as well, in the mask's own form (bool or additive)."""
    causal = causal_mask(length, device=device, offset=offset)
    if attn_mask is None:
        return causal
    if attn_mask.dtype == torch.bool:
        return attn_mask | causal
    return attn_mask.masked_fill(causal, float("-inf"))


def padding_mask(tokens: Tensor, pad_id: int) -> Tensor:
    """(batch, seq) bool mask, True where the token is padding."""
    return tokens == pad_id


def check_attn_mask(mask: Tensor, seq_q: int, seq_k: int, batch: int, num_heads: int) -> None:
    """Raise a clear error if `mask` is not a usable (seq_q, seq_k) or (batch*heads, ...) mask."""
    check_mask_values(mask, "attn_mask")
    allowed = [(seq_q, seq_k), (batch * num_heads, seq_q, seq_k), (batch, num_heads, seq_q, seq_k)]
    if tuple(mask.shape) not in allowed:
        raise ValueError(
            f"attn_mask has shape {tuple(mask.shape)}, expected (seq_q, seq_k) = {(seq_q, seq_k)}, "
            f"(batch*heads, seq_q, seq_k) or (batch, heads, seq_q, seq_k)"
        )


def check_key_padding_mask(mask: Tensor, batch: int, seq_k: int) -> None:
    """Raise a clear error if `mask` is not a (batch, seq_k) mask."""
    check_mask_values(mask, "key_padding_mask")
    if tuple(mask.shape) != (batch, seq_k):
        raise ValueError(f"key_padding_mask has shape {tuple(mask.shape)}, expected (batch, seq_k) = {(batch, seq_k)}")


def check_mask_values(mask: Tensor, name: str) -> None:
    """Masks are bool or floating point; a NaN in a float mask would silently poison the output."""
    if not isinstance(mask, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(mask).__name__}")
    if mask.dtype != torch.bool and not mask.is_floating_point():
        raise TypeError(f"{name} must be bool (True = blocked) or float (added to scores), got {mask.dtype}")
    if mask.is_floating_point() and torch.isnan(mask).any():
        raise ValueError(f"{name} contains NaN; use -inf to block a position")


def as_additive(mask: Tensor, dtype: torch.dtype) -> Tensor:
    """A float mask to add to attention scores: 0 where allowed, -inf where blocked."""
    if mask.dtype == torch.bool:
        return torch.zeros(mask.shape, dtype=dtype, device=mask.device).masked_fill(mask, float("-inf"))
    return mask.to(dtype)


def combine_masks(
    attn_mask: Tensor | None,
    key_padding_mask: Tensor | None,
    batch: int,
    num_heads: int,
    seq_q: int,
    seq_k: int,
    dtype: torch.dtype,
) -> Tensor | None:
    """Merge an attention mask and a key-padding mask into one additive (batch, heads|1, q, k) mask."""
    combined = None
    if attn_mask is not None:
        combined = as_additive(attn_mask, dtype)
        if combined.dim() == 3:  # (batch*heads, q, k)
            combined = combined.view(batch, num_heads, seq_q, seq_k)
    if key_padding_mask is not None:
        padding = as_additive(key_padding_mask, dtype)[:, None, None, :]  # (batch, 1, 1, k)
        combined = padding if combined is None else combined + padding
    return combined

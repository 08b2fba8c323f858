"""Scaled dot-product attention and multi-head attention (Vaswani et al. 2017, section 3.2).

    Attention(Q, K, V) = softmax(Q K^T / sqrt(d_k)) V

Each query takes a weighted average of the values; the weights say how well the query
matches each key. `MultiHeadAttention` runs several such averages side by side on
d_model / num_heads dimensions each and mixes the results with one more linear map.

Grouped-query attention (Ainslie et al. 2023) lets several query heads share one key/value
head: with `num_kv_heads` < `num_heads` the keys and values, and so the cache a decoder keeps
of them, shrink by the factor num_heads / num_kv_heads. `num_kv_heads=1` is multi-query
attention (Shazeer 2019).
"""

import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from lib.masks import add_causal, as_additive, check_attn_mask, check_key_padding_mask, combine_masks
from lib.validation import check_positive_int, check_probability


def scaled_dot_product_attention(
    query: Tensor,
    key: Tensor,
    value: Tensor,
    mask: Tensor | None = None,
    dropout: float = 0.0,
) -> tuple[Tensor, Tensor]:
    """softmax(Q K^T / sqrt(d_k) + mask) V, returning the output and the attention weights.

    query (..., seq_q, d_k), key (..., seq_k, d_k), value (..., seq_k, d_v).
    `mask` is additive (0 allows, -inf blocks) or bool (True blocks), broadcastable to
    (..., seq_q, seq_k). A query whose keys are all blocked attends to nothing: its
    weights and output are zero rather than NaN.
    """
    d_k = query.size(-1)
    scores = query @ key.transpose(-2, -1) / math.sqrt(d_k)  # (..., seq_q, seq_k)
    fully_masked = None
    if mask is not None:
        mask, fully_masked = _unblock_fully_masked_rows(mask, scores.dtype)
        scores = scores + mask
    weights = torch.softmax(scores, dim=-1)
    if fully_masked is not None:
        weights = weights.masked_fill(fully_masked, 0.0)
    if dropout > 0.0:
        weights = F.dropout(weights, p=dropout)
    return weights @ value, weights  # (..., seq_q, d_v), (..., seq_q, seq_k)


def _unblock_fully_masked_rows(mask: Tensor, dtype: torch.dtype) -> tuple[Tensor, Tensor]:
    """An additive mask in which rows that block every key are opened (to avoid 0/0 = NaN),
    and a bool (..., seq_q, 1) marking those rows so the caller can zero them afterwards."""
    mask = as_additive(mask, dtype)
    fully_masked = torch.isneginf(mask).all(dim=-1, keepdim=True)
    return mask.masked_fill(fully_masked, 0.0), fully_masked


@dataclass
class KeyValueCache:
    """Keys and values (batch, heads, seen, head_dim) that one attention module already computed.

    When a decoder generates one token at a time, the keys and values of earlier tokens do not
    change, so they are kept here instead of recomputed. Self-attention appends each new
    step's keys and values. Cross-attention's keys and values come from the encoder's memory;
    they are computed once and marked `frozen` (read, never appended to).
    """

    keys: Tensor | None = None
    values: Tensor | None = None
    frozen: bool = False
    # Room for later steps: `keys` and `values` are views of the first `length` positions of these
    # buffers, which double when full, so a step writes one position instead of copying them all.
    _key_buffer: Tensor | None = field(default=None, repr=False)
    _value_buffer: Tensor | None = field(default=None, repr=False)

    @property
    def length(self) -> int:
        """How many positions are cached."""
        return 0 if self.keys is None else self.keys.size(2)

    def append(self, keys: Tensor, values: Tensor) -> tuple[Tensor, Tensor]:
        """Add the newest positions' keys and values (batch, heads, new, head_dim); return all cached so far."""
        if self.frozen:
            raise RuntimeError("this cache holds the encoder memory's keys and values and cannot grow")
        if self.keys is not None and keys.size(0) != self.keys.size(0):
            raise ValueError(f"the cache holds a batch of {self.keys.size(0)} but the new step has {keys.size(0)}")
        start, end = self.length, self.length + keys.size(2)
        if self._key_buffer is None or end > self._key_buffer.size(2):
            self._grow(keys, values, capacity=max(end, 2 * start, 16))
        self._key_buffer[:, :, start:end] = keys
        self._value_buffer[:, :, start:end] = values
        self.keys, self.values = self._key_buffer[:, :, :end], self._value_buffer[:, :, :end]
        return self.keys, self.values

    def _grow(self, keys: Tensor, values: Tensor, capacity: int) -> None:
        batch, heads, _, head_dim = keys.shape
        key_buffer = keys.new_empty(batch, heads, capacity, head_dim)
        value_buffer = values.new_empty(batch, heads, capacity, values.size(-1))
        if self.keys is not None:
            key_buffer[:, :, : self.length] = self.keys
            value_buffer[:, :, : self.length] = self.values
        self._key_buffer, self._value_buffer = key_buffer, value_buffer

    def select(self, rows: Tensor) -> "KeyValueCache":
        """A cache for the given batch rows (beam search reorders and repeats hypotheses)."""
        if self.keys is None:
            return KeyValueCache(frozen=self.frozen)
        return KeyValueCache(self.keys.index_select(0, rows), self.values.index_select(0, rows), self.frozen)


def check_rotary(rotary: nn.Module | None, head_dim: int) -> None:
    """`rotary` is None or a module that rotates heads of `head_dim` dimensions."""
    if rotary is None:
        return
    if not isinstance(rotary, nn.Module):
        raise ValueError(f"rotary must be a module (a RotaryEmbedding) or None, got {type(rotary).__name__}")
    rotary_dim = getattr(rotary, "head_dim", head_dim)
    if rotary_dim != head_dim:
        raise ValueError(f"rotary rotates heads of {rotary_dim} dimensions, but this attention's heads have {head_dim}")


class MultiHeadAttention(nn.Module):
    """Multi-head attention for self-attention (`key_value=None`) and cross-attention.

    The query, key and value projections are stored as one (3 d_model, d_model) matrix,
    laid out like `torch.nn.MultiheadAttention.in_proj_weight`, so self-attention needs one
    matrix multiply for all three. With `num_kv_heads` key/value heads the key and value parts
    have num_kv_heads * head_dim rows each, and each serves num_heads / num_kv_heads query heads.
    Without `need_weights` the fast path calls `torch.nn.functional.scaled_dot_product_attention`;
    with it, the explicit function above.
    `rotary` (a `RotaryEmbedding`, for self-attention) rotates queries and keys by their positions.
    `num_kv_heads` None means one key/value head per query head.
    """

    def __init__(
        self,
        d_model: int,
        num_heads: int,
        dropout: float = 0.0,
        rotary: nn.Module | None = None,
        num_kv_heads: int | None = None,
        bias: bool = True,
    ):
        super().__init__()
        check_positive_int("d_model", d_model)
        check_positive_int("num_heads", num_heads)
        if d_model % num_heads != 0:
            raise ValueError(f"d_model ({d_model}) must be divisible by num_heads ({num_heads})")
        num_kv_heads = num_heads if num_kv_heads is None else num_kv_heads
        check_positive_int("num_kv_heads", num_kv_heads)
        if num_heads % num_kv_heads != 0:
            raise ValueError(f"num_heads ({num_heads}) must be divisible by num_kv_heads ({num_kv_heads})")
        check_probability("dropout", dropout)
        if not isinstance(bias, bool):
            raise ValueError(f"bias must be True or False, got {bias!r}")
        check_rotary(rotary, d_model // num_heads)
        self.d_model = d_model
        self.num_heads = num_heads
        self.num_kv_heads = num_kv_heads
        self.head_dim = d_model // num_heads
        self.kv_dim = num_kv_heads * self.head_dim  # width of the keys (and of the values)
        self.dropout = dropout
        self.in_proj = nn.Linear(d_model, d_model + 2 * self.kv_dim, bias=bias)  # rows: [W_Q; W_K; W_V]
        self.out_proj = nn.Linear(d_model, d_model, bias=bias)  # W_O
        self.rotary = rotary

    def forward(
        self,
        query: Tensor,
        key_value: Tensor | None = None,
        *,
        attn_mask: Tensor | None = None,
        key_padding_mask: Tensor | None = None,
        is_causal: bool = False,
        need_weights: bool = False,
        cache: KeyValueCache | None = None,
    ) -> tuple[Tensor, Tensor | None]:
        """query (batch, seq_q, d_model); key_value (batch, seq_k, d_model) or None for self-attention.

        Returns the output (batch, seq_q, d_model) and, if `need_weights`, the weights
        (batch, heads, seq_q, seq_k); otherwise None. With a `cache`, self-attention adds this
        call's keys and values to it and attends over everything cached (the queries stand at
        positions cache.length, ...); a frozen cache supplies cross-attention's keys and values.
        """
        self._check_inputs(query, key_value)
        batch, seq_q, _ = query.shape
        if cache is not None and cache.frozen:  # cross-attention over a memory projected once
            if cache.keys is None:
                raise ValueError("a frozen cache must hold the memory's keys and values (see memory_cache)")
            if cache.keys.size(0) != batch:
                raise ValueError(f"the cache holds a batch of {cache.keys.size(0)} but the query has {batch}")
            q, k, v = self._project_query(query), cache.keys, cache.values
        else:
            offset = 0 if cache is None else cache.length  # positions already cached
            q, k, v = self._project(query, key_value)  # each (batch, heads, seq, head_dim)
            if self.rotary is not None:
                q, k = self.rotary(q, offset), self.rotary(k, offset)
            if cache is not None:
                k, v = cache.append(k, v)  # (batch, kv heads, offset + seq_q, head_dim)
        k, v = self._share_kv_heads(k), self._share_kv_heads(v)  # (batch, heads, seq_k, head_dim)
        seq_k = k.size(2)
        if attn_mask is not None:
            check_attn_mask(attn_mask, seq_q, seq_k, batch, self.num_heads)
        if key_padding_mask is not None:
            check_key_padding_mask(key_padding_mask, batch, seq_k)
        offset = seq_k - seq_q  # cached keys before the first query (0 without a cache)
        if is_causal and seq_q == 1:
            is_causal = False  # the newest single query may see every key so far

        dropout = self.dropout if self.training else 0.0
        if is_causal and offset == 0 and attn_mask is None and key_padding_mask is None and not need_weights:
            out = F.scaled_dot_product_attention(q, k, v, dropout_p=dropout, is_causal=True)
            weights = None
        else:
            if is_causal:
                attn_mask = add_causal(attn_mask, seq_q, query.device, offset)
            mask = combine_masks(attn_mask, key_padding_mask, batch, self.num_heads, seq_q, seq_k, q.dtype)
            if need_weights:
                out, weights = scaled_dot_product_attention(q, k, v, mask, dropout)
            else:
                out, weights = self._fast_attention(q, k, v, mask, dropout), None
        out = out.transpose(1, 2).reshape(batch, seq_q, self.d_model)  # concatenate heads
        return self.out_proj(out), weights

    def _project(self, query: Tensor, key_value: Tensor | None) -> tuple[Tensor, Tensor, Tensor]:
        if key_value is None:  # self-attention: one fused projection
            q, k, v = self.in_proj(query).split([self.d_model, self.kv_dim, self.kv_dim], dim=-1)
        else:  # cross-attention: queries from one sequence, keys and values from another
            q = self._project_rows(query, 0, self.d_model)
            k, v = self._project_rows(key_value, self.d_model, self.d_model + 2 * self.kv_dim).chunk(2, dim=-1)
        return self._split_heads(q), self._split_heads(k), self._split_heads(v)

    def _project_rows(self, x: Tensor, start: int, end: int) -> Tensor:
        """x times the rows start:end of the fused projection (the query part, or the key and value parts)."""
        bias = None if self.in_proj.bias is None else self.in_proj.bias[start:end]
        return F.linear(x, self.in_proj.weight[start:end], bias)

    def _project_query(self, query: Tensor) -> Tensor:
        return self._split_heads(self._project_rows(query, 0, self.d_model))  # (batch, heads, seq_q, head_dim)

    def memory_cache(self, memory: Tensor) -> KeyValueCache:
        """Cross-attention's keys and values for `memory` (batch, src, d_model), computed once for decoding."""
        self._check_inputs(memory, None)
        k, v = self._project_rows(memory, self.d_model, self.d_model + 2 * self.kv_dim).chunk(2, dim=-1)
        return KeyValueCache(self._split_heads(k), self._split_heads(v), frozen=True)

    def _split_heads(self, x: Tensor) -> Tensor:
        """(batch, seq, heads * head_dim) -> (batch, heads, seq, head_dim), for query or key/value heads."""
        batch, seq, width = x.shape
        return x.view(batch, seq, width // self.head_dim, self.head_dim).transpose(1, 2)

    def _share_kv_heads(self, x: Tensor) -> Tensor:
        """(batch, kv heads, seq, head_dim) -> (batch, heads, seq, head_dim): query head h reads kv head h // group."""
        group = self.num_heads // self.num_kv_heads
        return x if group == 1 else x.repeat_interleave(group, dim=1)

    @staticmethod
    def _fast_attention(q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None, dropout: float) -> Tensor:
        if mask is None:
            return F.scaled_dot_product_attention(q, k, v, dropout_p=dropout)
        mask, fully_masked = _unblock_fully_masked_rows(mask, q.dtype)  # fully_masked: (batch, heads|1, q, 1)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout)
        return out.masked_fill(fully_masked, 0.0)

    def _check_inputs(self, query: Tensor, key_value: Tensor | None) -> None:
        for name, x in (("query", query), ("key_value", key_value)):
            if x is None:
                continue
            if x.dim() != 3:
                raise ValueError(
                    f"{name} must have shape (batch, seq, d_model), got {x.dim()} dimensions {tuple(x.shape)}"
                )
            if x.size(-1) != self.d_model:
                raise ValueError(f"{name} has last dimension {x.size(-1)}, expected d_model = {self.d_model}")
            if x.size(1) == 0:
                raise ValueError(f"{name} is an empty sequence (length 0)")
        if key_value is not None and key_value.size(0) != query.size(0):
            raise ValueError(f"query has batch size {query.size(0)} but key_value has {key_value.size(0)}")

"""Attention computed tile by tile with an online softmax: the algorithm behind FlashAttention.

Exact attention builds the (seq_q, seq_k) score matrix, softmaxes each row and multiplies by the
values. Its extra memory grows as seq_q * seq_k. The tiled version (Milakov & Gimelshein 2018;
Rabe & Staats 2021; Dao et al. 2022) reads the keys and values a block at a time and keeps, per
query, three running quantities:

- `running_max`  m: the largest score seen so far,
- `running_sum`  l: the sum of exp(score - m) over the keys seen so far,
- `accumulator`  a: the sum of exp(score - m) * value over the keys seen so far.

When a new block raises the maximum from m to m', everything summed so far was computed against
the old maximum; multiplying l and a by exp(m - m') rescales them to the new one. After the last
block, a / l is exactly softmax(scores) @ values. The score matrix never exists in full: the
largest intermediate is one (seq_q, block) tile.

`AllocationTracker` measures that claim: it watches every tensor torch creates inside a block of
code and records their total and largest size, and the peak of those alive at once.
"""

import math
import weakref

import torch
from torch import Tensor
from torch.utils._python_dispatch import TorchDispatchMode


def check_attention_inputs(query: Tensor, key: Tensor, value: Tensor, key_padding_mask: Tensor | None) -> None:
    """Clear errors for shapes and masks that would otherwise fail deep inside a matrix multiply."""
    if query.dim() != 4 or key.dim() != 4 or value.dim() != 4:
        shapes = tuple(query.shape), tuple(key.shape), tuple(value.shape)
        raise ValueError(f"query, key and value must be (batch, heads, seq, head_dim), got shapes {shapes}")
    if key.shape[:-1] != value.shape[:-1]:
        raise ValueError(f"key {tuple(key.shape)} and value {tuple(value.shape)} must agree up to the last dimension")
    if query.size(-1) != key.size(-1) or query.shape[:2] != key.shape[:2]:
        raise ValueError(f"query {tuple(query.shape)} and key {tuple(key.shape)} must share batch, heads and head_dim")
    if key_padding_mask is not None:
        if key_padding_mask.dtype != torch.bool:
            raise ValueError(f"key_padding_mask must be bool (True = padded), got {key_padding_mask.dtype}")
        if key_padding_mask.shape != (key.size(0), key.size(2)):
            raise ValueError(
                f"key_padding_mask must have shape (batch, seq_k) = {(key.size(0), key.size(2))}, "
                f"got {tuple(key_padding_mask.shape)}"
            )


def tiled_attention(
    query: Tensor,
    key: Tensor,
    value: Tensor,
    *,
    is_causal: bool = False,
    key_padding_mask: Tensor | None = None,
    block_size: int = 64,
) -> Tensor:
    """softmax(Q K^T / sqrt(d_k)) V without ever forming the full score matrix.

    query (batch, heads, seq_q, d_k), key (batch, heads, seq_k, d_k), value (batch, heads, seq_k, d_v);
    `key_padding_mask` (batch, seq_k) is True at padded keys; `is_causal` lets query i see keys
    0..i + (seq_k - seq_q) (the queries are the last seq_q positions, as when decoding with a cache).
    A query that may see no key at all gets a zero output, as lib's `scaled_dot_product_attention`.
    Returns (batch, heads, seq_q, d_v).
    """
    check_attention_inputs(query, key, value, key_padding_mask)
    if block_size < 1:
        raise ValueError(f"block_size must be positive, got {block_size}")
    batch, heads, seq_q, d_k = query.shape
    seq_k = key.size(2)
    scale = 1.0 / math.sqrt(d_k)
    running_max = query.new_full((batch, heads, seq_q, 1), -math.inf)  # m
    running_sum = query.new_zeros((batch, heads, seq_q, 1))  # l
    accumulator = query.new_zeros((batch, heads, seq_q, value.size(-1)))  # a
    query_positions = torch.arange(seq_k - seq_q, seq_k, device=query.device)[:, None]  # (seq_q, 1)
    for start in range(0, seq_k, block_size):
        stop = min(start + block_size, seq_k)
        scores = (query @ key[:, :, start:stop].transpose(-2, -1)) * scale  # (batch, heads, seq_q, block)
        blocked = block_mask(query_positions, start, stop, is_causal, key_padding_mask)
        if blocked is not None:
            scores = scores.masked_fill(blocked, -math.inf)
        block_max = scores.amax(dim=-1, keepdim=True)  # (batch, heads, seq_q, 1)
        new_max = torch.maximum(running_max, block_max)
        safe_max = new_max.masked_fill(torch.isneginf(new_max), 0.0)  # rows that have seen no key yet
        rescale = torch.exp(running_max - safe_max)  # exp(m - m'): brings old sums to the new maximum
        probabilities = torch.exp(scores - safe_max)  # (batch, heads, seq_q, block), unnormalized
        running_sum = running_sum * rescale + probabilities.sum(dim=-1, keepdim=True)
        accumulator = accumulator * rescale + probabilities @ value[:, :, start:stop]
        running_max = new_max
    return accumulator / running_sum.clamp_min(torch.finfo(query.dtype).tiny)  # 0 / tiny = 0 for unseeing rows


def block_mask(
    query_positions: Tensor, start: int, stop: int, is_causal: bool, key_padding_mask: Tensor | None
) -> Tensor | None:
    """True where a query may not see a key of block [start, stop); broadcastable to (batch, heads, seq_q, block)."""
    blocked = None
    if is_causal:
        key_positions = torch.arange(start, stop, device=query_positions.device)[None, :]  # (1, block)
        blocked = key_positions > query_positions  # (seq_q, block)
    if key_padding_mask is not None:
        padded = key_padding_mask[:, None, None, start:stop]  # (batch, 1, 1, block)
        blocked = padded if blocked is None else blocked | padded
    return blocked


def exact_attention(
    query: Tensor, key: Tensor, value: Tensor, *, is_causal: bool = False, key_padding_mask: Tensor | None = None
) -> Tensor:
    """The textbook computation, score matrix and all, with the same mask conventions as `tiled_attention`."""
    check_attention_inputs(query, key, value, key_padding_mask)
    seq_q, seq_k = query.size(2), key.size(2)
    scores = query @ key.transpose(-2, -1) / math.sqrt(query.size(-1))  # (batch, heads, seq_q, seq_k)
    query_positions = torch.arange(seq_k - seq_q, seq_k, device=query.device)[:, None]
    blocked = block_mask(query_positions, 0, seq_k, is_causal, key_padding_mask)
    if blocked is not None:
        scores = scores.masked_fill(blocked, -math.inf)
    row_max = scores.amax(dim=-1, keepdim=True)
    weights = torch.exp(scores - row_max.masked_fill(torch.isneginf(row_max), 0.0))
    return (weights / weights.sum(dim=-1, keepdim=True).clamp_min(torch.finfo(query.dtype).tiny)) @ value


class AllocationTracker(TorchDispatchMode):
    """Records every tensor created by torch operations run inside `with tracker:`.

    `total_bytes`: everything allocated; `largest_bytes`: the largest single tensor;
    `peak_bytes`: the most bytes held at one time by tensors created inside the block (a tensor
    counts until Python frees it). Views share memory with their base and are not counted.
    """

    def __init__(self) -> None:
        super().__init__()
        self.total_bytes = 0
        self.largest_bytes = 0
        self.peak_bytes = 0
        self.live_bytes = 0
        self._live_storages: set[int] = set()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        result = func(*args, **(kwargs or {}))
        outputs = result if isinstance(result, (tuple, list)) else (result,)
        for output in outputs:
            if isinstance(output, Tensor) and not output._is_view():
                self._record(output)
        return result

    def _record(self, tensor: Tensor) -> None:
        storage = tensor.untyped_storage()
        if storage.data_ptr() in self._live_storages or storage.nbytes() == 0:
            return  # an in-place result already counted, or nothing allocated
        size = storage.nbytes()
        self._live_storages.add(storage.data_ptr())
        self.total_bytes += size
        self.largest_bytes = max(self.largest_bytes, size)
        self.live_bytes += size
        self.peak_bytes = max(self.peak_bytes, self.live_bytes)
        weakref.finalize(tensor, self._release, storage.data_ptr(), size)

    def _release(self, storage_pointer: int, size: int) -> None:
        self.live_bytes -= size
        self._live_storages.discard(storage_pointer)

import pytest
import torch

from lib.attention import scaled_dot_product_attention
from lib.flash_attention import AllocationTracker, exact_attention, tiled_attention


def random_qkv(batch=2, heads=3, seq_q=37, seq_k=37, d_k=8, dtype=torch.float64, seed=0):
    generator = torch.Generator().manual_seed(seed)
    shape_q, shape_k = (batch, heads, seq_q, d_k), (batch, heads, seq_k, d_k)
    query = torch.randn(shape_q, generator=generator, dtype=dtype)
    key = torch.randn(shape_k, generator=generator, dtype=dtype)
    return query, key, torch.randn(shape_k, generator=generator, dtype=dtype)


@pytest.mark.parametrize("block_size", [1, 5, 16, 64])
@pytest.mark.parametrize("is_causal", [False, True])
def test_tiled_attention_equals_lib_attention_in_float64_with_causal_mask_and_padding(block_size, is_causal):
    query, key, value = random_qkv()
    padding = torch.zeros(2, 37, dtype=torch.bool)
    padding[1, 30:] = True
    blocked = padding[:, None, None, :]
    if is_causal:
        blocked = blocked | torch.ones(37, 37, dtype=torch.bool).triu(1)
    expected, _ = scaled_dot_product_attention(query, key, value, blocked)
    tiled = tiled_attention(query, key, value, is_causal=is_causal, key_padding_mask=padding, block_size=block_size)
    torch.testing.assert_close(tiled, expected, rtol=0, atol=1e-12)
    torch.testing.assert_close(exact_attention(query, key, value, is_causal=is_causal, key_padding_mask=padding),
                               expected, rtol=0, atol=1e-12)  # fmt: skip


def test_causal_queries_after_a_cache_see_every_earlier_key():
    query, key, value = random_qkv(seq_q=4, seq_k=20)
    full_query = torch.cat([random_qkv(seq_q=16, seq_k=20, seed=1)[0], query], dim=2)
    full = exact_attention(full_query, key, value, is_causal=True)
    torch.testing.assert_close(tiled_attention(query, key, value, is_causal=True, block_size=3), full[:, :, 16:])


def test_a_query_that_sees_no_key_gets_zeros_not_nan():
    query, key, value = random_qkv(batch=1, seq_q=5, seq_k=5)
    out = tiled_attention(query, key, value, key_padding_mask=torch.ones(1, 5, dtype=torch.bool), block_size=2)
    assert torch.equal(out, torch.zeros_like(out))


def test_extra_memory_grows_linearly_for_tiled_and_quadratically_for_exact_attention():
    peaks = {"tiled": [], "exact": []}
    for n in (256, 512, 1024):
        query, key, value = random_qkv(batch=1, heads=1, seq_q=n, seq_k=n, d_k=16, dtype=torch.float32)
        for name, attention in (("tiled", tiled_attention), ("exact", exact_attention)):
            tracker = AllocationTracker()
            with tracker:
                attention(query, key, value, is_causal=True)
            peaks[name].append(tracker.peak_bytes)
    tiled_growth = peaks["tiled"][2] / peaks["tiled"][0]
    exact_growth = peaks["exact"][2] / peaks["exact"][0]
    assert 3.5 < tiled_growth < 4.5  # 4x the length: about 4x the memory
    assert 14 < exact_growth < 17  # about 16x


def test_allocation_tracker_counts_a_new_tensor_once_and_ignores_views():
    x = torch.zeros(10, 10)
    tracker = AllocationTracker()
    with tracker:
        y = x + 1  # 400 bytes
        y.t()  # a view
        y.add_(1)  # in place
    assert (tracker.total_bytes, tracker.largest_bytes, tracker.peak_bytes) == (400, 400, 400)


def test_bad_inputs_get_clear_errors():
    query, key, value = random_qkv()
    with pytest.raises(ValueError, match="batch, heads, seq, head_dim"):
        tiled_attention(query[0], key[0], value[0])
    with pytest.raises(ValueError, match="key_padding_mask must have shape"):
        tiled_attention(query, key, value, key_padding_mask=torch.zeros(2, 5, dtype=torch.bool))
    with pytest.raises(ValueError, match="must be bool"):
        tiled_attention(query, key, value, key_padding_mask=torch.zeros(2, 37))
    with pytest.raises(ValueError, match="block_size"):
        tiled_attention(query, key, value, block_size=0)

"""Scaled dot-product and multi-head attention: correct, equal to PyTorch's, and safe with masks."""

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from lib.attention import KeyValueCache, MultiHeadAttention, scaled_dot_product_attention
from lib.masks import causal_mask
from lib.positional import RotaryEmbedding


def test_scaled_dot_product_matches_the_formula_and_torch():
    q, k, v = torch.randn(2, 5, 8), torch.randn(2, 7, 8), torch.randn(2, 7, 3)
    out, weights = scaled_dot_product_attention(q, k, v)
    by_hand = torch.softmax(q @ k.transpose(1, 2) / math.sqrt(8), dim=-1) @ v
    torch.testing.assert_close(out, by_hand)
    torch.testing.assert_close(out, F.scaled_dot_product_attention(q, k, v))
    torch.testing.assert_close(weights.sum(-1), torch.ones(2, 5))


def test_bool_and_additive_masks_agree():
    q = k = v = torch.randn(1, 4, 6)
    blocked = causal_mask(4)
    additive = torch.zeros(4, 4).masked_fill(blocked, float("-inf"))
    torch.testing.assert_close(
        scaled_dot_product_attention(q, k, v, blocked), scaled_dot_product_attention(q, k, v, additive)
    )


def test_fully_masked_rows_give_zeros_not_nan_forward_and_backward():
    q, k, v = (torch.randn(1, 3, 4, requires_grad=True) for _ in range(3))
    mask = torch.tensor([[False, False, False], [True, True, True], [False, True, True]])
    out, weights = scaled_dot_product_attention(q, k, v, mask)
    assert not torch.isnan(out).any()
    assert torch.equal(weights[0, 1], torch.zeros(3))
    out.sum().backward()
    assert all(torch.isfinite(t.grad).all() for t in (q, k, v))


def test_multi_head_fully_masked_rows_fast_and_explicit_paths():
    attention = MultiHeadAttention(8, 2)
    x = torch.randn(2, 3, 8)
    padding = torch.tensor([[False, False, False], [True, True, True]])
    fast, _ = attention(x, key_padding_mask=padding)
    explicit, _ = attention(x, key_padding_mask=padding, need_weights=True)
    assert not torch.isnan(fast).any()
    torch.testing.assert_close(fast, explicit)


def reference_attention(ours: MultiHeadAttention) -> nn.MultiheadAttention:
    reference = nn.MultiheadAttention(ours.d_model, ours.num_heads, batch_first=True)
    reference.in_proj_weight.data.copy_(ours.in_proj.weight)
    reference.in_proj_bias.data.copy_(ours.in_proj.bias)
    reference.out_proj.load_state_dict(ours.out_proj.state_dict())
    return reference


@pytest.mark.parametrize("need_weights", [False, True])
def test_self_attention_equals_torch_multihead_attention(need_weights):
    ours = MultiHeadAttention(16, 4)
    reference = reference_attention(ours)
    x = torch.randn(3, 6, 16)
    padding = torch.zeros(3, 6, dtype=torch.bool)
    padding[1, 4:] = True
    out, weights = ours(x, key_padding_mask=padding, attn_mask=causal_mask(6), need_weights=need_weights)
    expected, expected_weights = reference(
        x, x, x, key_padding_mask=padding, attn_mask=causal_mask(6), average_attn_weights=False
    )
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=1e-5)
    if need_weights:
        torch.testing.assert_close(weights, expected_weights, atol=1e-5, rtol=1e-5)


def test_cross_attention_equals_torch_multihead_attention():
    ours = MultiHeadAttention(16, 2)
    reference = reference_attention(ours)
    query, memory = torch.randn(2, 3, 16), torch.randn(2, 9, 16)
    out, _ = ours(query, memory)
    expected, _ = reference(query, memory, memory)
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("is_causal", [False, True])
def test_fast_path_equals_explicit_path(is_causal):
    attention = MultiHeadAttention(12, 3)
    x = torch.randn(2, 5, 12)
    fast, none = attention(x, is_causal=is_causal)
    explicit, weights = attention(x, is_causal=is_causal, need_weights=True)
    assert none is None and weights.shape == (2, 3, 5, 5)
    torch.testing.assert_close(fast, explicit, atol=1e-6, rtol=1e-5)


def test_self_attention_without_positions_is_permutation_equivariant():
    attention = MultiHeadAttention(8, 2)
    x = torch.randn(1, 6, 8)
    permutation = torch.randperm(6)
    out, _ = attention(x)
    permuted_out, _ = attention(x[:, permutation])
    torch.testing.assert_close(permuted_out, out[:, permutation])


def test_gradcheck_in_float64():
    attention = MultiHeadAttention(4, 2).double()
    x = torch.randn(1, 3, 4, dtype=torch.float64, requires_grad=True)
    memory = torch.randn(1, 2, 4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, b: attention(a, b, need_weights=True)[0], (x, memory))
    assert torch.autograd.gradcheck(lambda a: attention(a, is_causal=True)[0], (x,))


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda a: a(torch.randn(5, 8)), "must have shape \\(batch, seq, d_model\\)"),
        (lambda a: a(torch.randn(2, 5, 6)), "expected d_model = 8"),
        (lambda a: a(torch.randn(2, 0, 8)), "empty sequence"),
        (lambda a: a(torch.randn(2, 5, 8), torch.randn(3, 4, 8)), "batch size 2 but key_value has 3"),
        (lambda a: a(torch.randn(2, 5, 8), attn_mask=torch.zeros(4, 4, dtype=torch.bool)), "attn_mask has shape"),
        (
            lambda a: a(torch.randn(2, 5, 8), key_padding_mask=torch.zeros(2, 4, dtype=torch.bool)),
            "key_padding_mask has shape",
        ),
        (lambda a: a(torch.randn(2, 5, 8), attn_mask=torch.zeros(5, 5, dtype=torch.int64)), "must be bool .* or float"),
        (lambda a: a(torch.randn(2, 5, 8), attn_mask=torch.full((5, 5), float("nan"))), "contains NaN"),
    ],
)
def test_bad_inputs_raise_clear_errors(call, message):
    with pytest.raises((ValueError, TypeError), match=message):
        call(MultiHeadAttention(8, 2))


def test_heads_must_divide_d_model():
    with pytest.raises(ValueError, match="divisible by num_heads"):
        MultiHeadAttention(10, 3)


def test_causal_flag_combines_with_bool_and_float_masks_alike():
    attention = MultiHeadAttention(8, 2)
    x = torch.randn(2, 5, 8)
    blocked = torch.zeros(5, 5, dtype=torch.bool)
    blocked[:, 0] = True  # nobody may look at position 0 ...
    blocked[0, 0] = False  # ... except position 0 itself
    additive = torch.zeros(5, 5).masked_fill(blocked, float("-inf"))
    with_bool, bool_weights = attention(x, attn_mask=blocked, is_causal=True, need_weights=True)
    with_float, _ = attention(x, attn_mask=additive, is_causal=True)
    torch.testing.assert_close(with_bool, with_float)
    assert torch.all(bool_weights[:, :, 1:, 0] == 0) and torch.all(torch.triu(bool_weights[0, 0], diagonal=1) == 0)


def test_self_attention_step_by_step_with_a_cache_equals_causal_attention_at_once():
    torch.manual_seed(0)
    attention = MultiHeadAttention(16, 4).eval()
    x = torch.randn(2, 6, 16)
    whole, _ = attention(x, is_causal=True)
    cache = KeyValueCache()
    prefix, _ = attention(x[:, :2], is_causal=True, cache=cache)  # two at once (a prompt), then one at a time
    steps = [attention(x[:, t : t + 1], is_causal=True, cache=cache)[0] for t in range(2, 6)]
    torch.testing.assert_close(torch.cat([prefix, *steps], dim=1), whole, atol=1e-6, rtol=1e-5)
    assert cache.length == 6


def test_a_cached_chunk_after_earlier_steps_is_still_causal():
    torch.manual_seed(1)
    attention = MultiHeadAttention(16, 4).eval()
    x = torch.randn(1, 7, 16)
    cache = KeyValueCache()
    attention(x[:, :3], is_causal=True, cache=cache)
    chunk, weights = attention(x[:, 3:], is_causal=True, cache=cache, need_weights=True)  # 4 queries after 3 keys
    torch.testing.assert_close(chunk, attention(x, is_causal=True)[0][:, 3:], atol=1e-6, rtol=1e-5)
    assert weights.shape == (1, 4, 4, 7)
    assert torch.all(weights[0, :, 0, 4:] == 0) and torch.all(weights[0, :, 2, 6:] == 0)  # no query sees its future


def test_cross_attention_reads_a_frozen_memory_cache():
    torch.manual_seed(2)
    attention = MultiHeadAttention(16, 4).eval()
    y, memory = torch.randn(3, 2, 16), torch.randn(3, 5, 16)
    cache = attention.memory_cache(memory)
    torch.testing.assert_close(attention(y, cache=cache)[0], attention(y, memory)[0])
    with pytest.raises(RuntimeError, match="cannot grow"):
        cache.append(cache.keys, cache.values)
    with pytest.raises(ValueError, match="cache holds a batch of 3 but the query has 2"):
        attention(y[:2], cache=cache)
    reordered = cache.select(torch.tensor([2, 2, 0]))
    torch.testing.assert_close(attention(y[[2, 2, 0]], cache=reordered)[0], attention(y, memory)[0][[2, 2, 0]])


@pytest.mark.parametrize(
    "arguments, message",
    [
        (dict(d_model=0, num_heads=1), "d_model must be positive, got 0"),
        (dict(d_model=64, num_heads=0), "num_heads must be positive, got 0"),
        (dict(d_model=64.0, num_heads=8), "d_model must be an integer, got 64.0"),
        (dict(d_model=64, num_heads=8, num_kv_heads=0), "num_kv_heads must be positive, got 0"),
        (dict(d_model=64, num_heads=8, num_kv_heads=3), "num_heads \\(8\\) must be divisible by num_kv_heads \\(3\\)"),
        (dict(d_model=64, num_heads=8, dropout=-0.1), "dropout must be in \\[0, 1\\), got -0.1"),
        (dict(d_model=64, num_heads=8, dropout=1.0), "dropout must be in \\[0, 1\\), got 1.0"),
        (dict(d_model=64, num_heads=8, bias="yes"), "bias must be True or False, got 'yes'"),
        (
            dict(d_model=64, num_heads=8, rotary="rope"),
            "rotary must be a module \\(a RotaryEmbedding\\) or None, got str",
        ),
        (
            dict(d_model=64, num_heads=8, rotary=RotaryEmbedding(16, 32)),
            "rotary rotates heads of 16 dimensions, but this attention's heads have 8",
        ),
    ],
)
def test_bad_construction_arguments_are_named(arguments, message):
    with pytest.raises(ValueError, match=message):
        MultiHeadAttention(**arguments)

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode
from transformers import LlamaConfig, LlamaForCausalLM

from lib.inference_costs import (
    LLAMA_3_8B,
    LlamaStyleShape,
    forward_flops_per_token,
    kv_cache_bytes_per_token,
    llama_parameter_count,
)

SMALL = LlamaStyleShape("small", num_layers=2, d_model=64, num_heads=8, num_kv_heads=2, d_ff=96, vocab_size=50)


def hugging_face_llama(shape: LlamaStyleShape) -> LlamaConfig:
    """The same shape as a transformers configuration: an outside reference, built with random weights."""
    return LlamaConfig(
        vocab_size=shape.vocab_size, hidden_size=shape.d_model, intermediate_size=shape.d_ff,
        num_hidden_layers=shape.num_layers, num_attention_heads=shape.num_heads,
        num_key_value_heads=shape.num_kv_heads, tie_word_embeddings=shape.tie_embeddings,
    )  # fmt: skip


@pytest.mark.parametrize("shape", [SMALL, LLAMA_3_8B], ids=["small", "llama-3-8b"])
def test_parameter_formula_equals_a_built_hugging_face_llama(shape):
    with torch.device("meta"):  # shapes only: the 8B model allocates no memory
        model = LlamaForCausalLM(hugging_face_llama(shape))
    assert llama_parameter_count(shape) == sum(p.numel() for p in model.parameters())


def test_llama_3_8b_has_the_published_eight_billion_parameters_within_one_percent():
    assert llama_parameter_count(LLAMA_3_8B) == 8_030_261_248
    assert abs(llama_parameter_count(LLAMA_3_8B) / 8e9 - 1) < 0.01


def test_flop_formula_equals_flops_counted_in_a_forward_pass():
    config = hugging_face_llama(SMALL)
    config._attn_implementation = "eager"  # explicit matrix products, which the counter sees
    model = LlamaForCausalLM(config)
    tokens = torch.randint(0, SMALL.vocab_size, (1, 12))
    with FlopCounterMode(display=False) as counter:
        model(tokens)
    # eager attention scores every query against all 12 keys (the mask is applied afterwards)
    assert counter.get_total_flops() == 12 * forward_flops_per_token(SMALL, context=12)


def test_kv_cache_bytes_shrink_with_fewer_key_value_heads():
    assert kv_cache_bytes_per_token(LLAMA_3_8B) == 2 * 32 * 8 * 128 * 2 == 131_072
    multi_head = LlamaStyleShape("mha", 32, 4096, 32, 32, 14336, 128256)
    assert kv_cache_bytes_per_token(multi_head) == 4 * kv_cache_bytes_per_token(LLAMA_3_8B)


def test_inconsistent_shapes_are_refused():
    with pytest.raises(ValueError, match="multiple of num_kv_heads"):
        LlamaStyleShape("bad", 2, 64, 8, 3, 96, 50)
    with pytest.raises(ValueError, match="context"):
        forward_flops_per_token(SMALL, context=0)

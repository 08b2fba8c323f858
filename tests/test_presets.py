"""The presets build the published models: their parameter counts are the published ones."""

import pytest
import torch

from lib import presets
from lib.model import DecoderOnlyTransformer, EncoderOnlyTransformer, count_parameters


@pytest.mark.parametrize(
    "preset, model_class, published",
    [
        (presets.gpt2, DecoderOnlyTransformer, 124_439_808),  # GPT2LMHeadModel("gpt2").num_parameters()
        (presets.bert_base, EncoderOnlyTransformer, 109_514_298),  # BertForMaskedLM: no pooler, an MLM head
        (presets.llama3_8b, DecoderOnlyTransformer, 8_030_261_248),  # Meta-Llama-3-8B
    ],
)
def test_presets_count_the_published_parameters(preset, model_class, published):
    with torch.device("meta"):  # shapes only: no memory, no time
        model = model_class(preset())
    assert count_parameters(model) == published


def test_presets_take_overrides():
    config = presets.llama3_8b(d_model=64, num_heads=4, num_kv_heads=1, d_ff=96, num_decoder_layers=2)
    assert (config.d_model, config.num_kv_heads, config.norm, config.activation) == (64, 1, "rmsnorm", "swiglu")

"""Each layer equals PyTorch's own layer of the same placement (Post-LN or Pre-LN), weights copied."""

import pytest
import torch
from torch import nn

from lib import TransformerConfig
from lib.layers import DecoderLayer, EncoderLayer, FeedForward, GatedFeedForward
from lib.masks import causal_mask
from torch_reference import LAYER_NAME_MAP


def load_into(reference: nn.Module, ours: nn.Module) -> None:
    reference.load_state_dict({LAYER_NAME_MAP.get(k, k): v for k, v in ours.state_dict().items()})


@pytest.mark.parametrize("norm_first", [False, True])
def test_encoder_layer_equals_torch(norm_first):
    config = TransformerConfig(d_model=16, num_heads=4, d_ff=32, norm_first=norm_first)
    ours = EncoderLayer(config)
    reference = nn.TransformerEncoderLayer(16, 4, 32, dropout=0.0, batch_first=True, norm_first=norm_first)
    load_into(reference, ours)
    x = torch.randn(2, 5, 16)
    padding = torch.tensor([[False] * 5, [False, False, False, True, True]])
    torch.testing.assert_close(ours(x, padding)[0], reference(x, src_key_padding_mask=padding), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("norm_first", [False, True])
def test_decoder_layer_equals_torch(norm_first):
    config = TransformerConfig(d_model=16, num_heads=4, d_ff=32, norm_first=norm_first)
    ours = DecoderLayer(config)
    reference = nn.TransformerDecoderLayer(16, 4, 32, dropout=0.0, batch_first=True, norm_first=norm_first)
    load_into(reference, ours)
    y, memory = torch.randn(2, 4, 16), torch.randn(2, 6, 16)
    expected = reference(y, memory, tgt_mask=causal_mask(4))
    torch.testing.assert_close(ours(y, memory)[0], expected, atol=1e-5, rtol=1e-5)


def test_feed_forward_acts_on_each_position_alone():
    feed_forward = FeedForward(8, 16)
    x = torch.randn(1, 5, 8)
    torch.testing.assert_close(feed_forward(x)[0, 3], feed_forward(x[:, 3:4])[0, 0])


def test_decoder_layer_returns_both_kinds_of_weights():
    layer = DecoderLayer(TransformerConfig(d_model=8, num_heads=2, d_ff=8))
    _, self_weights, cross_weights = layer(torch.randn(1, 3, 8), torch.randn(1, 7, 8), need_weights=True)
    assert self_weights.shape == (1, 2, 3, 3) and cross_weights.shape == (1, 2, 3, 7)
    assert torch.all(self_weights[0, :, 0, 1:] == 0)  # the first position sees only itself


@pytest.mark.parametrize(
    "build, message",
    [
        (lambda: FeedForward(0, 16), "d_model must be positive, got 0"),
        (lambda: FeedForward(8, -1), "d_ff must be positive, got -1"),
        (lambda: FeedForward(8, 16, dropout=-0.1), "dropout must be in \\[0, 1\\), got -0.1"),
        (
            lambda: FeedForward(8, 16, activation="swiglu"),
            "activation must be one of \\('relu', 'gelu', 'gelu_tanh'\\)",
        ),
        (lambda: FeedForward(8, 16, activation="tanh"), "activation must be one of .*, got 'tanh'"),
        (lambda: GatedFeedForward(8, 0), "d_ff must be positive, got 0"),
        (lambda: GatedFeedForward(8, 16, dropout=1.5), "dropout must be in \\[0, 1\\), got 1.5"),
    ],
)
def test_bad_feed_forward_arguments_are_named(build, message):
    with pytest.raises(ValueError, match=message):
        build()

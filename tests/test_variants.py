"""The config's variants (GPT-2, BERT, Llama choices): each piece does what its name says."""

import math

import pytest
import torch

from lib import DecoderOnlyTransformer, EncoderOnlyTransformer, Transformer, TransformerConfig
from lib.decoding import greedy_decode
from lib.layers import FeedForward, GatedFeedForward
from lib.model import count_parameters
from lib.norms import RMSNorm
from lib.training import language_model_loss


def llama_like(**overrides) -> TransformerConfig:
    settings = dict(
        vocab_size=40, d_model=32, num_heads=4, num_kv_heads=2, d_ff=48, num_decoder_layers=2, max_len=32,
        norm_first=True, norm="rmsnorm", activation="swiglu", positional="rotary", rotary_base=500.0,
        scale_embeddings=False, attention_bias=False, feed_forward_bias=False, output_bias=False,
    )  # fmt: skip
    return TransformerConfig(**{**settings, **overrides})


def test_rms_norm_divides_by_the_root_mean_square():
    norm = RMSNorm(4, eps=0.0)
    x = torch.tensor([[3.0, -3.0, 3.0, -3.0]])
    torch.testing.assert_close(norm(x), x / 3.0)


def test_activations_are_the_named_functions():
    x = torch.linspace(-3, 3, 13)
    for name, expected in [
        ("relu", x.relu()),
        ("gelu", 0.5 * x * (1 + torch.erf(x / math.sqrt(2)))),
        ("gelu_tanh", 0.5 * x * (1 + torch.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))),
    ]:
        torch.testing.assert_close(FeedForward(1, 1, activation=name).activation(x), expected)


def test_swiglu_gates_the_hidden_units():
    ff = GatedFeedForward(3, 5, bias=False)
    x = torch.randn(2, 4, 3)
    expected = ff.linear2(torch.nn.functional.silu(ff.gate(x)) * ff.linear1(x))
    torch.testing.assert_close(ff(x), expected)
    assert {name for name, _ in ff.named_parameters()} == {"gate.weight", "linear1.weight", "linear2.weight"}


def test_grouped_query_attention_equals_full_attention_with_repeated_key_value_heads():
    torch.manual_seed(0)
    grouped = DecoderOnlyTransformer(llama_like()).double().eval()
    full = DecoderOnlyTransformer(llama_like(num_kv_heads=None)).double().eval()
    state = grouped.state_dict()
    head_dim, d = 8, 32
    for name, weight in list(state.items()):
        if name.endswith("in_proj.weight"):
            q, k, v = weight.split([d, 2 * head_dim, 2 * head_dim])
            repeat = [t.view(2, head_dim, d).repeat_interleave(2, dim=0).reshape(d, d) for t in (k, v)]
            state[name] = torch.cat([q, *repeat])
    full.load_state_dict(state)
    tokens = torch.randint(3, 40, (2, 9))
    torch.testing.assert_close(grouped(tokens), full(tokens), rtol=0, atol=1e-12)


def test_the_cache_of_a_grouped_query_model_holds_only_the_key_value_heads():
    model = DecoderOnlyTransformer(llama_like(num_kv_heads=1)).eval()  # multi-query
    state = model.start_decoding(torch.randint(3, 40, (3, 5)))
    assert state.caches[0].keys.shape == (3, 1, 5, 8)


@pytest.mark.parametrize("kv_heads", [1, 2, 4])
def test_cached_decoding_of_every_variant_equals_the_full_forward(kv_heads):
    torch.manual_seed(1)
    model = DecoderOnlyTransformer(llama_like(num_kv_heads=kv_heads)).double().eval()
    tokens = torch.randint(3, 40, (2, 10))
    state = model.start_decoding(tokens[:, :4])
    stepwise = [model.decode_next(state, tokens[:, t]) for t in range(4, 10)]
    torch.testing.assert_close(torch.stack(stepwise, 1), model(tokens)[:, 4:], rtol=0, atol=1e-12)


def test_rotary_base_changes_the_angles():
    torch.manual_seed(0)
    tokens = torch.randint(3, 40, (1, 8))
    a = DecoderOnlyTransformer(llama_like(rotary_base=10000.0)).eval()
    b = DecoderOnlyTransformer(llama_like(rotary_base=100.0)).eval()
    b.load_state_dict(a.state_dict())
    assert not torch.allclose(a(tokens), b(tokens))


@pytest.mark.parametrize("positional", ["learned", "sinusoidal", "rotary"])
def test_left_padded_rows_give_the_logits_they_give_alone(positional):
    torch.manual_seed(2)
    config = llama_like(positional=positional, pad_id=None, bos_id=1, eos_id=1)
    model = DecoderOnlyTransformer(config).double().eval()
    short = torch.randint(3, 40, (1, 4))
    padded = torch.cat([torch.full((1, 3), 7), short], dim=1)  # 7 is a real token, masked as padding
    mask = torch.tensor([[True] * 3 + [False] * 4])
    torch.testing.assert_close(model(padded, padding_mask=mask)[:, 3:], model(short), rtol=0, atol=1e-12)


def test_a_padding_mask_and_a_pad_id_mask_the_same_tokens():
    torch.manual_seed(3)
    model = DecoderOnlyTransformer(TransformerConfig(vocab_size=20, positional="learned")).eval()
    tokens = torch.randint(3, 20, (2, 6))
    tokens[0, :2] = 0  # left padding with pad_id 0
    torch.testing.assert_close(model(tokens), model(tokens, padding_mask=tokens == 0))


def test_unscaled_embeddings_are_the_table_rows():
    model = DecoderOnlyTransformer(TransformerConfig(vocab_size=20, scale_embeddings=False, positional="none"))
    tokens = torch.tensor([[5, 6]])
    torch.testing.assert_close(model.input(tokens), model.input.token_embedding.lookup.weight[[5, 6]][None])


def test_biases_can_be_switched_off():
    model = DecoderOnlyTransformer(llama_like())
    assert not [name for name, _ in model.named_parameters() if name.endswith("bias")]


def test_depth_scaled_init_shrinks_the_residual_projections_by_sqrt_2_layers():
    torch.manual_seed(0)
    config = TransformerConfig(
        vocab_size=50, d_model=256, num_heads=4, d_ff=1024, num_decoder_layers=8, init="normal",
        depth_scaled_init=True,
    )  # fmt: skip
    model = DecoderOnlyTransformer(config)
    layer = model.layers.layers[0]
    expected = 0.02 / math.sqrt(2 * 8)
    for weight in (layer.self_attn.out_proj.weight, layer.feed_forward.linear2.weight):
        assert abs(weight.std().item() / expected - 1) < 0.02
    assert abs(layer.feed_forward.linear1.weight.std().item() / 0.02 - 1) < 0.02
    assert layer.feed_forward.linear1.bias.abs().max() == 0


def test_token_types_and_embedding_norm_enter_the_input():
    torch.manual_seed(0)
    config = TransformerConfig(vocab_size=20, num_token_types=2, embedding_norm=True, positional="learned")
    model = EncoderOnlyTransformer(config).eval()
    tokens = torch.randint(3, 20, (1, 5))
    types = torch.tensor([[0, 0, 1, 1, 1]])
    assert not torch.allclose(model(tokens), model(tokens, token_types=types))
    torch.testing.assert_close(model(tokens), model(tokens, token_types=torch.zeros_like(types)))
    x = model.input(tokens)
    torch.testing.assert_close(x.mean(-1), torch.zeros(1, 5), rtol=0, atol=1e-5)  # LayerNorm, fresh weights


@pytest.mark.parametrize("size, table3", [("base", 65e6), ("big", 213e6)])
def test_three_way_sharing_counts_the_papers_parameters(size, table3):
    """Table 3 of Vaswani et al.: 65 M (base) and 213 M (big), with a shared 37000-token vocabulary."""
    width = dict(base=dict(d_model=512, num_heads=8, d_ff=2048), big=dict(d_model=1024, num_heads=16, d_ff=4096))
    config = TransformerConfig(
        vocab_size=37000, num_encoder_layers=6, num_decoder_layers=6, share_embeddings=True, **width[size]
    )
    with torch.device("meta"):
        model = Transformer(config)
    assert abs(count_parameters(model) / table3 - 1) < 0.03


def test_sharing_ties_all_three_matrices():
    model = Transformer(TransformerConfig(vocab_size=20, share_embeddings=True))
    shared = model.source_input.token_embedding.lookup.weight
    assert model.target_input.token_embedding.lookup.weight is shared and model.generator.weight is shared


@pytest.mark.parametrize(
    "settings, message",
    [
        (dict(num_heads=4, num_kv_heads=3), "num_heads \\(4\\) must be divisible by num_kv_heads \\(3\\)"),
        (dict(d_model=12, num_heads=4, positional="rotary"), "rotary positions need an even head dimension"),
        (dict(activation="swish"), "activation must be one of"),
        (dict(norm="batchnorm"), "norm must be one of"),
        (dict(norm_eps=0.0), "norm_eps must be positive"),
        (dict(share_embeddings=True, target_vocab_size=40), "share_embeddings needs one vocabulary"),
    ],
)
def test_impossible_variants_are_named(settings, message):
    with pytest.raises(ValueError, match=message):
        TransformerConfig(**settings)


def test_a_bad_padding_mask_is_named():
    model = DecoderOnlyTransformer(TransformerConfig(vocab_size=20))
    with pytest.raises(ValueError, match="padding_mask has shape \\(2, 3\\)"):
        model(torch.randint(3, 20, (2, 4)), padding_mask=torch.zeros(2, 3, dtype=torch.bool))


def test_an_encoder_decoder_with_every_variant_decodes_the_same_with_and_without_its_cache():
    torch.manual_seed(4)
    config = llama_like(num_encoder_layers=2, vocab_size=40, share_embeddings=True, pad_id=0, bos_id=1, eos_id=2)
    model = Transformer(config).double().eval()
    source = torch.randint(3, 40, (3, 7))
    source[1, 5:] = 0
    assert torch.equal(greedy_decode(model, source, 12), greedy_decode(model, source, 12, use_cache=False))
    assert model.decoder.memory_caches(model.encode(source)[0])[0].cross_attention.keys.size(1) == 2


def test_a_model_without_a_pad_token_trains_on_every_target():
    torch.manual_seed(5)
    model = DecoderOnlyTransformer(llama_like(pad_id=None, bos_id=1, eos_id=1))
    tokens = torch.randint(0, 40, (2, 8))
    tokens[0, 3] = 0  # id 0 is an ordinary token here: its prediction counts in the loss
    logits = model(tokens[:, :-1])
    expected = torch.nn.functional.cross_entropy(logits.reshape(-1, 40), tokens[:, 1:].reshape(-1))
    torch.testing.assert_close(language_model_loss(model, tokens), expected)


@pytest.mark.parametrize(
    "arguments, message",
    [
        (dict(d_model=0), "d_model must be positive, got 0"),
        (dict(d_model=8, eps=-1e-5), "eps must be >= 0, got -1e-05"),
        (dict(d_model=8, eps=float("nan")), "eps must be >= 0, got nan"),
    ],
)
def test_bad_rms_norm_arguments_are_named(arguments, message):
    with pytest.raises(ValueError, match=message):
        RMSNorm(**arguments)

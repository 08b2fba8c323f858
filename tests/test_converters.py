"""lib reproduces Hugging Face's GPT-2, BERT and Llama: same weights in, same numbers out.

The Hugging Face models are built from config objects with random weights (never downloaded),
converted with lib/converters.py, and compared in float64. lib's config is built from the
Hugging Face config (or checked against it), and what lib cannot compute is refused by name.
`transformers` is a pinned test dependency; lib itself never imports it.
"""

import inspect

import pytest
import torch

from lib import presets
from lib.converters import (
    BERT,
    GPT2,
    LLAMA,
    Ignores,
    Requires,
    Sets,
    bert_from_hf,
    check_config,
    config_from_hf,
    from_hf,
    gpt2_from_hf,
    llama_from_hf,
)
from lib.decoding import generate
from lib.model import count_parameters
from lib.positional import RotaryScaling

transformers = pytest.importorskip("transformers")

VOCAB, NEW_TOKENS = 64, 24


def left_padded_batch(generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor]]:
    """Three prompts of lengths 5, 2 and 4, left-padded with id 0 (masked, whatever the id)."""
    prompts = [torch.randint(1, VOCAB, (length,), generator=generator) for length in (5, 2, 4)]
    batch = torch.zeros(3, 5, dtype=torch.long)
    padding = torch.ones(3, 5, dtype=torch.bool)
    for row, prompt in enumerate(prompts):
        batch[row, 5 - len(prompt) :] = prompt
        padding[row, 5 - len(prompt) :] = False
    return batch, padding, prompts


def check_generation(lib_model, hf_model, generator: torch.Generator) -> None:
    """Greedy tokens: lib with and without its cache, one by one and left-padded in a batch, equal HF's."""
    hf_model.generation_config.eos_token_id = None  # run all NEW_TOKENS steps, as lib's loop does
    batch, padding, prompts = left_padded_batch(generator)
    hf_batch = hf_model.generate(
        batch, attention_mask=(~padding).long(), max_new_tokens=NEW_TOKENS, do_sample=False, pad_token_id=0
    )
    for row, prompt in enumerate(prompts):
        alone = hf_model.generate(prompt[None], max_new_tokens=NEW_TOKENS, do_sample=False, pad_token_id=0)
        assert torch.equal(generate(lib_model, prompt[None], NEW_TOKENS), alone)
        assert torch.equal(generate(lib_model, prompt[None], NEW_TOKENS, use_cache=False), alone)
        assert torch.equal(hf_batch[row, 5 - len(prompt) :], alone[0])
    assert len(set(hf_batch[:, 5:].flatten().tolist())) > 3  # not one token repeated: the test can tell models apart
    for use_cache in (True, False):
        ours = generate(lib_model, batch, NEW_TOKENS, use_cache=use_cache, padding_mask=padding)
        assert torch.equal(ours[:, 5:], hf_batch[:, 5:])


def check_logits(ours: torch.Tensor, theirs: torch.Tensor, real: torch.Tensor, tolerance: float = 1e-10) -> None:
    """Equal at every real (unpadded) position."""
    assert (ours - theirs).abs()[real].max() <= tolerance


# ---------------------------------------------------------------------------------------------- GPT-2


def gpt2_pair():
    torch.manual_seed(0)
    hf_config = transformers.GPT2Config(
        vocab_size=VOCAB, n_positions=64, n_embd=32, n_layer=2, n_head=4, bos_token_id=VOCAB - 1,
        eos_token_id=VOCAB - 1, resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0, initializer_range=0.2,
    )  # fmt: skip
    hf_model = transformers.GPT2LMHeadModel(hf_config).double().eval()
    return gpt2_from_hf(hf_model.state_dict(), hf_config).eval(), hf_model


def gpt2_lib_config(**overrides):
    """The config of `gpt2_pair`'s model written by hand in lib's words."""
    settings = dict(
        vocab_size=VOCAB, max_len=64, d_model=32, num_heads=4, d_ff=128, num_decoder_layers=2, dropout=0.0,
        bos_id=VOCAB - 1, eos_id=VOCAB - 1,
    )  # fmt: skip
    return presets.gpt2(**{**settings, **overrides})


def test_gpt2_logits_equal_hugging_face_with_right_and_left_padding():
    ours, theirs = gpt2_pair()
    tokens = torch.randint(0, VOCAB, (3, 9), generator=torch.Generator().manual_seed(1))
    real = torch.ones(3, 9, dtype=torch.bool)
    real[1, 6:] = False  # right padding
    real[2, :4] = False  # left padding: HF is told the positions, lib counts from the first real token
    positions = (real.long().cumsum(1) - 1).clamp(min=0)
    expected = theirs(tokens, attention_mask=real.long(), position_ids=positions).logits
    check_logits(ours(tokens, padding_mask=~real), expected, real)
    assert count_parameters(ours) == theirs.num_parameters()


def test_gpt2_greedy_generation_equals_hugging_face():
    ours, theirs = gpt2_pair()
    check_generation(ours, theirs, torch.Generator().manual_seed(2))


# ---------------------------------------------------------------------------------------------- BERT


def bert_pair():
    torch.manual_seed(0)
    hf_config = transformers.BertConfig(
        vocab_size=VOCAB, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
        max_position_embeddings=40, type_vocab_size=2, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
        pad_token_id=0, initializer_range=0.2,
    )  # fmt: skip
    hf_model = transformers.BertForMaskedLM(hf_config).double().eval()
    config = config_from_hf(hf_config, bos_id=1, eos_id=2)  # BERT's config names no such ids; 101, 102 exceed VOCAB
    return bert_from_hf(hf_model.state_dict(), hf_config, config).eval(), hf_model


def bert_lib_config():
    return presets.bert_base(
        vocab_size=VOCAB, d_model=32, num_heads=4, d_ff=64, num_encoder_layers=2, max_len=40, dropout=0.0,
        bos_id=1, eos_id=2,
    )  # fmt: skip


def test_bert_hidden_states_and_masked_lm_logits_equal_hugging_face_with_padding():
    ours, theirs = bert_pair()
    generator = torch.Generator().manual_seed(3)
    tokens = torch.randint(1, VOCAB, (3, 10), generator=generator)
    types = (torch.arange(10) >= 4).long().expand(3, 10)  # sentence A, then sentence B
    real = torch.ones(3, 10, dtype=torch.bool)
    real[1, 7:] = False
    real[2, 3:] = False
    tokens[~real] = 0
    expected = theirs(tokens, attention_mask=real.long(), token_type_ids=types, output_hidden_states=True)
    check_logits(ours(tokens, token_types=types), expected.logits, real)
    check_logits(ours.encode(tokens, token_types=types), expected.hidden_states[-1], real)
    assert count_parameters(ours) == theirs.num_parameters()


# ---------------------------------------------------------------------------------------------- Llama


# Llama 3.1's scaling at a small size: pairs of wavelength 6.3 (kept: under 32 / 4), 29.7 (blended) and
# 141 and 665 (slowed 8 times: over 32 / 1) for a context trained on 32 tokens and run on 64.
LLAMA3_SCALING = dict(
    rope_type="llama3", factor=8.0, low_freq_factor=1.0, high_freq_factor=4.0, original_max_position_embeddings=32
)


def llama_hf_config(num_kv_heads: int = 2, **settings):
    defaults = dict(
        vocab_size=VOCAB, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=num_kv_heads, intermediate_size=48, max_position_embeddings=64, rope_theta=500.0,
        rms_norm_eps=1e-6, bos_token_id=1, eos_token_id=2, initializer_range=0.2,
    )  # fmt: skip
    return transformers.LlamaConfig(**{**defaults, **settings})


def llama_pair(num_kv_heads: int = 2, **settings):
    torch.manual_seed(0)
    hf_config = llama_hf_config(num_kv_heads, **settings)
    hf_model = transformers.LlamaForCausalLM(hf_config).double().eval()
    return llama_from_hf(hf_model.state_dict(), hf_config).eval(), hf_model


def llama_lib_config(num_kv_heads: int = 2, **overrides):
    settings = dict(
        vocab_size=VOCAB, d_model=32, num_heads=4, num_kv_heads=num_kv_heads, d_ff=48, num_decoder_layers=2,
        max_len=64, rotary_base=500.0, norm_eps=1e-6, bos_id=1, eos_id=2,
    )  # fmt: skip
    return presets.llama3_8b(**{**settings, **overrides})


@pytest.fixture
def llama_in_float64(monkeypatch):
    """Hugging Face's Llama rounds two things to float32 even in a float64 model: the RMSNorm's
    input and the rotary angles. For a float64-exact comparison, these two do the same math in
    the input's precision (the formulas are theirs; only the casts go). Llama 3.1's scaled angles
    come from Hugging Face's own function, run with its `torch.float` meaning float64."""
    llama = transformers.models.llama.modeling_llama
    rope_utils = transformers.modeling_rope_utils

    class TorchInFloat64:
        float = torch.float64

        def __getattr__(self, name):
            return getattr(torch, name)

    def rms_norm(self, hidden):
        variance = hidden.pow(2).mean(-1, keepdim=True)
        return self.weight * (hidden * torch.rsqrt(variance + self.variance_epsilon))

    def rotary(self, x, position_ids):
        dim = self.config.hidden_size // self.config.num_attention_heads
        base = self.config.rope_parameters["rope_theta"]
        inv_freq = 1.0 / (base ** (torch.arange(0, dim, 2, dtype=torch.float64) / dim))
        if self.rope_type != "default":
            inv_freq, _ = rope_utils.ROPE_INIT_FUNCTIONS[self.rope_type](self.config)
            assert inv_freq.dtype == torch.float64
        freqs = position_ids[..., None].double() * inv_freq
        emb = torch.cat((freqs, freqs), dim=-1)
        return emb.cos().to(x.dtype), emb.sin().to(x.dtype)

    monkeypatch.setattr(llama.LlamaRMSNorm, "forward", rms_norm)
    monkeypatch.setattr(llama.LlamaRotaryEmbedding, "forward", rotary)
    monkeypatch.setattr(rope_utils, "torch", TorchInFloat64())


@pytest.mark.parametrize("num_kv_heads", [2, 1])  # grouped-query and multi-query
def test_llama_logits_equal_hugging_face_with_padding(num_kv_heads, llama_in_float64):
    ours, theirs = llama_pair(num_kv_heads)
    tokens = torch.randint(0, VOCAB, (3, 9), generator=torch.Generator().manual_seed(4))
    real = torch.ones(3, 9, dtype=torch.bool)
    real[1, 6:] = False
    real[2, :4] = False
    positions = (real.long().cumsum(1) - 1).clamp(min=0)
    expected = theirs(tokens, attention_mask=real.long(), position_ids=positions).logits
    check_logits(ours(tokens, padding_mask=~real), expected, real)
    assert count_parameters(ours) == theirs.num_parameters()


@pytest.mark.parametrize("scaling", [None, LLAMA3_SCALING], ids=["llama3", "llama3.1"])
def test_llama_as_shipped_differs_only_by_its_float32_rounding(scaling):
    ours, theirs = llama_pair(rope_scaling=scaling)
    tokens = torch.randint(0, VOCAB, (2, 60), generator=torch.Generator().manual_seed(5))
    difference = (ours(tokens) - theirs(tokens).logits).abs().max()
    assert 0 < difference <= 1e-5  # float32 carries about 7 digits; the logits are of order 1


def test_llama_greedy_generation_equals_hugging_face(llama_in_float64):
    ours, theirs = llama_pair()
    check_generation(ours, theirs, torch.Generator().manual_seed(6))


# ---------------------------------------------------------------------------------------------- Llama 3.1


def test_llama3_scaling_covers_kept_blended_and_slowed_pairs():
    ours, theirs = llama_pair(rope_scaling=LLAMA3_SCALING)
    assert ours.config.rotary_scaling == RotaryScaling(8.0, 1.0, 4.0, original_max_len=32)
    plain = 500.0 ** (-torch.arange(0, 8, 2, dtype=torch.float64) / 8)  # theta_i of the 4 pairs of a head
    ratio = plain / theirs.model.rotary_emb.inv_freq.double()  # 1: kept, 8: slowed, between: blended
    assert ratio[0] == 1 and 1.5 < ratio[1] < 7.5 and torch.allclose(ratio[2:], torch.tensor(8.0, dtype=torch.float64))


def test_llama3_scaled_logits_equal_hugging_face_beyond_the_original_context(llama_in_float64):
    ours, theirs = llama_pair(rope_scaling=LLAMA3_SCALING)
    tokens = torch.randint(0, VOCAB, (2, 60), generator=torch.Generator().manual_seed(7))  # positions to 59 > 32
    real = torch.ones(2, 60, dtype=torch.bool)
    real[1, :5] = False  # left padding
    positions = (real.long().cumsum(1) - 1).clamp(min=0)
    expected = theirs(tokens, attention_mask=real.long(), position_ids=positions).logits
    check_logits(ours(tokens, padding_mask=~real), expected, real)
    unscaled = llama_from_hf(theirs.state_dict(), llama_hf_config()).double().eval()  # Llama 3's plain rotary
    assert (unscaled(tokens, padding_mask=~real) - expected)[real].abs().max() > 1e-3  # the scaling matters here


def test_llama3_scaled_checkpoint_refuses_a_config_without_the_scaling():
    _, theirs = llama_pair(rope_scaling=LLAMA3_SCALING)
    with pytest.raises(ValueError, match="rotary_scaling=None, but rope_parameters=.*'llama3'.* gives RotaryScaling"):
        llama_from_hf(theirs.state_dict(), theirs.config, llama_lib_config())
    model = llama_from_hf(
        theirs.state_dict(), theirs.config, llama_lib_config(rotary_scaling=RotaryScaling(8, 1, 4, 32))
    )
    assert model.rotary.scaling.original_max_len == 32


# ---------------------------------------------------------------------------------------------- configs


# The config.json files published with these weights (written out here, transformers_version left out);
# like every config.json they leave out the fields at their defaults.
PUBLISHED = {
    "gpt2": (
        transformers.GPT2Config, presets.gpt2(),
        dict(
            activation_function="gelu_new", architectures=["GPT2LMHeadModel"], attn_pdrop=0.1, bos_token_id=50256,
            embd_pdrop=0.1, eos_token_id=50256, initializer_range=0.02, layer_norm_epsilon=1e-05, model_type="gpt2",
            n_ctx=1024, n_embd=768, n_head=12, n_layer=12, n_positions=1024, resid_pdrop=0.1,
            summary_activation=None, summary_first_dropout=0.1, summary_proj_to_labels=True,
            summary_type="cls_index", summary_use_proj=True,
            task_specific_params={"text-generation": {"do_sample": True, "max_length": 50}}, vocab_size=50257,
        ),
    ),
    "Meta-Llama-3-8B": (
        transformers.LlamaConfig, presets.llama3_8b(),
        dict(
            architectures=["LlamaForCausalLM"], attention_bias=False, attention_dropout=0.0, bos_token_id=128000,
            eos_token_id=128001, hidden_act="silu", hidden_size=4096, initializer_range=0.02,
            intermediate_size=14336, max_position_embeddings=8192, model_type="llama", num_attention_heads=32,
            num_hidden_layers=32, num_key_value_heads=8, pretraining_tp=1, rms_norm_eps=1e-05, rope_scaling=None,
            rope_theta=500000.0, tie_word_embeddings=False, torch_dtype="bfloat16", use_cache=True,
            vocab_size=128256,
        ),
    ),
    "Llama-3.1-8B": (
        transformers.LlamaConfig, presets.llama3_8b(max_len=131072, rotary_scaling=RotaryScaling()),
        dict(
            architectures=["LlamaForCausalLM"], attention_bias=False, attention_dropout=0.0, bos_token_id=128000,
            eos_token_id=128001, hidden_act="silu", hidden_size=4096, initializer_range=0.02,
            intermediate_size=14336, max_position_embeddings=131072, mlp_bias=False, model_type="llama",
            num_attention_heads=32, num_hidden_layers=32, num_key_value_heads=8, pretraining_tp=1,
            rms_norm_eps=1e-05, rope_theta=500000.0, tie_word_embeddings=False, torch_dtype="bfloat16",
            use_cache=True, vocab_size=128256,
            rope_scaling=dict(
                factor=8.0, low_freq_factor=1.0, high_freq_factor=4.0, original_max_position_embeddings=8192,
                rope_type="llama3",
            ),
        ),
    ),
}  # fmt: skip


@pytest.mark.parametrize("name", PUBLISHED)
def test_published_configs_give_lib_presets(name):
    config_class, preset, published = PUBLISHED[name]
    assert config_from_hf(config_class.from_dict(published)) == preset
    with pytest.raises(ValueError, match="pass a transformers config object, which fills in the defaults"):
        config_from_hf(published)  # a bare config.json: its absent fields are defaults lib does not guess


def test_hand_written_lib_configs_agree_with_the_hugging_face_ones():
    check_config(gpt2_lib_config(), gpt2_pair()[1].config)
    check_config(bert_lib_config(), bert_pair()[1].config)
    check_config(llama_lib_config(), llama_hf_config())


@pytest.mark.parametrize(
    "family, config_class",
    [(GPT2, transformers.GPT2Config), (BERT, transformers.BertConfig), (LLAMA, transformers.LlamaConfig)],
    ids=["GPT-2", "BERT", "Llama"],
)
def test_every_field_of_each_hugging_face_config_is_mapped_refused_or_ignored(family, config_class):
    """A field a later transformers adds fails here until the table says what it does to the computation."""
    names = set(config_class().to_dict()) | set(inspect.signature(config_class.__init__).parameters) - {"self"}
    unlisted = sorted(names - set(family.fields))
    assert not unlisted, f"{family.name}'s table in lib/converters.py lacks {unlisted}"
    for name, rule in family.fields.items():
        assert isinstance(rule, Sets | Requires | Ignores), name
        assert not isinstance(rule, Ignores) or len(rule.reason) > 10, f"{name} is ignored without a reason"


GPT2_CONFIG, BERT_CONFIG, LLAMA_CONFIG = transformers.GPT2Config, transformers.BertConfig, transformers.LlamaConfig
NOT_COMPUTED = "is not computed by lib, which supports"


@pytest.mark.parametrize(
    "hf_config, message",
    [
        (
            GPT2_CONFIG(scale_attn_by_inverse_layer_idx=True),
            f"scale_attn_by_inverse_layer_idx=True {NOT_COMPUTED} only scale_attn_by_inverse_layer_idx=False",
        ),
        (
            GPT2_CONFIG(scale_attn_weights=False),
            f"scale_attn_weights=False {NOT_COMPUTED} only scale_attn_weights=True",
        ),
        (
            GPT2_CONFIG(activation_function="silu"),
            f"activation_function='silu' {NOT_COMPUTED} \\['gelu', 'gelu_new', 'gelu_pytorch_tanh', 'relu'\\]",
        ),
        (
            GPT2_CONFIG(add_cross_attention=True),
            f"add_cross_attention=True {NOT_COMPUTED} only add_cross_attention=False",
        ),
        (GPT2_CONFIG(attention_scale=0.5), "fields lib does not know, which may change the computation: {'attention_s"),
        (BERT_CONFIG(is_decoder=True), f"BERT config's is_decoder=True {NOT_COMPUTED} only is_decoder=False"),
        (BERT_CONFIG(hidden_act="silu"), f"hidden_act='silu' {NOT_COMPUTED} \\['gelu', 'gelu_new', 'relu'\\]"),
        (
            BERT_CONFIG(position_embedding_type="relative_key"),
            f"position_embedding_type='relative_key' {NOT_COMPUTED} only position_embedding_type='absolute'",
        ),
        (LLAMA_CONFIG(hidden_act="gelu"), f"Llama config's hidden_act='gelu' {NOT_COMPUTED} \\['silu'\\]"),
        (
            LLAMA_CONFIG(hidden_size=64, num_attention_heads=4, head_dim=32),
            "head_dim=32 is not computed by lib, whose heads are hidden_size / num_attention_heads = 16 wide",
        ),
        (
            LLAMA_CONFIG(rope_scaling=dict(rope_type="linear", factor=2.0)),
            "rope_parameters has rope_type 'linear'; lib computes 'default' and 'llama3' only",
        ),
        (
            LLAMA_CONFIG(rope_parameters=dict(rope_type="default", rope_theta=1e4, partial_rotary_factor=0.5)),
            "rotates part of each head; lib rotates all of it",
        ),
        ({"model_type": "mistral"}, "lib loads the model types \\['gpt2', 'bert', 'llama'\\]; this config's model_"),
    ],
)
def test_what_lib_cannot_compute_is_refused_by_field_value_and_what_lib_supports(hf_config, message):
    with pytest.raises(ValueError, match=message):
        config_from_hf(hf_config)


def test_a_lib_config_that_disagrees_with_the_checkpoint_is_refused_field_by_field():
    torch.manual_seed(0)
    hf_config = transformers.GPT2Config(
        vocab_size=VOCAB, n_positions=16, n_embd=24, n_layer=1, n_head=3, activation_function="relu",
        bos_token_id=VOCAB - 1, eos_token_id=VOCAB - 1,
    )  # fmt: skip
    state = transformers.GPT2LMHeadModel(hf_config).state_dict()
    config = presets.gpt2(
        vocab_size=VOCAB, max_len=16, d_model=24, num_heads=4, d_ff=96, num_decoder_layers=1, norm_eps=1e-6,
        bos_id=VOCAB - 1, eos_id=VOCAB - 1,
    )  # fmt: skip
    with pytest.raises(ValueError) as refusal:
        gpt2_from_hf(state, hf_config, config)  # the shapes fit: only the config can tell
    assert "num_heads=4, but n_head=3 gives 3" in str(refusal.value)
    assert "activation='gelu_tanh', but activation_function='relu' gives 'relu'" in str(refusal.value)
    assert "norm_eps=1e-06, but layer_norm_epsilon=1e-05 gives 1e-05" in str(refusal.value)
    with pytest.raises(ValueError, match="positional='rotary', but the GPT-2 architecture \\(lib.presets.gpt2\\)"):
        check_config(presets.gpt2(positional="rotary"), transformers.GPT2Config())


def test_overrides_set_only_what_the_hugging_face_config_leaves_open():
    hf_config = transformers.GPT2Config()
    assert config_from_hf(hf_config, dropout=0.0, init_std=0.01).dropout == 0.0  # training only
    with pytest.raises(ValueError, match="num_heads=8, but n_head=12 gives 12"):
        config_from_hf(hf_config, num_heads=8)
    assert config_from_hf(transformers.GPT2Config(pad_token_id=50256)).pad_id is None  # pads with <|endoftext|>
    assert config_from_hf(transformers.LlamaConfig(eos_token_id=[2, 7])).eos_id == 2


def test_from_hf_picks_the_family_and_refuses_a_mismatched_one():
    ours, theirs = gpt2_pair()
    model = from_hf(theirs.state_dict(), theirs.config)
    assert model.config == ours.config and torch.equal(model(torch.tensor([[3, 4]])), ours(torch.tensor([[3, 4]])))
    with pytest.raises(ValueError, match="a GPT-2 config was given to load a Llama checkpoint"):
        llama_from_hf(theirs.state_dict(), theirs.config)


def test_llama_attention_and_feed_forward_biases_load(llama_in_float64):
    ours, theirs = llama_pair(attention_bias=True, mlp_bias=True)
    assert ours.config.attention_bias and ours.config.feed_forward_bias
    tokens = torch.randint(0, VOCAB, (2, 9), generator=torch.Generator().manual_seed(8))
    check_logits(ours(tokens), theirs(tokens).logits, torch.ones(2, 9, dtype=torch.bool))


# ---------------------------------------------------------------------------------------------- state dicts


def test_a_state_dict_of_another_family_is_refused_by_name():
    _, bert = bert_pair()
    with pytest.raises(KeyError, match="not a GPT-2 state dict.*looks like a BERT"):
        gpt2_from_hf(bert.state_dict(), gpt2_pair()[1].config)


def test_missing_and_extra_keys_are_named():
    _, theirs = gpt2_pair()
    state = dict(theirs.state_dict())
    del state["transformer.h.1.ln_2.bias"]
    with pytest.raises(KeyError, match="lacks weights for lib's \\['layers.layers.1.norm2.bias'\\]"):
        gpt2_from_hf(state, theirs.config)
    state = dict(theirs.state_dict(), **{"transformer.h.0.attn.rotary.weight": torch.zeros(2)})
    with pytest.raises(KeyError, match="keys lib does not know: \\['h.0.attn.rotary.weight'\\]"):
        gpt2_from_hf(state, theirs.config)
    one_layer = transformers.GPT2Config(**{**theirs.config.to_dict(), "n_layer": 1})
    with pytest.raises(KeyError, match="has weights lib's model .* has no place for: \\['layers.layers.1"):
        gpt2_from_hf(theirs.state_dict(), one_layer)


def test_a_swiglu_width_that_does_not_match_the_config_is_named():
    _, theirs = llama_pair()
    wider = llama_hf_config(intermediate_size=64)
    with pytest.raises(ValueError, match="lib's layers.layers.0.feed_forward.gate.weight has shape \\(48, 32\\)"):
        llama_from_hf(theirs.state_dict(), wider)

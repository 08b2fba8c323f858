"""lib reproduces Hugging Face's GPT-2, BERT and Llama: same weights in, same numbers out.

The Hugging Face models are built from config objects with random weights (never downloaded),
converted with lib/converters.py, and compared in float64. `transformers` is a pinned test
dependency; lib itself never imports it.
"""

import pytest
import torch

from lib import presets
from lib.converters import bert_from_hf, gpt2_from_hf, llama_from_hf
from lib.decoding import generate
from lib.model import count_parameters

transformers = pytest.importorskip("transformers")

VOCAB, NEW_TOKENS = 64, 24


def greedy_with_padding(model, prompt, padding, new_tokens: int, use_cache: bool) -> torch.Tensor:
    """Greedy continuation of a left-padded batch: `padding` (batch, n) is True at padding."""
    tokens = prompt
    if use_cache:
        state = model.start_decoding(prompt[:, :-1], padding[:, :-1])
        for _ in range(new_tokens):
            next_token = model.decode_next(state, tokens[:, -1]).argmax(-1)
            tokens = torch.cat([tokens, next_token[:, None]], dim=1)
        return tokens
    for _ in range(new_tokens):
        mask = torch.cat([padding, padding.new_zeros(len(tokens), tokens.size(1) - padding.size(1))], dim=1)
        next_token = model(tokens, padding_mask=mask)[:, -1].argmax(-1)
        tokens = torch.cat([tokens, next_token[:, None]], dim=1)
    return tokens


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
        ours = greedy_with_padding(lib_model, batch, padding, NEW_TOKENS, use_cache)
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
    config = presets.gpt2(
        vocab_size=VOCAB, max_len=64, d_model=32, num_heads=4, d_ff=128, num_decoder_layers=2, dropout=0.0,
        bos_id=VOCAB - 1, eos_id=VOCAB - 1,
    )  # fmt: skip
    return gpt2_from_hf(hf_model.state_dict(), config).eval(), hf_model


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
    config = presets.bert_base(
        vocab_size=VOCAB, d_model=32, num_heads=4, d_ff=64, num_encoder_layers=2, max_len=40, dropout=0.0,
        bos_id=1, eos_id=2,
    )  # fmt: skip
    return bert_from_hf(hf_model.state_dict(), config).eval(), hf_model


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


def llama_pair(num_kv_heads: int = 2):
    torch.manual_seed(0)
    hf_config = transformers.LlamaConfig(
        vocab_size=VOCAB, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=num_kv_heads, intermediate_size=48, max_position_embeddings=64, rope_theta=500.0,
        rms_norm_eps=1e-6, bos_token_id=1, eos_token_id=2, initializer_range=0.2,
    )  # fmt: skip
    hf_model = transformers.LlamaForCausalLM(hf_config).double().eval()
    config = presets.llama3_8b(
        vocab_size=VOCAB, d_model=32, num_heads=4, num_kv_heads=num_kv_heads, d_ff=48, num_decoder_layers=2,
        max_len=64, rotary_base=500.0, norm_eps=1e-6, bos_id=1, eos_id=2,
    )  # fmt: skip
    return llama_from_hf(hf_model.state_dict(), config).eval(), hf_model


@pytest.fixture
def llama_in_float64(monkeypatch):
    """Hugging Face's Llama rounds two things to float32 even in a float64 model: the RMSNorm's
    input and the rotary angles. For a float64-exact comparison, these two do the same math in
    the input's precision (the formulas are theirs; only the casts go)."""
    llama = transformers.models.llama.modeling_llama

    def rms_norm(self, hidden):
        variance = hidden.pow(2).mean(-1, keepdim=True)
        return self.weight * (hidden * torch.rsqrt(variance + self.variance_epsilon))

    def rotary(self, x, position_ids):
        dim = self.config.hidden_size // self.config.num_attention_heads
        base = self.config.rope_parameters["rope_theta"]
        inv_freq = 1.0 / (base ** (torch.arange(0, dim, 2, dtype=torch.float64) / dim))
        freqs = position_ids[..., None].double() * inv_freq
        emb = torch.cat((freqs, freqs), dim=-1)
        return emb.cos().to(x.dtype), emb.sin().to(x.dtype)

    monkeypatch.setattr(llama.LlamaRMSNorm, "forward", rms_norm)
    monkeypatch.setattr(llama.LlamaRotaryEmbedding, "forward", rotary)


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


def test_llama_as_shipped_differs_only_by_its_float32_rounding():
    ours, theirs = llama_pair()
    tokens = torch.randint(0, VOCAB, (2, 9), generator=torch.Generator().manual_seed(5))
    difference = (ours(tokens) - theirs(tokens).logits).abs().max()
    assert 0 < difference <= 1e-5  # float32 carries about 7 digits; the logits are of order 1


def test_llama_greedy_generation_equals_hugging_face(llama_in_float64):
    ours, theirs = llama_pair()
    check_generation(ours, theirs, torch.Generator().manual_seed(6))


# ---------------------------------------------------------------------------------------------- refusals


def test_a_state_dict_of_another_family_is_refused_by_name():
    _, bert = bert_pair()
    config = presets.gpt2(
        vocab_size=VOCAB, max_len=64, d_model=32, num_heads=4, d_ff=128, num_decoder_layers=2, bos_id=1, eos_id=1
    )
    with pytest.raises(KeyError, match="not a GPT-2 state dict.*looks like a BERT"):
        gpt2_from_hf(bert.state_dict(), config)


def test_missing_and_extra_keys_are_named():
    _, theirs = gpt2_pair()
    config = presets.gpt2(
        vocab_size=VOCAB, max_len=64, d_model=32, num_heads=4, d_ff=128, num_decoder_layers=2, bos_id=1, eos_id=1
    )
    state = dict(theirs.state_dict())
    del state["transformer.h.1.ln_2.bias"]
    with pytest.raises(KeyError, match="lacks weights for lib's \\['layers.layers.1.norm2.bias'\\]"):
        gpt2_from_hf(state, config)
    state = dict(theirs.state_dict(), **{"transformer.h.0.attn.rotary.weight": torch.zeros(2)})
    with pytest.raises(KeyError, match="keys lib does not know: \\['h.0.attn.rotary.weight'\\]"):
        gpt2_from_hf(state, config)
    with pytest.raises(KeyError, match="has weights lib's model .* has no place for: \\['layers.layers.1"):
        gpt2_from_hf(theirs.state_dict(), presets.gpt2(**{**config.to_dict(), "num_decoder_layers": 1}))


def test_a_swiglu_width_that_does_not_match_the_config_is_named():
    _, theirs = llama_pair()
    config = presets.llama3_8b(
        vocab_size=VOCAB, d_model=32, num_heads=4, num_kv_heads=2, d_ff=64, num_decoder_layers=2, max_len=64,
        bos_id=1, eos_id=2,
    )  # fmt: skip
    with pytest.raises(ValueError, match="lib's layers.layers.0.feed_forward.gate.weight has shape \\(48, 32\\)"):
        llama_from_hf(theirs.state_dict(), config)

"""Configs of three published models, in lib's words.

Each is the 2017 block with other pieces chosen (see the fields of `TransformerConfig`):

- GPT-2 small, 124 M parameters (Radford et al. 2019): decoder-only, Pre-LN, learned
  positions, tanh-GELU, no embedding scale, the output tied to the embedding.
- BERT-base, 110 M (Devlin et al. 2019): encoder-only, Post-LN with eps 1e-12, learned
  positions, segment embeddings and an embedding LayerNorm, erf-GELU, a masked-LM head.
- Llama 3 8B (Grattafiori et al. 2024): decoder-only, Pre-norm with RMSNorm, rotary positions
  with base 500000, SwiGLU, 8 key/value heads for 32 query heads, no biases, no tying.

Every preset takes overrides, so a test can build a tiny model of the same family:
`gpt2(d_model=32, num_heads=2, num_decoder_layers=2, vocab_size=50, max_len=64, bos_id=49, eos_id=49)`.
lib/converters.py builds these configs from a Hugging Face config of each family (refusing what lib does
not compute) and loads the state dict into lib; nothing here downloads.
"""

from lib.config import TransformerConfig


def gpt2(**overrides) -> TransformerConfig:
    """GPT-2 small: 12 layers, d_model 768, 12 heads, 1024 positions, 50257 byte-level BPE tokens."""
    settings = dict(
        vocab_size=50257, d_model=768, num_heads=12, d_ff=3072, num_encoder_layers=0, num_decoder_layers=12,
        max_len=1024, dropout=0.1, positional="learned", norm_first=True, activation="gelu_tanh",
        norm_eps=1e-5, scale_embeddings=False, output_bias=False, tie_embeddings=True, init="normal",
        init_std=0.02, depth_scaled_init=True, pad_id=None, bos_id=50256, eos_id=50256,
    )  # fmt: skip
    return TransformerConfig(**{**settings, **overrides})


def bert_base(**overrides) -> TransformerConfig:
    """BERT-base (uncased vocabulary): 12 layers, d_model 768, 12 heads, 512 positions, 2 segments."""
    settings = dict(
        vocab_size=30522, d_model=768, num_heads=12, d_ff=3072, num_encoder_layers=12, num_decoder_layers=0,
        max_len=512, dropout=0.1, positional="learned", norm_first=False, activation="gelu", norm_eps=1e-12,
        scale_embeddings=False, num_token_types=2, embedding_norm=True, head_transform=True,
        tie_embeddings=True, init="normal", init_std=0.02, pad_id=0, bos_id=101, eos_id=102,
    )  # fmt: skip
    return TransformerConfig(**{**settings, **overrides})


def llama3_8b(**overrides) -> TransformerConfig:
    """Llama 3 8B: 32 layers, d_model 4096, 32 query and 8 key/value heads, SwiGLU width 14336."""
    settings = dict(
        vocab_size=128256, d_model=4096, num_heads=32, num_kv_heads=8, d_ff=14336, num_encoder_layers=0,
        num_decoder_layers=32, max_len=8192, positional="rotary", rotary_base=500000.0, norm_first=True,
        norm="rmsnorm", norm_eps=1e-5, activation="swiglu", scale_embeddings=False, attention_bias=False,
        feed_forward_bias=False, output_bias=False, init="normal", init_std=0.02, pad_id=None, bos_id=128000,
        eos_id=128001,
    )  # fmt: skip
    return TransformerConfig(**{**settings, **overrides})

"""Encoder and decoder layers, and the stacks built from them.

Each sub-layer (attention or feed-forward) sits inside a residual connection with a
LayerNorm. Post-LN (Vaswani et al. 2017) normalizes after adding the residual:
`x = norm(x + sublayer(x))`. Pre-LN (used before and analysed by Xiong et al. 2020) normalizes the sub-layer's input:
`x = x + sublayer(norm(x))`, which keeps gradients well-behaved without a long warm-up.

Later models changed the pieces, not the plan: GPT-2 and BERT use GELU in the feed-forward
network, Llama a gated one (SwiGLU), RMSNorm, and fewer key/value heads than query heads.
Each layer asks the config for its pieces (`make_norm`, `make_feed_forward`, `make_attention`),
so one `EncoderLayer` and one `DecoderLayer` serve every variant.
"""

from dataclasses import dataclass, field
from functools import partial

from torch import Tensor, nn

from lib.attention import KeyValueCache, MultiHeadAttention
from lib.config import TransformerConfig
from lib.dropout import Dropout
from lib.norms import make_norm
from lib.validation import check_choice, check_positive_int, check_probability

# The nonlinearity between the feed-forward network's two layers. GELU is x * P(Z <= x) for a
# standard normal Z (Hendrycks & Gimpel 2016); "gelu_tanh" is its tanh approximation, GPT-2's.
ACTIVATIONS = {
    "relu": nn.ReLU,
    "gelu": nn.GELU,
    "gelu_tanh": partial(nn.GELU, approximate="tanh"),
    "swiglu": nn.SiLU,  # the gate's nonlinearity, SiLU(x) = x * sigmoid(x)
}


PLAIN_ACTIVATIONS = ("relu", "gelu", "gelu_tanh")  # those of the two-matrix network


def check_feed_forward_sizes(d_model: int, d_ff: int, dropout: float) -> None:
    check_positive_int("d_model", d_model)
    check_positive_int("d_ff", d_ff)
    check_probability("dropout", dropout)


class FeedForward(nn.Module):
    """The position-wise network: the same two-layer MLP applied to every token on its own."""

    def __init__(self, d_model: int, d_ff: int, dropout: float = 0.0, activation: str = "relu", bias: bool = True):
        super().__init__()
        check_feed_forward_sizes(d_model, d_ff, dropout)
        check_choice("activation", activation, PLAIN_ACTIVATIONS)  # "swiglu" needs a gate: GatedFeedForward
        self.linear1 = nn.Linear(d_model, d_ff, bias=bias)
        self.activation = ACTIVATIONS[activation]()
        self.linear2 = nn.Linear(d_ff, d_model, bias=bias)
        self.dropout = Dropout(dropout)

    def forward(self, x: Tensor) -> Tensor:
        return self.linear2(self.dropout(self.activation(self.linear1(x))))  # (batch, seq, d_model)


class GatedFeedForward(nn.Module):
    """SwiGLU (Shazeer 2020): linear2(SiLU(gate(x)) * linear1(x)), as in Llama.

    A second projection, the gate, decides per hidden unit how much of linear1's output passes.
    With three matrices instead of two, models pick d_ff about 2/3 as wide to keep the size.
    """

    def __init__(self, d_model: int, d_ff: int, dropout: float = 0.0, bias: bool = True):
        super().__init__()
        check_feed_forward_sizes(d_model, d_ff, dropout)
        self.gate = nn.Linear(d_model, d_ff, bias=bias)
        self.linear1 = nn.Linear(d_model, d_ff, bias=bias)
        self.activation = nn.SiLU()
        self.linear2 = nn.Linear(d_ff, d_model, bias=bias)
        self.dropout = Dropout(dropout)

    def forward(self, x: Tensor) -> Tensor:
        hidden = self.activation(self.gate(x)) * self.linear1(x)  # (batch, seq, d_ff)
        return self.linear2(self.dropout(hidden))  # (batch, seq, d_model)


def make_feed_forward(config: TransformerConfig) -> nn.Module:
    """The feed-forward network the config names: plain (ReLU, GELU) or gated (SwiGLU)."""
    if config.activation == "swiglu":
        return GatedFeedForward(config.d_model, config.d_ff, config.dropout, config.feed_forward_bias)
    return FeedForward(config.d_model, config.d_ff, config.dropout, config.activation, config.feed_forward_bias)


def make_attention(config: TransformerConfig, rotary: nn.Module | None = None) -> MultiHeadAttention:
    """Multi-head attention with the config's key/value heads and biases; `rotary` for self-attention."""
    return MultiHeadAttention(
        config.d_model,
        config.num_heads,
        config.dropout,
        rotary,
        num_kv_heads=config.num_kv_heads,
        bias=config.attention_bias,
    )


class EncoderLayer(nn.Module):
    """Self-attention then feed-forward.

    Built with `causal=True`, each position attends only to itself and earlier positions:
    that is the block of a decoder-only (GPT-style) model.
    """

    def __init__(self, config: TransformerConfig, causal: bool = False, rotary: nn.Module | None = None):
        super().__init__()
        self.norm_first = config.norm_first
        self.causal = causal
        self.self_attn = make_attention(config, rotary)
        self.feed_forward = make_feed_forward(config)
        self.norm1 = make_norm(config)
        self.norm2 = make_norm(config)
        self.dropout1 = Dropout(config.dropout)
        self.dropout2 = Dropout(config.dropout)

    def forward(
        self,
        x: Tensor,
        padding_mask: Tensor | None = None,
        need_weights: bool = False,
        cache: KeyValueCache | None = None,
    ) -> tuple[Tensor, Tensor | None]:
        """x (batch, seq, d_model) -> same shape, and the self-attention weights if asked."""
        if self.norm_first:
            attended, weights = self._self_attention_block(self.norm1(x), padding_mask, need_weights, cache)
            x = x + attended
            x = x + self._feed_forward_block(self.norm2(x))
        else:
            attended, weights = self._self_attention_block(x, padding_mask, need_weights, cache)
            x = self.norm1(x + attended)
            x = self.norm2(x + self._feed_forward_block(x))
        return x, weights

    def _self_attention_block(
        self, x: Tensor, padding_mask: Tensor | None, need_weights: bool, cache: KeyValueCache | None
    ) -> tuple[Tensor, Tensor | None]:
        out, weights = self.self_attn(
            x, key_padding_mask=padding_mask, is_causal=self.causal, need_weights=need_weights, cache=cache
        )
        return self.dropout1(out), weights

    def residual_outputs(self) -> list[nn.Linear]:
        """The projections whose outputs are added to the residual stream (for depth-scaled init)."""
        return [self.self_attn.out_proj, self.feed_forward.linear2]

    def _feed_forward_block(self, x: Tensor) -> Tensor:
        return self.dropout2(self.feed_forward(x))


@dataclass
class DecoderLayerCache:
    """What one decoder layer keeps between decoding steps: its own past keys/values and the memory's."""

    self_attention: KeyValueCache = field(default_factory=KeyValueCache)
    cross_attention: KeyValueCache = field(default_factory=lambda: KeyValueCache(frozen=True))

    def select(self, rows) -> "DecoderLayerCache":
        return DecoderLayerCache(self.self_attention.select(rows), self.cross_attention.select(rows))


class DecoderLayer(nn.Module):
    """Causal self-attention, cross-attention to the encoder's output ("memory"), feed-forward."""

    def __init__(self, config: TransformerConfig, rotary: nn.Module | None = None):
        super().__init__()
        self.norm_first = config.norm_first
        self.self_attn = make_attention(config, rotary)
        self.cross_attn = make_attention(config)
        self.feed_forward = make_feed_forward(config)
        self.norm1 = make_norm(config)
        self.norm2 = make_norm(config)
        self.norm3 = make_norm(config)
        self.dropout1 = Dropout(config.dropout)
        self.dropout2 = Dropout(config.dropout)
        self.dropout3 = Dropout(config.dropout)

    def forward(
        self,
        y: Tensor,
        memory: Tensor | None,
        target_padding_mask: Tensor | None = None,
        memory_padding_mask: Tensor | None = None,
        need_weights: bool = False,
        cache: DecoderLayerCache | None = None,
    ) -> tuple[Tensor, Tensor | None, Tensor | None]:
        """y (batch, tgt, d_model), memory (batch, src, d_model) -> (batch, tgt, d_model) and weights.

        With a `cache` holding the memory's keys and values, `memory` may be None.
        """
        self_cache = None if cache is None else cache.self_attention
        cross_cache = None if cache is None else cache.cross_attention
        if self.norm_first:
            attended, self_weights = self._self_attention_block(
                self.norm1(y), target_padding_mask, need_weights, self_cache
            )
            y = y + attended
            attended, cross_weights = self._cross_attention_block(
                self.norm2(y), memory, memory_padding_mask, need_weights, cross_cache
            )
            y = y + attended
            y = y + self._feed_forward_block(self.norm3(y))
        else:
            attended, self_weights = self._self_attention_block(y, target_padding_mask, need_weights, self_cache)
            y = self.norm1(y + attended)
            attended, cross_weights = self._cross_attention_block(
                y, memory, memory_padding_mask, need_weights, cross_cache
            )
            y = self.norm2(y + attended)
            y = self.norm3(y + self._feed_forward_block(y))
        return y, self_weights, cross_weights

    def _self_attention_block(
        self, y: Tensor, padding_mask: Tensor | None, need_weights: bool, cache: KeyValueCache | None
    ) -> tuple[Tensor, Tensor | None]:
        out, weights = self.self_attn(
            y, key_padding_mask=padding_mask, is_causal=True, need_weights=need_weights, cache=cache
        )
        return self.dropout1(out), weights

    def _cross_attention_block(
        self,
        y: Tensor,
        memory: Tensor | None,
        padding_mask: Tensor | None,
        need_weights: bool,
        cache: KeyValueCache | None,
    ) -> tuple[Tensor, Tensor | None]:
        if cache is None and memory is None:
            raise ValueError("cross-attention needs the encoder's memory, or a cache that holds its keys and values")
        key_value = memory if cache is None else None  # a cache already holds the memory's keys and values
        out, weights = self.cross_attn(
            y, key_value, key_padding_mask=padding_mask, need_weights=need_weights, cache=cache
        )
        return self.dropout2(out), weights

    def _feed_forward_block(self, y: Tensor) -> Tensor:
        return self.dropout3(self.feed_forward(y))

    def residual_outputs(self) -> list[nn.Linear]:
        """The projections whose outputs are added to the residual stream (for depth-scaled init)."""
        return [self.self_attn.out_proj, self.cross_attn.out_proj, self.feed_forward.linear2]


class SelfAttentionStack(nn.Module):
    """Encoder-shaped layers in turn, then a final norm when the config asks for one.

    Bidirectional (`causal=False`) it is the encoder; causal it is the stack of a decoder-only
    model, and then `caches` (one per layer) can hold earlier steps while generating.
    """

    def __init__(self, config: TransformerConfig, num_layers: int, causal: bool, rotary: nn.Module | None = None):
        super().__init__()
        self.layers = nn.ModuleList(EncoderLayer(config, causal=causal, rotary=rotary) for _ in range(num_layers))
        self.norm = make_norm(config) if config.use_final_norm else nn.Identity()

    def forward(
        self,
        x: Tensor,
        padding_mask: Tensor | None = None,
        need_weights: bool = False,
        caches: list[KeyValueCache] | None = None,
    ) -> tuple[Tensor, list[Tensor]]:
        """x (batch, seq, d_model) -> same shape, and each layer's self-attention weights if asked."""
        all_weights = []
        for index, layer in enumerate(self.layers):
            cache = None if caches is None else caches[index]
            x, weights = layer(x, padding_mask=padding_mask, need_weights=need_weights, cache=cache)
            if need_weights:
                all_weights.append(weights)
        return self.norm(x), all_weights


class Encoder(SelfAttentionStack):
    """The encoder: bidirectional layers whose output is the memory (batch, src, d_model)."""

    def __init__(self, config: TransformerConfig, num_layers: int, rotary: nn.Module | None = None):
        super().__init__(config, num_layers, causal=False, rotary=rotary)


class CausalStack(SelfAttentionStack):
    """The stack of a decoder-only model: encoder-shaped layers in which no position sees its future."""

    def __init__(self, config: TransformerConfig, num_layers: int, rotary: nn.Module | None = None):
        super().__init__(config, num_layers, causal=True, rotary=rotary)


class Decoder(nn.Module):
    """A stack of decoder layers, with a final norm when the config asks for one."""

    def __init__(self, config: TransformerConfig, num_layers: int, rotary: nn.Module | None = None):
        super().__init__()
        self.layers = nn.ModuleList(DecoderLayer(config, rotary=rotary) for _ in range(num_layers))
        self.norm = make_norm(config) if config.use_final_norm else nn.Identity()

    def forward(
        self,
        y: Tensor,
        memory: Tensor | None,
        target_padding_mask: Tensor | None = None,
        memory_padding_mask: Tensor | None = None,
        need_weights: bool = False,
        caches: list[DecoderLayerCache] | None = None,
    ) -> tuple[Tensor, list[Tensor], list[Tensor]]:
        """y (batch, tgt, d_model) and memory -> (batch, tgt, d_model), self- and cross-attention weights."""
        self_weights, cross_weights = [], []
        for index, layer in enumerate(self.layers):
            y, self_w, cross_w = layer(
                y,
                memory,
                target_padding_mask=target_padding_mask,
                memory_padding_mask=memory_padding_mask,
                need_weights=need_weights,
                cache=None if caches is None else caches[index],
            )
            if need_weights:
                self_weights.append(self_w)
                cross_weights.append(cross_w)
        return self.norm(y), self_weights, cross_weights

    def memory_caches(self, memory: Tensor) -> list[DecoderLayerCache]:
        """Fresh per-layer caches, with every layer's cross-attention keys/values of `memory` computed once."""
        return [DecoderLayerCache(cross_attention=layer.cross_attn.memory_cache(memory)) for layer in self.layers]

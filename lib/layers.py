"""Encoder and decoder layers, and the stacks built from them.

Each sub-layer (attention or feed-forward) sits inside a residual connection with a
LayerNorm. Post-LN (Vaswani et al. 2017) normalizes after adding the residual:
`x = norm(x + sublayer(x))`. Pre-LN (Xiong et al. 2020) normalizes the sub-layer's input:
`x = x + sublayer(norm(x))`, which keeps gradients well-behaved without a long warm-up.
"""

from torch import Tensor, nn

from lib.attention import MultiHeadAttention
from lib.config import TransformerConfig
from lib.dropout import Dropout


class FeedForward(nn.Module):
    """The position-wise network: the same two-layer MLP applied to every token on its own."""

    def __init__(self, d_model: int, d_ff: int, dropout: float = 0.0):
        super().__init__()
        self.linear1 = nn.Linear(d_model, d_ff)
        self.linear2 = nn.Linear(d_ff, d_model)
        self.dropout = Dropout(dropout)

    def forward(self, x: Tensor) -> Tensor:
        return self.linear2(self.dropout(self.linear1(x).relu()))  # (batch, seq, d_model)


class EncoderLayer(nn.Module):
    """Self-attention then feed-forward. With `is_causal` it is also a decoder-only (GPT) block."""

    def __init__(self, config: TransformerConfig):
        super().__init__()
        self.norm_first = config.norm_first
        self.self_attn = MultiHeadAttention(config.d_model, config.num_heads, config.dropout)
        self.feed_forward = FeedForward(config.d_model, config.d_ff, config.dropout)
        self.norm1 = nn.LayerNorm(config.d_model)
        self.norm2 = nn.LayerNorm(config.d_model)
        self.dropout1 = Dropout(config.dropout)
        self.dropout2 = Dropout(config.dropout)

    def forward(
        self,
        x: Tensor,
        padding_mask: Tensor | None = None,
        is_causal: bool = False,
        rotary: nn.Module | None = None,
        need_weights: bool = False,
    ) -> tuple[Tensor, Tensor | None]:
        """x (batch, seq, d_model) -> same shape, and the self-attention weights if asked."""

        def attend(h: Tensor) -> tuple[Tensor, Tensor | None]:
            out, weights = self.self_attn(
                h, key_padding_mask=padding_mask, is_causal=is_causal, rotary=rotary, need_weights=need_weights
            )
            return self.dropout1(out), weights

        if self.norm_first:
            attended, weights = attend(self.norm1(x))
            x = x + attended
            x = x + self.dropout2(self.feed_forward(self.norm2(x)))
        else:
            attended, weights = attend(x)
            x = self.norm1(x + attended)
            x = self.norm2(x + self.dropout2(self.feed_forward(x)))
        return x, weights


class DecoderLayer(nn.Module):
    """Causal self-attention, cross-attention to the encoder's output ("memory"), feed-forward."""

    def __init__(self, config: TransformerConfig):
        super().__init__()
        self.norm_first = config.norm_first
        self.self_attn = MultiHeadAttention(config.d_model, config.num_heads, config.dropout)
        self.cross_attn = MultiHeadAttention(config.d_model, config.num_heads, config.dropout)
        self.feed_forward = FeedForward(config.d_model, config.d_ff, config.dropout)
        self.norm1 = nn.LayerNorm(config.d_model)
        self.norm2 = nn.LayerNorm(config.d_model)
        self.norm3 = nn.LayerNorm(config.d_model)
        self.dropout1 = Dropout(config.dropout)
        self.dropout2 = Dropout(config.dropout)
        self.dropout3 = Dropout(config.dropout)

    def forward(
        self,
        y: Tensor,
        memory: Tensor,
        target_padding_mask: Tensor | None = None,
        memory_padding_mask: Tensor | None = None,
        rotary: nn.Module | None = None,
        need_weights: bool = False,
    ) -> tuple[Tensor, Tensor | None, Tensor | None]:
        """y (batch, tgt, d_model), memory (batch, src, d_model) -> (batch, tgt, d_model) and weights."""

        def attend_self(h: Tensor) -> tuple[Tensor, Tensor | None]:
            out, weights = self.self_attn(
                h, key_padding_mask=target_padding_mask, is_causal=True, rotary=rotary, need_weights=need_weights
            )
            return self.dropout1(out), weights

        def attend_memory(h: Tensor) -> tuple[Tensor, Tensor | None]:
            out, weights = self.cross_attn(h, memory, key_padding_mask=memory_padding_mask, need_weights=need_weights)
            return self.dropout2(out), weights

        if self.norm_first:
            attended, self_weights = attend_self(self.norm1(y))
            y = y + attended
            attended, cross_weights = attend_memory(self.norm2(y))
            y = y + attended
            y = y + self.dropout3(self.feed_forward(self.norm3(y)))
        else:
            attended, self_weights = attend_self(y)
            y = self.norm1(y + attended)
            attended, cross_weights = attend_memory(y)
            y = self.norm2(y + attended)
            y = self.norm3(y + self.dropout3(self.feed_forward(y)))
        return y, self_weights, cross_weights


class Encoder(nn.Module):
    """A stack of encoder layers, with a final LayerNorm when the config asks for one."""

    def __init__(self, config: TransformerConfig, num_layers: int):
        super().__init__()
        self.layers = nn.ModuleList(EncoderLayer(config) for _ in range(num_layers))
        self.norm = nn.LayerNorm(config.d_model) if config.use_final_norm else nn.Identity()

    def forward(
        self,
        x: Tensor,
        padding_mask: Tensor | None = None,
        is_causal: bool = False,
        rotary: nn.Module | None = None,
        need_weights: bool = False,
    ) -> tuple[Tensor, list[Tensor]]:
        all_weights = []
        for layer in self.layers:
            x, weights = layer(x, padding_mask, is_causal, rotary, need_weights)
            if need_weights:
                all_weights.append(weights)
        return self.norm(x), all_weights


class Decoder(nn.Module):
    """A stack of decoder layers, with a final LayerNorm when the config asks for one."""

    def __init__(self, config: TransformerConfig, num_layers: int):
        super().__init__()
        self.layers = nn.ModuleList(DecoderLayer(config) for _ in range(num_layers))
        self.norm = nn.LayerNorm(config.d_model) if config.use_final_norm else nn.Identity()

    def forward(
        self,
        y: Tensor,
        memory: Tensor,
        target_padding_mask: Tensor | None = None,
        memory_padding_mask: Tensor | None = None,
        rotary: nn.Module | None = None,
        need_weights: bool = False,
    ) -> tuple[Tensor, list[Tensor], list[Tensor]]:
        self_weights, cross_weights = [], []
        for layer in self.layers:
            y, self_w, cross_w = layer(y, memory, target_padding_mask, memory_padding_mask, rotary, need_weights)
            if need_weights:
                self_weights.append(self_w)
                cross_weights.append(cross_w)
        return self.norm(y), self_weights, cross_weights

"""The three transformer shapes, built from the same layers.

- `Transformer`: encoder-decoder, for sequence-to-sequence tasks (Vaswani et al. 2017).
- `DecoderOnlyTransformer`: one causal stack that predicts the next token (GPT-style).
- `EncoderOnlyTransformer`: one bidirectional stack with a per-token output head (BERT-style).
"""

from dataclasses import dataclass, field

from torch import Tensor, nn

from lib.config import TransformerConfig
from lib.dropout import Dropout
from lib.embedding import TokenEmbedding
from lib.layers import Decoder, Encoder
from lib.masks import padding_mask
from lib.positional import RotaryEmbedding, additive_positional


@dataclass
class AttentionMaps:
    """Attention weights of one forward pass, one (batch, heads, seq_q, seq_k) tensor per layer."""

    encoder_self: list[Tensor] = field(default_factory=list)
    decoder_self: list[Tensor] = field(default_factory=list)
    cross: list[Tensor] = field(default_factory=list)


class InputLayer(nn.Module):
    """Token ids (batch, seq) -> embedding x sqrt(d_model) + positions, then dropout."""

    def __init__(self, vocab_size: int, config: TransformerConfig):
        super().__init__()
        self.token_embedding = TokenEmbedding(vocab_size, config.d_model)
        self.positions = additive_positional(config.positional, config.d_model, config.max_len)
        self.dropout = Dropout(config.dropout)

    def forward(self, tokens: Tensor, name: str = "tokens") -> Tensor:
        return self.dropout(self.positions(self.token_embedding(tokens, name)))  # (batch, seq, d_model)


def make_rotary(config: TransformerConfig) -> RotaryEmbedding | None:
    return RotaryEmbedding(config.head_dim, config.max_len) if config.positional == "rotary" else None


def padding_or_none(tokens: Tensor, pad_id: int) -> Tensor | None:
    """The padding mask, or None when nothing is padded (which lets attention take its fastest path)."""
    mask = padding_mask(tokens, pad_id)
    return mask if mask.any() else None


def init_weights(model: nn.Module) -> None:
    """Xavier-uniform for every matrix, as torch.nn.Transformer does."""
    for parameter in model.parameters():
        if parameter.dim() > 1:
            nn.init.xavier_uniform_(parameter)


class Transformer(nn.Module):
    """Encoder-decoder transformer: source ids and target ids in, next-target-token logits out."""

    def __init__(self, config: TransformerConfig):
        super().__init__()
        self.config = config
        self.source_input = InputLayer(config.vocab_size, config)
        self.target_input = InputLayer(config.output_vocab_size, config)
        self.rotary = make_rotary(config)
        self.encoder = Encoder(config, config.num_encoder_layers)
        self.decoder = Decoder(config, config.num_decoder_layers)
        self.generator = nn.Linear(config.d_model, config.output_vocab_size)
        init_weights(self)
        if config.tie_embeddings:
            self.generator.weight = self.target_input.token_embedding.lookup.weight

    def encode(self, source: Tensor, need_weights: bool = False) -> tuple[Tensor, Tensor | None, list[Tensor]]:
        """source (batch, src) -> memory (batch, src, d_model), its padding mask, encoder weights."""
        x = self.source_input(source, "source")  # checks the ids first
        source_padding = padding_or_none(source, self.config.pad_id)
        memory, weights = self.encoder(x, source_padding, rotary=self.rotary, need_weights=need_weights)
        return memory, source_padding, weights

    def decode(
        self, target: Tensor, memory: Tensor, memory_padding: Tensor | None, need_weights: bool = False
    ) -> tuple[Tensor, list[Tensor], list[Tensor]]:
        """target (batch, tgt) and memory -> logits (batch, tgt, target vocab) and decoder weights."""
        y = self.target_input(target, "target")  # checks the ids first
        if target.size(0) != memory.size(0):
            raise ValueError(f"source has batch size {memory.size(0)} but target has {target.size(0)}")
        target_padding = padding_or_none(target, self.config.pad_id)
        y, self_weights, cross_weights = self.decoder(
            y, memory, target_padding, memory_padding, rotary=self.rotary, need_weights=need_weights
        )
        return self.generator(y), self_weights, cross_weights

    def forward(self, source: Tensor, target: Tensor) -> Tensor:
        """Logits (batch, tgt, target vocab): position t predicts target token t + 1."""
        memory, memory_padding, _ = self.encode(source)
        logits, _, _ = self.decode(target, memory, memory_padding)
        return logits

    def forward_with_attention(self, source: Tensor, target: Tensor) -> tuple[Tensor, AttentionMaps]:
        """The same logits as `forward`, plus every layer's attention weights."""
        memory, memory_padding, encoder_weights = self.encode(source, need_weights=True)
        logits, self_weights, cross_weights = self.decode(target, memory, memory_padding, need_weights=True)
        return logits, AttentionMaps(encoder_weights, self_weights, cross_weights)


class DecoderOnlyTransformer(nn.Module):
    """A causal stack of (encoder-shaped) layers predicting the next token: a small GPT."""

    def __init__(self, config: TransformerConfig):
        super().__init__()
        self.config = config
        self.input = InputLayer(config.vocab_size, config)
        self.rotary = make_rotary(config)
        self.layers = Encoder(config, config.num_decoder_layers)
        self.generator = nn.Linear(config.d_model, config.vocab_size)
        init_weights(self)
        if config.tie_embeddings:
            self.generator.weight = self.input.token_embedding.lookup.weight

    def forward(self, tokens: Tensor) -> Tensor:
        """tokens (batch, seq) -> logits (batch, seq, vocab); position t sees tokens 0..t only."""
        return self.forward_with_attention(tokens, need_weights=False)[0]

    def forward_with_attention(self, tokens: Tensor, need_weights: bool = True) -> tuple[Tensor, AttentionMaps]:
        x = self.input(tokens)  # checks the ids first
        padding = padding_or_none(tokens, self.config.pad_id)
        x, weights = self.layers(x, padding, is_causal=True, rotary=self.rotary, need_weights=need_weights)
        return self.generator(x), AttentionMaps(decoder_self=weights)


class EncoderOnlyTransformer(nn.Module):
    """A bidirectional stack with a per-token output head: every position sees every other."""

    def __init__(self, config: TransformerConfig):
        super().__init__()
        self.config = config
        self.input = InputLayer(config.vocab_size, config)
        self.rotary = make_rotary(config)
        self.layers = Encoder(config, config.num_encoder_layers)
        self.head = nn.Linear(config.d_model, config.output_vocab_size)
        init_weights(self)

    def forward(self, tokens: Tensor) -> Tensor:
        """tokens (batch, seq) -> logits (batch, seq, output vocab)."""
        return self.forward_with_attention(tokens, need_weights=False)[0]

    def forward_with_attention(self, tokens: Tensor, need_weights: bool = True) -> tuple[Tensor, AttentionMaps]:
        x = self.input(tokens)  # checks the ids first
        padding = padding_or_none(tokens, self.config.pad_id)
        x, weights = self.layers(x, padding, rotary=self.rotary, need_weights=need_weights)
        return self.head(x), AttentionMaps(encoder_self=weights)


def count_parameters(model: nn.Module) -> int:
    """Trainable parameters, each shared tensor counted once."""
    return sum(p.numel() for p in {id(p): p for p in model.parameters() if p.requires_grad}.values())

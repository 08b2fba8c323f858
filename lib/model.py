"""The three transformer shapes, built from the same layers.

- `Transformer`: encoder-decoder, for sequence-to-sequence tasks (Vaswani et al. 2017).
- `DecoderOnlyTransformer`: one causal stack that predicts the next token (GPT-style).
- `EncoderOnlyTransformer`: one bidirectional stack with a per-token output head (BERT-style).

All three share one shape of API: `forward` returns logits, `forward_with_attention` returns
`(logits, AttentionMaps)`. The two that generate also offer `start_decoding` / `decode_next`,
which decode one token at a time with a key/value cache (see lib/decoding.py).
"""

from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from lib.attention import KeyValueCache
from lib.config import TransformerConfig
from lib.dropout import Dropout
from lib.embedding import TokenEmbedding
from lib.layers import CausalStack, Decoder, DecoderLayerCache, Encoder
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

    def forward(self, tokens: Tensor, name: str = "tokens", offset: int = 0) -> Tensor:
        """`offset` is the position of the first token (> 0 when decoding one step at a time)."""
        embedded = self.token_embedding(tokens, name)  # checks the ids first
        return self.dropout(self.positions(embedded, offset))  # (batch, seq, d_model)


def make_rotary(config: TransformerConfig) -> RotaryEmbedding | None:
    """One rotary module per model, handed to every self-attention (it holds no weights)."""
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


def check_next_tokens(tokens: Tensor, batch: int) -> None:
    """`decode_next` takes one token per row: a (batch,) tensor matching the state's batch."""
    if tokens.dim() != 1:
        raise ValueError(f"decode_next takes the last token of each row, shape (batch,), got {tuple(tokens.shape)}")
    if tokens.size(0) != batch:
        raise ValueError(f"the decoding state holds a batch of {batch} but {tokens.size(0)} tokens were given")


@dataclass
class TransformerDecodingState:
    """Everything an encoder-decoder reuses between decoding steps (see `Transformer.start_decoding`)."""

    memory_padding: Tensor | None  # (batch, src), True at padded source positions
    caches: list[DecoderLayerCache]  # one per decoder layer
    length: int = 0  # target tokens decoded so far
    target_padding: Tensor | None = None  # (batch, length), True where a decoded token was <pad>

    @property
    def batch_size(self) -> int:
        return self.caches[0].cross_attention.keys.size(0)

    def select(self, rows: Tensor) -> "TransformerDecodingState":
        """The state of batch rows `rows`, e.g. to reorder or repeat beam-search hypotheses."""
        return TransformerDecodingState(
            select_rows(self.memory_padding, rows),
            [cache.select(rows) for cache in self.caches],
            self.length,
            select_rows(self.target_padding, rows),
        )


@dataclass
class DecoderOnlyDecodingState:
    """The keys and values of every token a decoder-only model has read so far, per layer."""

    caches: list[KeyValueCache]
    batch_size: int
    length: int = 0
    padding: Tensor | None = None  # (batch, length), True where a token read so far was <pad>

    def select(self, rows: Tensor) -> "DecoderOnlyDecodingState":
        caches = [cache.select(rows) for cache in self.caches]
        return DecoderOnlyDecodingState(caches, rows.numel(), self.length, select_rows(self.padding, rows))


def select_rows(tensor: Tensor | None, rows: Tensor) -> Tensor | None:
    return None if tensor is None else tensor.index_select(0, rows)


def grow_padding(padding: Tensor | None, new_tokens: Tensor, pad_id: int) -> Tensor:
    """The padding mask of every token read so far, (batch, length + new), from the old one and new_tokens (batch, new).

    A cached step must mask a <pad> it reads exactly as the full decoder masks one in its prefix.
    """
    new = new_tokens == pad_id
    return new if padding is None else torch.cat([padding, new], dim=1)


def any_or_none(mask: Tensor) -> Tensor | None:
    return mask if mask.any() else None


class Transformer(nn.Module):
    """Encoder-decoder transformer: source ids and target ids in, next-target-token logits out."""

    config_class = TransformerConfig

    def __init__(self, config: TransformerConfig):
        super().__init__()
        self.config = config
        self.source_input = InputLayer(config.vocab_size, config)
        self.target_input = InputLayer(config.output_vocab_size, config)
        self.rotary = make_rotary(config)
        self.encoder = Encoder(config, config.num_encoder_layers, rotary=self.rotary)
        self.decoder = Decoder(config, config.num_decoder_layers, rotary=self.rotary)
        self.generator = nn.Linear(config.d_model, config.output_vocab_size)
        init_weights(self)
        if config.tie_embeddings:
            self.generator.weight = self.target_input.token_embedding.lookup.weight

    def encode(self, source: Tensor, need_weights: bool = False) -> tuple[Tensor, Tensor | None, list[Tensor]]:
        """source (batch, src) -> memory (batch, src, d_model), its padding mask, encoder weights."""
        x = self.source_input(source, "source")
        source_padding = padding_or_none(source, self.config.pad_id)
        memory, weights = self.encoder(x, padding_mask=source_padding, need_weights=need_weights)
        return memory, source_padding, weights

    def decode(
        self, target: Tensor, memory: Tensor, memory_padding: Tensor | None, need_weights: bool = False
    ) -> tuple[Tensor, list[Tensor], list[Tensor]]:
        """target (batch, tgt) and memory -> logits (batch, tgt, target vocab) and decoder weights."""
        y = self.target_input(target, "target")
        if target.size(0) != memory.size(0):
            raise ValueError(f"source has batch size {memory.size(0)} but target has {target.size(0)}")
        y, self_weights, cross_weights = self.decoder(
            y,
            memory,
            target_padding_mask=padding_or_none(target, self.config.pad_id),
            memory_padding_mask=memory_padding,
            need_weights=need_weights,
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
        return logits, AttentionMaps(encoder_self=encoder_weights, decoder_self=self_weights, cross=cross_weights)

    def start_decoding(self, source: Tensor) -> TransformerDecodingState:
        """Encode `source` (batch, src) once and project the memory's keys and values for every decoder layer."""
        memory, memory_padding, _ = self.encode(source)
        return TransformerDecodingState(memory_padding, self.decoder.memory_caches(memory))

    def decode_next(self, state: TransformerDecodingState, tokens: Tensor) -> Tensor:
        """tokens (batch,): each row's latest token (<bos> first) -> logits (batch, target vocab) for the next.

        Only the new token is run through the decoder; earlier tokens' keys and values come
        from the cache, which grows by one position. Gives the same tokens as re-reading the prefix.
        """
        check_next_tokens(tokens, state.batch_size)
        y = self.target_input(tokens[:, None], "target", offset=state.length)  # (batch, 1, d_model)
        state.target_padding = grow_padding(state.target_padding, tokens[:, None], self.config.pad_id)
        y, _, _ = self.decoder(
            y,
            None,
            target_padding_mask=any_or_none(state.target_padding),
            memory_padding_mask=state.memory_padding,
            caches=state.caches,
        )
        state.length += 1
        return self.generator(y[:, -1])


class DecoderOnlyTransformer(nn.Module):
    """A causal stack predicting the next token: a small GPT (Radford et al. 2019)."""

    config_class = TransformerConfig

    def __init__(self, config: TransformerConfig):
        super().__init__()
        if config.target_vocab_size not in (None, config.vocab_size):
            raise ValueError("a decoder-only model predicts its own vocabulary: leave target_vocab_size unset")
        self.config = config
        self.input = InputLayer(config.vocab_size, config)
        self.rotary = make_rotary(config)
        self.layers = CausalStack(config, config.num_decoder_layers, rotary=self.rotary)
        self.generator = nn.Linear(config.d_model, config.vocab_size)
        init_weights(self)
        if config.tie_embeddings:
            self.generator.weight = self.input.token_embedding.lookup.weight

    def forward(self, tokens: Tensor) -> Tensor:
        """tokens (batch, seq) -> logits (batch, seq, vocab); position t sees tokens 0..t only."""
        return self._run(tokens, need_weights=False)[0]

    def forward_with_attention(self, tokens: Tensor) -> tuple[Tensor, AttentionMaps]:
        """The same logits as `forward`, plus every layer's (causal) self-attention weights."""
        logits, weights = self._run(tokens, need_weights=True)
        return logits, AttentionMaps(decoder_self=weights)

    def _run(self, tokens: Tensor, need_weights: bool) -> tuple[Tensor, list[Tensor]]:
        x = self.input(tokens)
        padding = padding_or_none(tokens, self.config.pad_id)
        x, weights = self.layers(x, padding_mask=padding, need_weights=need_weights)
        return self.generator(x), weights

    def start_decoding(self, prefix: Tensor) -> DecoderOnlyDecodingState:
        """Read `prefix` (batch, n), n >= 0, into a fresh key/value cache; `decode_next` continues from there."""
        state = DecoderOnlyDecodingState([KeyValueCache() for _ in self.layers.layers], prefix.size(0))
        if prefix.dim() == 2 and prefix.size(1) == 0:
            return state
        x = self.input(prefix, "prefix")  # checks the ids
        state.padding = grow_padding(None, prefix, self.config.pad_id)
        self.layers(x, padding_mask=any_or_none(state.padding), caches=state.caches)
        state.length = prefix.size(1)
        return state

    def decode_next(self, state: DecoderOnlyDecodingState, tokens: Tensor) -> Tensor:
        """tokens (batch,): each row's latest token -> logits (batch, vocab) for the one after it."""
        check_next_tokens(tokens, state.batch_size)
        x = self.input(tokens[:, None], "tokens", offset=state.length)  # (batch, 1, d_model)
        state.padding = grow_padding(state.padding, tokens[:, None], self.config.pad_id)
        x, _ = self.layers(x, padding_mask=any_or_none(state.padding), caches=state.caches)
        state.length += 1
        return self.generator(x[:, -1])


class EncoderOnlyTransformer(nn.Module):
    """A bidirectional stack with a per-token output head: every position sees every other (BERT-style)."""

    config_class = TransformerConfig

    def __init__(self, config: TransformerConfig):
        super().__init__()
        if config.tie_embeddings:
            raise ValueError("the encoder-only model has no output embedding to tie: set tie_embeddings=False")
        self.config = config
        self.input = InputLayer(config.vocab_size, config)
        self.rotary = make_rotary(config)
        self.layers = Encoder(config, config.num_encoder_layers, rotary=self.rotary)
        self.head = nn.Linear(config.d_model, config.output_vocab_size)
        init_weights(self)

    def forward(self, tokens: Tensor) -> Tensor:
        """tokens (batch, seq) -> logits (batch, seq, output vocab)."""
        return self._run(tokens, need_weights=False)[0]

    def forward_with_attention(self, tokens: Tensor) -> tuple[Tensor, AttentionMaps]:
        """The same logits as `forward`, plus every layer's self-attention weights."""
        logits, weights = self._run(tokens, need_weights=True)
        return logits, AttentionMaps(encoder_self=weights)

    def _run(self, tokens: Tensor, need_weights: bool) -> tuple[Tensor, list[Tensor]]:
        x = self.input(tokens)
        padding = padding_or_none(tokens, self.config.pad_id)
        x, weights = self.layers(x, padding_mask=padding, need_weights=need_weights)
        return self.head(x), weights


def count_parameters(model: nn.Module) -> int:
    """Trainable parameters, each shared tensor counted once."""
    return sum(p.numel() for p in {id(p): p for p in model.parameters() if p.requires_grad}.values())

"""The three transformer shapes, built from the same layers.

- `Transformer`: encoder-decoder, for sequence-to-sequence tasks (Vaswani et al. 2017).
- `DecoderOnlyTransformer`: one causal stack that predicts the next token (GPT-style).
- `EncoderOnlyTransformer`: one bidirectional stack with a per-token output head (BERT-style).

All three share one shape of API: `forward` returns logits, `forward_with_attention` returns
`(logits, AttentionMaps)`. The two that generate also offer `start_decoding` / `decode_next`,
which decode one token at a time with a key/value cache (see lib/decoding.py).
"""

import math
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from lib.attention import KeyValueCache
from lib.config import TransformerConfig
from lib.dropout import Dropout
from lib.embedding import TokenEmbedding, check_token_ids
from lib.layers import ACTIVATIONS, CausalStack, Decoder, DecoderLayerCache, Encoder, SelfAttentionStack
from lib.masks import check_mask_values, padding_mask
from lib.norms import make_norm
from lib.positional import Offset, RotaryEmbedding, additive_positional


@dataclass
class AttentionMaps:
    """Attention weights of one forward pass, one (batch, heads, seq_q, seq_k) tensor per layer."""

    encoder_self: list[Tensor] = field(default_factory=list)
    decoder_self: list[Tensor] = field(default_factory=list)
    cross: list[Tensor] = field(default_factory=list)


class InputLayer(nn.Module):
    """Token ids (batch, seq) -> embedding (x sqrt(d_model) if the config scales) + positions, then dropout.

    BERT adds a third embedding, of each token's segment (`token_types`: 0 for sentence A, 1 for B),
    and normalizes the sum (`embedding_norm`); both exist only when the config asks for them.
    """

    def __init__(self, vocab_size: int, config: TransformerConfig):
        super().__init__()
        self.token_embedding = TokenEmbedding(vocab_size, config.d_model, scale=config.scale_embeddings)
        self.positions = additive_positional(config.positional, config.d_model, config.max_len)
        self.token_types = nn.Embedding(config.num_token_types, config.d_model) if config.num_token_types else None
        self.norm = make_norm(config) if config.embedding_norm else nn.Identity()
        self.dropout = Dropout(config.dropout)

    def forward(
        self, tokens: Tensor, name: str = "tokens", offset: Offset = 0, token_types: Tensor | None = None
    ) -> Tensor:
        """`offset` is the position of the first token (> 0 when decoding one step at a time)."""
        embedded = self.token_embedding(tokens, name)  # checks the ids first
        x = self.positions(embedded, offset)  # (batch, seq, d_model)
        if self.token_types is not None:
            x = x + self.token_types(self._segments(tokens, token_types))
        elif token_types is not None:
            raise ValueError("token_types were given but the config has num_token_types=0")
        return self.dropout(self.norm(x))

    def _segments(self, tokens: Tensor, token_types: Tensor | None) -> Tensor:
        """The segment ids (batch, seq), all 0 when none are given."""
        if token_types is None:
            return torch.zeros_like(tokens, dtype=torch.long)
        check_token_ids(token_types, self.token_types.num_embeddings, "token_types")
        if token_types.shape != tokens.shape:
            raise ValueError(f"token_types has shape {tuple(token_types.shape)}, tokens {tuple(tokens.shape)}")
        return token_types.long()


def make_rotary(config: TransformerConfig) -> RotaryEmbedding | None:
    """One rotary module per model, handed to every self-attention (it holds no weights)."""
    if config.positional != "rotary":
        return None
    return RotaryEmbedding(config.head_dim, config.max_len, config.rotary_base, config.rotary_scaling)


def padding_or_none(tokens: Tensor, pad_id: int | None) -> Tensor | None:
    """The padding mask, or None when nothing is padded (which lets attention take its fastest path)."""
    if pad_id is None:
        return None
    mask = padding_mask(tokens, pad_id)
    return mask if mask.any() else None


def given_or_pad_id_padding(tokens: Tensor, mask: Tensor | None, pad_id: int | None) -> Tensor:
    """(batch, seq) bool, True at padding: the caller's `padding_mask`, else where tokens == pad_id."""
    if mask is None:
        return torch.zeros_like(tokens, dtype=torch.bool) if pad_id is None else padding_mask(tokens, pad_id)
    check_mask_values(mask, "padding_mask")
    if mask.dtype != torch.bool:
        raise TypeError(f"padding_mask must be bool (True at padding), got {mask.dtype}")
    if mask.shape != tokens.shape:
        raise ValueError(f"padding_mask has shape {tuple(mask.shape)} but the tokens {tuple(tokens.shape)}")
    return mask


def start_offsets(padding: Tensor) -> Offset:
    """Each row's first position: 0, or -k for a row that begins with k padding tokens (left padding).

    So a left-padded row's first real token stands at position 0, as it would alone. An int
    when no row begins with padding, which keeps the common case as fast as before.
    """
    leading = padding.long().cumprod(dim=1).sum(dim=1)  # (batch,) padding tokens before the first real one
    return 0 if not leading.any() else -leading


def init_weights(model: nn.Module, config: TransformerConfig) -> None:
    """Xavier-uniform for every matrix, as torch.nn.Transformer does, or N(0, init_std) (GPT-2).

    With `depth_scaled_init`, the projections that write into the residual stream start
    smaller by 1/sqrt(2 * layers) (GPT-2): each of a stack's 2 * layers residual branches adds
    to the same sum, and this keeps that sum's variance from growing with depth.
    """
    if config.init == "xavier":
        for parameter in model.parameters():
            if parameter.dim() > 1:
                nn.init.xavier_uniform_(parameter)
    else:
        for module in model.modules():
            if isinstance(module, (nn.Linear, nn.Embedding)):
                nn.init.normal_(module.weight, std=config.init_std)
            if isinstance(module, nn.Linear) and module.bias is not None:
                nn.init.zeros_(module.bias)
    if config.depth_scaled_init:
        for stack in model.modules():
            if isinstance(stack, (SelfAttentionStack, Decoder)) and len(stack.layers):
                with torch.no_grad():
                    for layer in stack.layers:
                        for projection in layer.residual_outputs():
                            projection.weight.mul_(1 / math.sqrt(2 * len(stack.layers)))


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
    padding: Tensor | None = None  # (batch, length), True where a token read so far was padding
    start: Offset = 0  # each row's first position: -k after k tokens of left padding

    def select(self, rows: Tensor) -> "DecoderOnlyDecodingState":
        caches = [cache.select(rows) for cache in self.caches]
        start = self.start if isinstance(self.start, int) else self.start.index_select(0, rows)
        return DecoderOnlyDecodingState(caches, rows.numel(), self.length, select_rows(self.padding, rows), start)


def select_rows(tensor: Tensor | None, rows: Tensor) -> Tensor | None:
    return None if tensor is None else tensor.index_select(0, rows)


def grow_padding(padding: Tensor | None, new_tokens: Tensor, pad_id: int | None) -> Tensor:
    """The padding mask of every token read so far, (batch, length + new), from the old one and new_tokens (batch, new).

    A cached step must mask a <pad> it reads exactly as the full decoder masks one in its prefix.
    """
    new = torch.zeros_like(new_tokens, dtype=torch.bool) if pad_id is None else new_tokens == pad_id
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
        self.generator = nn.Linear(config.d_model, config.output_vocab_size, bias=config.output_bias)
        init_weights(self, config)
        if config.share_embeddings:  # section 3.4: one matrix for both embeddings and the output
            self.target_input.token_embedding.lookup.weight = self.source_input.token_embedding.lookup.weight
            self.generator.weight = self.source_input.token_embedding.lookup.weight
        elif config.tie_embeddings:
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
        self.generator = nn.Linear(config.d_model, config.vocab_size, bias=config.output_bias)
        init_weights(self, config)
        if config.tie_embeddings or config.share_embeddings:
            self.generator.weight = self.input.token_embedding.lookup.weight

    def forward(self, tokens: Tensor, padding_mask: Tensor | None = None) -> Tensor:
        """tokens (batch, seq) -> logits (batch, seq, vocab); position t sees tokens 0..t only.

        `padding_mask` (batch, seq), True at padding, says which tokens no position may attend to;
        without it, the tokens equal to config.pad_id are the padding. A row that begins with
        padding (left padding) has its positions counted from its first real token.
        """
        return self._run(tokens, padding_mask, need_weights=False)[0]

    def forward_with_attention(
        self, tokens: Tensor, padding_mask: Tensor | None = None
    ) -> tuple[Tensor, AttentionMaps]:
        """The same logits as `forward`, plus every layer's (causal) self-attention weights."""
        logits, weights = self._run(tokens, padding_mask, need_weights=True)
        return logits, AttentionMaps(decoder_self=weights)

    def _run(self, tokens: Tensor, padding_mask: Tensor | None, need_weights: bool) -> tuple[Tensor, list[Tensor]]:
        padding = given_or_pad_id_padding(tokens, padding_mask, self.config.pad_id)
        x = self.input(tokens, offset=start_offsets(padding))
        x, weights = self.layers(x, padding_mask=any_or_none(padding), need_weights=need_weights)
        return self.generator(x), weights

    def start_decoding(self, prefix: Tensor, padding_mask: Tensor | None = None) -> DecoderOnlyDecodingState:
        """Read `prefix` (batch, n), n >= 0, into a fresh key/value cache; `decode_next` continues from there.

        `padding_mask` (batch, n) marks the prefix's padding, as in `forward`.
        """
        state = DecoderOnlyDecodingState([KeyValueCache() for _ in self.layers.layers], prefix.size(0))
        if prefix.dim() == 2 and prefix.size(1) == 0:
            return state
        check_token_ids(prefix, self.config.vocab_size, "prefix")
        state.padding = given_or_pad_id_padding(prefix, padding_mask, self.config.pad_id)
        state.start = start_offsets(state.padding)
        x = self.input(prefix, "prefix", offset=state.start)
        self.layers(x, padding_mask=any_or_none(state.padding), caches=state.caches)
        state.length = prefix.size(1)
        return state

    def decode_next(self, state: DecoderOnlyDecodingState, tokens: Tensor) -> Tensor:
        """tokens (batch,): each row's latest token -> logits (batch, vocab) for the one after it."""
        check_next_tokens(tokens, state.batch_size)
        x = self.input(tokens[:, None], "tokens", offset=state.length + state.start)  # (batch, 1, d_model)
        state.padding = grow_padding(state.padding, tokens[:, None], self.config.pad_id)
        x, _ = self.layers(x, padding_mask=any_or_none(state.padding), caches=state.caches)
        state.length += 1
        return self.generator(x[:, -1])


class EncoderOnlyTransformer(nn.Module):
    """A bidirectional stack with a per-token output head: every position sees every other (BERT-style)."""

    config_class = TransformerConfig

    def __init__(self, config: TransformerConfig):
        super().__init__()
        if (config.tie_embeddings or config.share_embeddings) and config.output_vocab_size != config.vocab_size:
            raise ValueError(
                f"tie_embeddings needs the output vocabulary to be the input's, got target_vocab_size "
                f"{config.output_vocab_size} and vocab_size {config.vocab_size}"
            )
        self.config = config
        self.input = InputLayer(config.vocab_size, config)
        self.rotary = make_rotary(config)
        self.layers = Encoder(config, config.num_encoder_layers, rotary=self.rotary)
        self.head_transform = HeadTransform(config) if config.head_transform else nn.Identity()
        self.head = nn.Linear(config.d_model, config.output_vocab_size, bias=config.output_bias)
        init_weights(self, config)
        if config.tie_embeddings or config.share_embeddings:  # BERT's masked-LM head reuses the embedding
            self.head.weight = self.input.token_embedding.lookup.weight

    def forward(self, tokens: Tensor, padding_mask: Tensor | None = None, token_types: Tensor | None = None) -> Tensor:
        """tokens (batch, seq) -> logits (batch, seq, output vocab).

        `padding_mask` (batch, seq), True at padding (default: where tokens == config.pad_id);
        `token_types` (batch, seq), each token's segment, for a config with num_token_types.
        """
        return self._run(tokens, padding_mask, token_types, need_weights=False)[0]

    def forward_with_attention(
        self, tokens: Tensor, padding_mask: Tensor | None = None, token_types: Tensor | None = None
    ) -> tuple[Tensor, AttentionMaps]:
        """The same logits as `forward`, plus every layer's self-attention weights."""
        logits, weights = self._run(tokens, padding_mask, token_types, need_weights=True)
        return logits, AttentionMaps(encoder_self=weights)

    def encode(self, tokens: Tensor, padding_mask: Tensor | None = None, token_types: Tensor | None = None) -> Tensor:
        """The last layer's hidden states (batch, seq, d_model), before the head."""
        return self._hidden(tokens, padding_mask, token_types, need_weights=False)[0]

    def _run(
        self, tokens: Tensor, padding_mask: Tensor | None, token_types: Tensor | None, need_weights: bool
    ) -> tuple[Tensor, list[Tensor]]:
        x, weights = self._hidden(tokens, padding_mask, token_types, need_weights)
        return self.head(self.head_transform(x)), weights

    def _hidden(
        self, tokens: Tensor, padding_mask: Tensor | None, token_types: Tensor | None, need_weights: bool
    ) -> tuple[Tensor, list[Tensor]]:
        padding = given_or_pad_id_padding(tokens, padding_mask, self.config.pad_id)
        x = self.input(tokens, token_types=token_types)
        return self.layers(x, padding_mask=any_or_none(padding), need_weights=need_weights)


class HeadTransform(nn.Module):
    """BERT's masked-LM head starts with one more linear map, the activation and a norm, per token."""

    def __init__(self, config: TransformerConfig):
        super().__init__()
        self.dense = nn.Linear(config.d_model, config.d_model)
        self.activation = ACTIVATIONS[config.activation]()
        self.norm = make_norm(config)

    def forward(self, x: Tensor) -> Tensor:
        return self.norm(self.activation(self.dense(x)))  # (batch, seq, d_model)


def count_parameters(model: nn.Module) -> int:
    """Trainable parameters, each shared tensor counted once."""
    return sum(p.numel() for p in {id(p): p for p in model.parameters() if p.requires_grad}.values())

"""Recurrent networks, the models attention was invented for: cells, layers and an encoder-decoder.

- `ElmanRNNCell` and `GRUCell`: one time step, h_t = cell(x_t, h_{t-1}), with torch's weight layout,
  so each equals `torch.nn.RNN` / `torch.nn.GRU` given the same weights (tests/test_recurrent.py).
- `run_over_time`: one cell applied step by step along a sequence, forwards or backwards. Padding
  positions leave the state unchanged, as `torch.nn.utils.rnn.pack_padded_sequence` would.
- `RecurrentEncoder`: a bidirectional recurrent layer over embedded source tokens.
- `RecurrentSeq2Seq`: the encoder-decoder of Cho et al. (2014) (`attention=False`: the decoder
  sees one fixed context vector) or of Bahdanau et al. (2015) (`attention=True`: additive
  attention picks a new context for every output token).

The seq2seq model speaks lib's incremental decoding protocol (`start_decoding`, `decode_next`,
`state.select`), so `lib.decoding.greedy_decode`, `beam_search` and `sequence_accuracy` work on it.
"""

import math
from dataclasses import asdict, dataclass, field
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from lib.embedding import check_token_ids
from lib.model import AttentionMaps
from lib.tokenizers import BOS_ID, EOS_ID, PAD_ID

CellKind = Literal["rnn", "gru"]


@dataclass
class RecurrentConfig:
    """Sizes and switches of a recurrent encoder-decoder; defaults train on a CPU in seconds."""

    vocab_size: int = 32  # source vocabulary (and target, unless target_vocab_size is set)
    target_vocab_size: int | None = None
    embedding_dim: int = 32  # width of every token vector
    hidden_size: int = 64  # width of the state h (per direction in the encoder)
    cell: CellKind = "gru"  # "rnn": Elman (1990); "gru": Cho et al. (2014)
    attention: bool = True  # False: one fixed context vector (Cho 2014); True: Bahdanau (2015)
    attention_dim: int | None = None  # width of the additive-attention layer; None means hidden_size
    pad_id: int = PAD_ID
    bos_id: int = BOS_ID
    eos_id: int = EOS_ID

    def __post_init__(self) -> None:
        for name in ("vocab_size", "embedding_dim", "hidden_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if self.cell not in ("rnn", "gru"):
            raise ValueError(f"unknown recurrent cell {self.cell!r}; choose 'rnn' or 'gru'")

    @property
    def output_vocab_size(self) -> int:
        return self.target_vocab_size or self.vocab_size

    @property
    def score_dim(self) -> int:
        return self.attention_dim or self.hidden_size

    def to_dict(self) -> dict:
        return asdict(self)


def _uniform_init(module: nn.Module, hidden_size: int) -> None:
    """torch's recurrent initialization: every weight and bias uniform in [-1/sqrt(H), 1/sqrt(H)]."""
    bound = 1 / math.sqrt(hidden_size)
    for parameter in module.parameters():
        nn.init.uniform_(parameter, -bound, bound)


class ElmanRNNCell(nn.Module):
    """h_t = tanh(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)  (Elman 1990), torch.nn.RNNCell's layout."""

    gates = 1  # how many H-wide blocks the input projection has

    def __init__(self, input_size: int, hidden_size: int):
        super().__init__()
        self.input_size, self.hidden_size = input_size, hidden_size
        self.weight_ih = nn.Parameter(torch.empty(hidden_size, input_size))  # W_ih (H, in)
        self.weight_hh = nn.Parameter(torch.empty(hidden_size, hidden_size))  # W_hh (H, H)
        self.bias_ih = nn.Parameter(torch.empty(hidden_size))
        self.bias_hh = nn.Parameter(torch.empty(hidden_size))
        _uniform_init(self, hidden_size)

    def project_input(self, x: Tensor) -> Tensor:
        """x (..., in) -> W_ih x + b_ih (..., H). Needs no state, so a layer does all steps at once."""
        return F.linear(x, self.weight_ih, self.bias_ih)

    def step(self, projected_x: Tensor, h: Tensor) -> Tensor:
        """projected_x (batch, H), h (batch, H) -> next h (batch, H): the part that must wait for h."""
        return torch.tanh(projected_x + F.linear(h, self.weight_hh, self.bias_hh))

    def forward(self, x: Tensor, h: Tensor) -> Tensor:
        return self.step(self.project_input(x), h)


class GRUCell(nn.Module):
    """The gated recurrent unit of Cho et al. (2014), in torch.nn.GRUCell's layout (gates r, z, n).

        r = sigmoid(W_ir x + b_ir + W_hr h + b_hr)        reset gate: how much of h the candidate sees
        z = sigmoid(W_iz x + b_iz + W_hz h + b_hz)        update gate: how much of h is kept as it is
        n = tanh(W_in x + b_in + r * (W_hn h + b_hn))     candidate state
        h_next = (1 - z) * n + z * h

    With z near 1 the state is copied unchanged, and so is its gradient: that is how gating
    lengthens the span over which an output still depends on an input.
    """

    gates = 3

    def __init__(self, input_size: int, hidden_size: int):
        super().__init__()
        self.input_size, self.hidden_size = input_size, hidden_size
        self.weight_ih = nn.Parameter(torch.empty(3 * hidden_size, input_size))  # [W_ir; W_iz; W_in] (3H, in)
        self.weight_hh = nn.Parameter(torch.empty(3 * hidden_size, hidden_size))  # [W_hr; W_hz; W_hn] (3H, H)
        self.bias_ih = nn.Parameter(torch.empty(3 * hidden_size))
        self.bias_hh = nn.Parameter(torch.empty(3 * hidden_size))
        _uniform_init(self, hidden_size)

    def project_input(self, x: Tensor) -> Tensor:
        """x (..., in) -> the input's share of all three gates (..., 3H)."""
        return F.linear(x, self.weight_ih, self.bias_ih)

    def step(self, projected_x: Tensor, h: Tensor) -> Tensor:
        """projected_x (batch, 3H), h (batch, H) -> next h (batch, H)."""
        x_r, x_z, x_n = projected_x.chunk(3, dim=-1)  # each (batch, H)
        h_r, h_z, h_n = F.linear(h, self.weight_hh, self.bias_hh).chunk(3, dim=-1)
        reset = torch.sigmoid(x_r + h_r)
        update = torch.sigmoid(x_z + h_z)
        candidate = torch.tanh(x_n + reset * h_n)
        return (1 - update) * candidate + update * h

    def forward(self, x: Tensor, h: Tensor) -> Tensor:
        return self.step(self.project_input(x), h)


CELL_CLASSES = {"rnn": ElmanRNNCell, "gru": GRUCell}


def run_over_time(
    cell: nn.Module,
    inputs: Tensor,
    is_real: Tensor | None = None,
    initial: Tensor | None = None,
    reverse: bool = False,
) -> tuple[Tensor, Tensor]:
    """Apply `cell` along a sequence, one step per token: the loop no hardware can parallelize.

    inputs (batch, seq, in); is_real (batch, seq) is False at padding, where the state is carried
    over unchanged (so a reversed pass starts at each sequence's own last token); initial (batch, H).
    Returns every step's state (batch, seq, H) and the final state (batch, H).
    """
    if inputs.dim() != 3:
        raise ValueError(f"inputs must have shape (batch, seq, features), got {tuple(inputs.shape)}")
    batch, seq, _ = inputs.shape
    if seq == 0:
        raise ValueError("cannot run a recurrent cell over an empty sequence (length 0)")
    h = inputs.new_zeros(batch, cell.hidden_size) if initial is None else initial
    projected = cell.project_input(inputs)  # (batch, seq, gates * H): all steps at once
    states: list[Tensor] = [h] * seq
    for t in range(seq - 1, -1, -1) if reverse else range(seq):
        new_h = cell.step(projected[:, t], h)  # (batch, H): needs the previous step's h
        h = new_h if is_real is None else torch.where(is_real[:, t, None], new_h, h)
        states[t] = h
    return torch.stack(states, dim=1), h


class RecurrentEncoder(nn.Module):
    """Source ids (batch, src) -> annotations (batch, src, 2H) and a summary (batch, 2H).

    A forward and a backward recurrent pass over the embedded tokens; annotation j is the pair
    [forward h_j; backward h_j], which has read the whole sentence with token j at its centre
    (Bahdanau et al. 2015). The summary is [last forward state; last backward state]: everything
    a decoder without attention will ever learn about the source.
    """

    def __init__(self, config: RecurrentConfig):
        super().__init__()
        self.config = config
        cell_class = CELL_CLASSES[config.cell]
        self.embedding = nn.Embedding(config.vocab_size, config.embedding_dim)
        self.forward_cell = cell_class(config.embedding_dim, config.hidden_size)
        self.backward_cell = cell_class(config.embedding_dim, config.hidden_size)

    def forward(self, source: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """-> annotations (batch, src, 2H), summary (batch, 2H), padding mask (batch, src)."""
        check_token_ids(source, self.config.vocab_size, "source")
        is_real = source != self.config.pad_id  # (batch, src)
        x = self.embedding(source.long())  # (batch, src, E)
        forward_states, forward_last = run_over_time(self.forward_cell, x, is_real)
        backward_states, backward_first = run_over_time(self.backward_cell, x, is_real, reverse=True)
        annotations = torch.cat([forward_states, backward_states], dim=-1)  # (batch, src, 2H)
        summary = torch.cat([forward_last, backward_first], dim=-1)  # (batch, 2H)
        return annotations, summary, ~is_real


class AdditiveAttention(nn.Module):
    """Bahdanau et al.'s score e_ij = v^T tanh(W s_{i-1} + U h_j), then softmax over source positions j."""

    def __init__(self, query_size: int, key_size: int, score_dim: int):
        super().__init__()
        self.query_layer = nn.Linear(query_size, score_dim, bias=False)  # W
        self.key_layer = nn.Linear(key_size, score_dim)  # U (with the bias b of the score layer)
        self.energy = nn.Linear(score_dim, 1, bias=False)  # v

    def project_keys(self, annotations: Tensor) -> Tensor:
        """U h_j for every j (batch, src, A): computed once per source, reused at every step."""
        return self.key_layer(annotations)

    def forward(
        self, query: Tensor, keys: Tensor, annotations: Tensor, padding: Tensor | None
    ) -> tuple[Tensor, Tensor]:
        """query s_{i-1} (batch, H), keys U h_j (batch, src, A), annotations h_j (batch, src, 2H)
        -> context c_i (batch, 2H) and weights alpha_ij (batch, src)."""
        scores = self.energy(torch.tanh(self.query_layer(query)[:, None] + keys)).squeeze(-1)  # (batch, src)
        if padding is not None:
            scores = scores.masked_fill(padding, float("-inf"))
        weights = scores.softmax(dim=-1)  # alpha_ij, sums to 1 over j
        context = torch.bmm(weights[:, None], annotations).squeeze(1)  # (batch, 2H)
        return context, weights


@dataclass
class RecurrentDecodingState:
    """What the decoder carries from one output token to the next (lib's decoding protocol)."""

    annotations: Tensor  # (batch, src, 2H) encoder outputs
    keys: Tensor | None  # (batch, src, A) projected annotations, or None without attention
    padding: Tensor  # (batch, src) True at source padding
    summary: Tensor  # (batch, 2H) the fixed context vector
    hidden: Tensor  # (batch, H) the decoder's state s_{i-1}
    weights: list[Tensor] = field(default_factory=list)  # attention weights (batch, src), one per step

    def select(self, rows: Tensor) -> "RecurrentDecodingState":
        """The state of batch rows `rows` (LongTensor), in that order, repeats allowed (for beams)."""
        return RecurrentDecodingState(
            self.annotations[rows],
            None if self.keys is None else self.keys[rows],
            self.padding[rows],
            self.summary[rows],
            self.hidden[rows],
            [w[rows] for w in self.weights],
        )


class RecurrentSeq2Seq(nn.Module):
    """A recurrent encoder-decoder: source ids and target ids in, next-target-token logits out.

    At output step i the decoder reads the previous token y_{i-1} and a context vector c_i:
    without attention c_i is the encoder's summary, the same for every i (Cho et al. 2014);
    with attention c_i = sum_j alpha_ij h_j, recomputed from s_{i-1} (Bahdanau et al. 2015). Then
    s_i = cell([embed(y_{i-1}); c_i], s_{i-1}) and logits_i = W_out [s_i; c_i; embed(y_{i-1})].
    The two variants differ only by the attention layer's parameters.
    """

    config_class = RecurrentConfig

    def __init__(self, config: RecurrentConfig):
        super().__init__()
        self.config = config
        hidden, context_size = config.hidden_size, 2 * config.hidden_size
        self.encoder = RecurrentEncoder(config)
        self.initial_state = nn.Linear(context_size, hidden)  # s_0 = tanh(W_init summary)
        self.target_embedding = nn.Embedding(config.output_vocab_size, config.embedding_dim)
        self.attention = AdditiveAttention(hidden, context_size, config.score_dim) if config.attention else None
        self.decoder_cell = CELL_CLASSES[config.cell](config.embedding_dim + context_size, hidden)
        self.generator = nn.Linear(hidden + context_size + config.embedding_dim, config.output_vocab_size)

    def start_decoding(self, source: Tensor) -> RecurrentDecodingState:
        """Encode once: source (batch, src) -> the state before the first output token."""
        annotations, summary, padding = self.encoder(source)
        keys = None if self.attention is None else self.attention.project_keys(annotations)
        hidden = torch.tanh(self.initial_state(summary))  # (batch, H)
        return RecurrentDecodingState(annotations, keys, padding, summary, hidden)

    def decode_next(self, state: RecurrentDecodingState, tokens: Tensor) -> Tensor:
        """tokens (batch,): the last emitted token (<bos> first) -> logits (batch, target vocab).

        Advances `state` in place (its hidden state, and its list of attention weights).
        """
        if tokens.dim() != 1:
            raise ValueError(f"tokens must have shape (batch,), got {tuple(tokens.shape)}")
        check_token_ids(tokens[:, None], self.config.output_vocab_size, "target")
        if tokens.size(0) != state.hidden.size(0):
            raise ValueError(f"source has batch size {state.hidden.size(0)} but target has {tokens.size(0)}")
        embedded = self.target_embedding(tokens.long())  # (batch, E)
        if self.attention is None:
            context = state.summary  # (batch, 2H): the same vector at every step
        else:
            context, weights = self.attention(state.hidden, state.keys, state.annotations, state.padding)
            state.weights.append(weights)
        state.hidden = self.decoder_cell(torch.cat([embedded, context], dim=-1), state.hidden)  # (batch, H)
        return self.generator(torch.cat([state.hidden, context, embedded], dim=-1))  # (batch, vocab)

    def forward(self, source: Tensor, target: Tensor) -> Tensor:
        """Teacher forcing: logits (batch, tgt, target vocab); position t predicts target token t + 1."""
        return self.forward_with_attention(source, target)[0]

    def forward_with_attention(self, source: Tensor, target: Tensor) -> tuple[Tensor, AttentionMaps]:
        """Logits as `forward`, plus the additive-attention weights in lib's form.

        `cross` holds one "layer" of shape (batch, 1 head, tgt, src); it is empty without attention.
        """
        check_token_ids(target, self.config.output_vocab_size, "target")
        state = self.start_decoding(source)
        if target.size(0) != source.size(0):
            raise ValueError(f"source has batch size {source.size(0)} but target has {target.size(0)}")
        logits = torch.stack([self.decode_next(state, target[:, t]) for t in range(target.size(1))], dim=1)
        cross = [] if self.attention is None else [torch.stack(state.weights, dim=1)[:, None]]  # (batch, 1, tgt, src)
        return logits, AttentionMaps(cross=cross)

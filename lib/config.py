"""The one dataclass that describes every model in the book."""

from dataclasses import asdict, dataclass
from typing import Literal

from lib.positional import RotaryScaling
from lib.tokenizers import BOS_ID, EOS_ID, PAD_ID
from lib.validation import (
    check_choice,
    check_int,
    check_non_negative_int,
    check_positive,
    check_positive_int,
    check_probability,
)

PositionalKind = Literal["sinusoidal", "learned", "rotary", "none"]
ActivationKind = Literal["relu", "gelu", "gelu_tanh", "swiglu"]
NormKind = Literal["layernorm", "rmsnorm"]
InitKind = Literal["xavier", "normal"]


@dataclass
class TransformerConfig:
    """Sizes and switches of a transformer; defaults are a small model that trains on a CPU.

    The base model of Vaswani et al. (2017) is `d_model=512, num_heads=8, d_ff=2048`,
    six encoder and six decoder layers, dropout 0.1. The fields after `tie_embeddings` are the
    choices later models made differently (GPT-2, BERT, Llama: see lib/presets.py); their
    defaults are the 2017 paper's, so a config that leaves them alone builds the original model.
    """

    vocab_size: int = 32  # source vocabulary (and target, unless target_vocab_size is set)
    target_vocab_size: int | None = None
    d_model: int = 64  # width of every token vector
    num_heads: int = 4  # attention heads; each sees d_model // num_heads dimensions
    d_ff: int = 256  # hidden width of the position-wise feed-forward network
    num_encoder_layers: int = 2
    num_decoder_layers: int = 2
    dropout: float = 0.0
    max_len: int = 128  # longest sequence the positional table covers
    positional: PositionalKind = "sinusoidal"
    norm_first: bool = False  # False: Post-LN (Vaswani 2017); True: Pre-LN (analysed by Xiong 2020)
    final_norm: bool | None = None  # LayerNorm after each stack; None means "if norm_first"
    tie_embeddings: bool = False  # share target embedding and output projection weights
    share_embeddings: bool = False  # one matrix for source embedding, target embedding and output (section 3.4)
    activation: ActivationKind = "relu"  # feed-forward nonlinearity; "swiglu" adds a gate (Shazeer 2020)
    norm: NormKind = "layernorm"  # "rmsnorm": scale by the root mean square only (Zhang & Sennrich 2019)
    norm_eps: float = 1e-5  # added to the variance inside every norm's square root
    num_kv_heads: int | None = None  # key/value heads; None: one per query head; fewer: grouped-query
    rotary_base: float = 10000.0  # rotary positions turn pair i by position * base^(-2i / head_dim)
    rotary_scaling: RotaryScaling | None = None  # Llama 3.1's slower low frequencies; None: plain rotary
    scale_embeddings: bool = True  # multiply token embeddings by sqrt(d_model) (section 3.4)
    attention_bias: bool = True  # biases of the query/key/value and output projections
    feed_forward_bias: bool = True
    output_bias: bool = True  # bias of the final projection to the vocabulary
    num_token_types: int = 0  # learned segment embeddings added to the input (BERT's sentence A/B); 0: none
    embedding_norm: bool = False  # a norm over the summed input embeddings (BERT)
    head_transform: bool = False  # encoder-only head: linear, activation and norm before the vocabulary (BERT)
    init: InitKind = "xavier"  # "xavier": uniform, as torch.nn.Transformer; "normal": N(0, init_std) (GPT-2)
    init_std: float = 0.02
    depth_scaled_init: bool = False  # residual output projections' init / sqrt(2 * layers) (GPT-2)
    # The special token ids: the one place models, batches, the loss and decoding read them from.
    # pad_id None: the vocabulary has no padding token (GPT-2); pass padding masks instead.
    pad_id: int | None = PAD_ID
    bos_id: int = BOS_ID
    eos_id: int = EOS_ID

    def __post_init__(self) -> None:
        for name in ("vocab_size", "d_model", "num_heads", "d_ff", "max_len"):
            check_positive_int(name, getattr(self, name))
        if self.target_vocab_size is not None:
            check_positive_int("target_vocab_size", self.target_vocab_size)
        if self.d_model % self.num_heads != 0:
            raise ValueError(
                f"d_model ({self.d_model}) must be divisible by num_heads ({self.num_heads}) "
                "so that every head gets the same number of dimensions"
            )
        if self.positional == "rotary" and self.head_dim % 2 != 0:
            raise ValueError(f"rotary positions need an even head dimension, got {self.head_dim}")
        if self.positional not in ("sinusoidal", "learned", "rotary", "none"):
            raise ValueError(f"unknown positional encoding {self.positional!r}")
        check_probability("dropout", self.dropout)
        self._check_variants()
        self._check_special_ids()

    def _check_variants(self) -> None:
        choices = {
            "activation": ("relu", "gelu", "gelu_tanh", "swiglu"),
            "norm": ("layernorm", "rmsnorm"),
            "init": ("xavier", "normal"),
        }
        for name, allowed in choices.items():
            check_choice(name, getattr(self, name), allowed)
        if self.num_kv_heads is not None:
            check_positive_int("num_kv_heads", self.num_kv_heads)
            if self.num_heads % self.num_kv_heads != 0:
                raise ValueError(
                    f"num_heads ({self.num_heads}) must be divisible by num_kv_heads ({self.num_kv_heads}): "
                    "each key/value head serves the same number of query heads"
                )
        for name in ("num_encoder_layers", "num_decoder_layers", "num_token_types"):
            check_non_negative_int(name, getattr(self, name))
        for name in ("norm_eps", "init_std", "rotary_base"):
            check_positive(name, getattr(self, name))
        if isinstance(self.rotary_scaling, dict):  # from `to_dict` (a saved checkpoint's config)
            self.rotary_scaling = RotaryScaling(**self.rotary_scaling)
        if self.rotary_scaling is not None:
            if not isinstance(self.rotary_scaling, RotaryScaling):
                raise ValueError(f"rotary_scaling must be a RotaryScaling or None, got {self.rotary_scaling!r}")
            if self.positional != "rotary":
                raise ValueError(f"rotary_scaling scales rotary positions, but positional is {self.positional!r}")
        if self.share_embeddings and self.target_vocab_size not in (None, self.vocab_size):
            raise ValueError(
                f"share_embeddings needs one vocabulary for source and target, got vocab_size {self.vocab_size} "
                f"and target_vocab_size {self.target_vocab_size}"
            )

    def _check_special_ids(self) -> None:
        specials = {"pad_id": self.pad_id, "bos_id": self.bos_id, "eos_id": self.eos_id}
        if self.pad_id in (self.bos_id, self.eos_id):
            raise ValueError(
                f"pad_id must differ from bos_id and eos_id (padding is ignored, they are not), got {specials}"
            )
        vocabulary = min(self.vocab_size, self.output_vocab_size)
        for name, value in specials.items():
            if value is None:
                continue
            check_int(name, value)
            if not 0 <= value < vocabulary:
                raise ValueError(f"{name} {value} is outside the vocabulary [0, {vocabulary})")

    @classmethod
    def tiny(cls, vocab_size: int, **overrides) -> "TransformerConfig":
        """One encoder and one decoder layer, d_model 64, Pre-LN: learns copy or reverse in seconds.

        Every field can be overridden, e.g. `tiny(12, norm_first=False)` for the Post-LN variant.
        """
        settings = dict(
            d_model=64, num_heads=4, d_ff=128, num_encoder_layers=1, num_decoder_layers=1, max_len=16, norm_first=True
        )
        return cls(vocab_size=vocab_size, **{**settings, **overrides})

    @property
    def head_dim(self) -> int:
        """Dimensions per head, d_k = d_model / num_heads."""
        return self.d_model // self.num_heads

    @property
    def kv_heads(self) -> int:
        """Key/value heads: num_kv_heads, or one per query head."""
        return self.num_kv_heads or self.num_heads

    @property
    def output_vocab_size(self) -> int:
        return self.target_vocab_size or self.vocab_size

    @property
    def use_final_norm(self) -> bool:
        return self.norm_first if self.final_norm is None else self.final_norm

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> "TransformerConfig":
        return cls(**values)

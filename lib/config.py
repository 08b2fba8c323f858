"""The one dataclass that describes every model in the book."""

from dataclasses import asdict, dataclass
from typing import Literal

from lib.tokenizers import BOS_ID, EOS_ID, PAD_ID

PositionalKind = Literal["sinusoidal", "learned", "rotary", "none"]


@dataclass
class TransformerConfig:
    """Sizes and switches of a transformer; defaults are a small model that trains on a CPU.

    The base model of Vaswani et al. (2017) is `d_model=512, num_heads=8, d_ff=2048`,
    six encoder and six decoder layers, dropout 0.1.
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
    norm_first: bool = False  # False: Post-LN (Vaswani 2017); True: Pre-LN (Xiong 2020)
    final_norm: bool | None = None  # LayerNorm after each stack; None means "if norm_first"
    tie_embeddings: bool = False  # share target embedding and output projection weights
    # The special token ids: the one place models, batches, the loss and decoding read them from.
    pad_id: int = PAD_ID
    bos_id: int = BOS_ID
    eos_id: int = EOS_ID

    def __post_init__(self) -> None:
        for name in ("vocab_size", "d_model", "num_heads", "d_ff", "max_len"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if self.d_model % self.num_heads != 0:
            raise ValueError(
                f"d_model ({self.d_model}) must be divisible by num_heads ({self.num_heads}) "
                "so that every head gets the same number of dimensions"
            )
        if self.positional == "rotary" and self.head_dim % 2 != 0:
            raise ValueError(f"rotary positions need an even head dimension, got {self.head_dim}")
        if self.positional not in ("sinusoidal", "learned", "rotary", "none"):
            raise ValueError(f"unknown positional encoding {self.positional!r}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        specials = {"pad_id": self.pad_id, "bos_id": self.bos_id, "eos_id": self.eos_id}
        if len(set(specials.values())) != 3:
            raise ValueError(f"pad_id, bos_id and eos_id must be three different ids, got {specials}")
        for name, value in specials.items():
            if not 0 <= value < min(self.vocab_size, self.output_vocab_size):
                raise ValueError(
                    f"{name} {value} is outside the vocabulary [0, {min(self.vocab_size, self.output_vocab_size)})"
                )

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

"""Input embedding: a learned lookup table from token ids to vectors, scaled by sqrt(d_model).

The scale is the 2017 paper's; GPT-2, BERT and Llama leave their embeddings unscaled
(`TransformerConfig.scale_embeddings=False`).
"""

import math

import torch
from torch import Tensor, nn

from lib.validation import check_positive_int


def check_token_ids(tokens: Tensor, vocab_size: int, name: str = "tokens") -> None:
    """Raise a clear error unless `tokens` is a non-empty (batch, seq) tensor of ids in [0, vocab_size)."""
    if not isinstance(tokens, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of token ids, got {type(tokens).__name__}")
    if tokens.dtype not in (torch.int64, torch.int32, torch.int16, torch.int8, torch.uint8):
        raise TypeError(f"{name} must hold integer token ids, got dtype {tokens.dtype}")
    if tokens.dim() != 2:
        raise ValueError(f"{name} must have shape (batch, seq), got {tokens.dim()} dimensions {tuple(tokens.shape)}")
    if tokens.size(1) == 0:
        raise ValueError(f"{name} is an empty sequence (length 0): every sequence needs at least one token")
    if tokens.numel() and (tokens.min() < 0 or tokens.max() >= vocab_size):
        bad = tokens[(tokens < 0) | (tokens >= vocab_size)][0].item()
        raise IndexError(f"{name} contains id {bad}, outside the vocabulary [0, {vocab_size})")


class TokenEmbedding(nn.Module):
    """Maps ids (batch, seq) to vectors (batch, seq, d_model), multiplied by sqrt(d_model).

    The scale keeps embeddings on the same footing as the positional encodings they are
    added to (section 3.4 of Vaswani et al. 2017).
    """

    def __init__(self, vocab_size: int, d_model: int, padding_idx: int | None = None, scale: bool = True):
        super().__init__()
        check_positive_int("vocab_size", vocab_size)
        check_positive_int("d_model", d_model)
        self.vocab_size = vocab_size
        self.d_model = d_model
        self.scale = math.sqrt(d_model) if scale else 1.0
        self.lookup = nn.Embedding(vocab_size, d_model, padding_idx=padding_idx)

    def forward(self, tokens: Tensor, name: str = "tokens") -> Tensor:
        """`name` is what an error message calls the input ("source", "target", ...)."""
        check_token_ids(tokens, self.vocab_size, name)
        embedded = self.lookup(tokens.long())  # (batch, seq, d_model)
        return embedded * self.scale if self.scale != 1.0 else embedded

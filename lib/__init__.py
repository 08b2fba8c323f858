"""The book's transformer library: every model, dataset and helper the chapters use.

Read it alongside the chapters: each module holds one idea and is named for it.
"""

from lib.attention import MultiHeadAttention, scaled_dot_product_attention
from lib.config import TransformerConfig
from lib.model import DecoderOnlyTransformer, EncoderOnlyTransformer, Transformer
from lib.reproducibility import make_reproducible

__all__ = [
    "DecoderOnlyTransformer",
    "EncoderOnlyTransformer",
    "MultiHeadAttention",
    "Transformer",
    "TransformerConfig",
    "make_reproducible",
    "scaled_dot_product_attention",
]

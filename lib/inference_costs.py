"""What a decoder-only transformer costs per token, computed from its configuration alone.

- Parameters of a Llama-style model (RMSNorm, SwiGLU, grouped-query attention, no biases).
- Forward FLOPs per token: 2 per weight a token is multiplied by (one multiply, one add), plus
  the attention term 4 * layers * context * (heads * head_dim): a query is scored against each of
  `context` keys (Q K^T) and takes the weighted sum of as many values (A V).
- Key/value-cache bytes per token: every layer keeps one key and one value vector per key/value head.

`LLAMA_3_8B` holds the published configuration of Llama 3 8B (Grattafiori et al. 2024, "The Llama 3
Herd of Models", arXiv:2407.21783, Table 3; vocabulary and untied output layer from the released
model's configuration file).
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class LlamaStyleShape:
    """The numbers that fix a Llama-style model's size: everything else follows from them."""

    name: str
    num_layers: int
    d_model: int
    num_heads: int
    num_kv_heads: int  # = num_heads: multi-head; 1: multi-query; in between: grouped-query
    d_ff: int  # hidden width of the SwiGLU feed-forward network (each of its three matrices)
    vocab_size: int
    tie_embeddings: bool = False
    rope_base: float = 10000.0
    context_length: int = 2048

    def __post_init__(self) -> None:
        if self.d_model % self.num_heads != 0:
            raise ValueError(f"d_model ({self.d_model}) must be divisible by num_heads ({self.num_heads})")
        if self.num_heads % self.num_kv_heads != 0:
            raise ValueError(
                f"num_heads ({self.num_heads}) must be a multiple of num_kv_heads ({self.num_kv_heads}) "
                "so that every key/value head serves the same number of query heads"
            )

    @property
    def head_dim(self) -> int:
        return self.d_model // self.num_heads


LLAMA_3_8B = LlamaStyleShape(
    name="Llama 3 8B",
    num_layers=32,
    d_model=4096,
    num_heads=32,
    num_kv_heads=8,
    d_ff=14336,
    vocab_size=128256,  # the paper's Table 3 rounds it to 128,000; the released tokenizer has 128,256 ids
    tie_embeddings=False,
    rope_base=500000.0,
    context_length=8192,
)
LLAMA_3_8B_PUBLISHED_PARAMETERS = 8.0e9  # "8B" in the paper's Table 3


def attention_parameters(shape: LlamaStyleShape) -> int:
    """W_Q and W_O are d_model x d_model; W_K and W_V map d_model to num_kv_heads * head_dim."""
    kv_width = shape.num_kv_heads * shape.head_dim
    return 2 * shape.d_model * shape.d_model + 2 * shape.d_model * kv_width


def feed_forward_parameters(shape: LlamaStyleShape) -> int:
    """SwiGLU: gate and up projections d_model -> d_ff, down projection d_ff -> d_model."""
    return 3 * shape.d_model * shape.d_ff


def layer_parameters(shape: LlamaStyleShape) -> int:
    """One block: attention, feed-forward and the two RMSNorm gains."""
    return attention_parameters(shape) + feed_forward_parameters(shape) + 2 * shape.d_model


def embedding_parameters(shape: LlamaStyleShape) -> int:
    """The input table, plus the output layer unless it shares the table's weights."""
    table = shape.vocab_size * shape.d_model
    return table if shape.tie_embeddings else 2 * table


def llama_parameter_count(shape: LlamaStyleShape) -> int:
    """Every parameter: layers, embeddings and the final RMSNorm."""
    return shape.num_layers * layer_parameters(shape) + embedding_parameters(shape) + shape.d_model


def matmul_parameters(shape: LlamaStyleShape) -> int:
    """The weights a token is multiplied by: every layer's matrices and the output layer (not the input lookup)."""
    layer_matrices = attention_parameters(shape) + feed_forward_parameters(shape)
    return shape.num_layers * layer_matrices + shape.vocab_size * shape.d_model


def forward_flops_per_token(shape: LlamaStyleShape, context: int) -> int:
    """FLOPs of one token's forward pass when it attends to `context` tokens (itself included).

    2 * matmul weights (a multiply and an add per weight) plus 4 * layers * context * d_model for
    Q K^T and A V. Grouped-query attention does not change the second term: every query head
    still scores every key.
    """
    if context < 1:
        raise ValueError(f"context must be at least 1 token, got {context}")
    return 2 * matmul_parameters(shape) + 4 * shape.num_layers * context * shape.num_heads * shape.head_dim


def kv_cache_bytes_per_token(shape: LlamaStyleShape, bytes_per_value: int = 2) -> int:
    """Bytes the key/value cache grows by per token: a key and a value per layer and key/value head.

    `bytes_per_value` is 2 for bfloat16/float16 (how such models are usually served), 4 for float32.
    """
    return 2 * shape.num_layers * shape.num_kv_heads * shape.head_dim * bytes_per_value

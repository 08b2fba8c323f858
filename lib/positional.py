"""Ways to tell a transformer where each token stands.

Self-attention treats its input as a set, so order has to be injected: added to the
embeddings (sinusoidal, learned) or rotated into queries and keys (rotary).
"""

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from lib.validation import check_choice, check_positive, check_positive_int

# Where a sequence starts: one int for every row (0, or the tokens already cached), or a (batch,)
# tensor when rows differ. A row that begins with k padding tokens starts at -k, so its first
# real token stands at position 0 however much padding the batch gave it (left padding).
Offset = int | Tensor


def position_ids(offset: Offset, seq: int, device: torch.device) -> Tensor:
    """(seq,) positions offset, offset + 1, ...; (batch, seq) for per-row offsets (padding clamped to 0)."""
    steps = torch.arange(seq, device=device)
    if isinstance(offset, int):
        return steps + offset
    return (offset[:, None] + steps).clamp(min=0)


def last_position(offset: Offset, seq: int) -> int:
    """The number of positions the longest row needs."""
    return (offset if isinstance(offset, int) else int(offset.max())) + seq


def check_length(seq_len: int, max_len: int) -> None:
    """`seq_len` counts every position so far: during cached decoding, the earlier steps too."""
    if seq_len > max_len:
        raise ValueError(
            f"sequence length {seq_len} exceeds the positional table's max_len {max_len}; "
            "raise TransformerConfig.max_len or shorten the input"
        )


def sinusoidal_table(max_len: int, d_model: int) -> Tensor:
    """(max_len, d_model) table with PE[p, 2i] = sin(p / 10000^(2i/d_model)), PE[p, 2i+1] = cos(...)."""
    check_positive_int("max_len", max_len)
    check_positive_int("d_model", d_model)
    if d_model % 2 != 0:
        raise ValueError(f"sinusoidal encoding needs an even d_model, got {d_model}")
    positions = torch.arange(max_len, dtype=torch.float64)[:, None]  # (max_len, 1)
    frequencies = torch.exp(-math.log(10000.0) * torch.arange(0, d_model, 2, dtype=torch.float64) / d_model)
    angles = positions * frequencies  # (max_len, d_model / 2)
    table = torch.empty(max_len, d_model, dtype=torch.float64)
    table[:, 0::2] = torch.sin(angles)
    table[:, 1::2] = torch.cos(angles)
    return table.float()


class SinusoidalPositionalEncoding(nn.Module):
    """Adds the fixed sinusoidal table (Vaswani et al. 2017, section 3.5) to (batch, seq, d_model)."""

    def __init__(self, d_model: int, max_len: int):
        super().__init__()
        self.max_len = max_len
        self.register_buffer("table", sinusoidal_table(max_len, d_model), persistent=False)

    def forward(self, x: Tensor, offset: Offset = 0) -> Tensor:
        """x (batch, seq, d_model) holds positions offset, offset + 1, ... (offset > 0 when decoding step by step)."""
        check_length(last_position(offset, x.size(1)), self.max_len)
        if isinstance(offset, int):
            return x + self.table[offset : offset + x.size(1)]
        return x + self.table[position_ids(offset, x.size(1), x.device)]  # table rows (batch, seq, d_model)


class LearnedPositionalEmbedding(nn.Module):
    """Adds a trained vector per position; it knows nothing about positions past max_len."""

    def __init__(self, d_model: int, max_len: int):
        super().__init__()
        check_positive_int("d_model", d_model)
        check_positive_int("max_len", max_len)
        self.max_len = max_len
        self.lookup = nn.Embedding(max_len, d_model)
        nn.init.normal_(self.lookup.weight, std=0.02)  # for use on its own; lib's models re-init every matrix (Xavier)

    def forward(self, x: Tensor, offset: Offset = 0) -> Tensor:
        check_length(last_position(offset, x.size(1)), self.max_len)
        return x + self.lookup(position_ids(offset, x.size(1), x.device))


@dataclass(frozen=True)
class RotaryScaling:
    """Llama 3.1's rotary frequency scaling ("llama3" in Hugging Face's `rope_parameters`).

    A model trained on `original_max_len` tokens meets, at longer contexts, angles its slow
    pairs never reached. Llama 3.1 stretches those pairs instead: a pair whose wavelength
    2 pi / theta_i is longer than original_max_len / low_freq_factor turns `factor` times slower;
    one shorter than original_max_len / high_freq_factor is left alone (it already went round many
    times in training); in between, the two are blended linearly in original_max_len / wavelength.
    Meta's Llama 3.1 uses factor 8, low_freq_factor 1, high_freq_factor 4 and original_max_len 8192
    (the defaults here); Llama 3.2's small models use factor 32.
    """

    factor: float = 8.0
    low_freq_factor: float = 1.0
    high_freq_factor: float = 4.0
    original_max_len: int = 8192
    kind: str = "llama3"  # the only kind lib computes; kept so that a saved config says which one

    def __post_init__(self) -> None:
        if self.kind != "llama3":
            raise ValueError(f"rotary scaling kind must be 'llama3' (the one lib computes), got {self.kind!r}")
        for name in ("factor", "low_freq_factor", "high_freq_factor"):
            check_positive(f"rotary scaling {name}", getattr(self, name))
        check_positive_int("rotary scaling original_max_len", self.original_max_len)
        if not self.low_freq_factor < self.high_freq_factor:
            raise ValueError(
                f"rotary scaling needs low_freq_factor < high_freq_factor (the band between them is blended), got "
                f"{self.low_freq_factor} and {self.high_freq_factor}"
            )

    def scale(self, theta: Tensor) -> Tensor:
        """theta (head_dim / 2,), each pair's angle per position -> the scaled angles, same shape."""
        wavelength = 2 * math.pi / theta
        slow = wavelength > self.original_max_len / self.low_freq_factor  # divided by factor
        fast = wavelength < self.original_max_len / self.high_freq_factor  # kept
        blend = (self.original_max_len / wavelength - self.low_freq_factor) / (
            self.high_freq_factor - self.low_freq_factor
        )  # 0 at the slow edge, 1 at the fast edge
        blended = (1 - blend) * theta / self.factor + blend * theta
        return torch.where(slow, theta / self.factor, torch.where(fast, theta, blended))


def rotary_angles_per_position(head_dim: int, base: float, scaling: RotaryScaling | None = None) -> Tensor:
    """(head_dim / 2,) float64: theta_i = base^(-2i / head_dim), scaled when the config asks for it."""
    theta = base ** (-torch.arange(0, head_dim, 2, dtype=torch.float64) / head_dim)
    return theta if scaling is None else scaling.scale(theta)


class RotaryEmbedding(nn.Module):
    """Rotary position embedding (Su et al. 2021) for queries and keys of shape (..., seq, head_dim).

    Each pair of dimensions (2i, 2i+1) is rotated by the angle p * theta_i, so the dot
    product of a query at p and a key at p' depends on p - p' only. `scaling` (Llama 3.1's)
    changes the theta_i once, here; the rotation is the same.
    """

    def __init__(self, head_dim: int, max_len: int, base: float = 10000.0, scaling: RotaryScaling | None = None):
        super().__init__()
        check_positive_int("head_dim", head_dim)
        check_positive_int("max_len", max_len)
        check_positive("base", base)
        if head_dim % 2 != 0:
            raise ValueError(f"rotary embedding needs an even head dimension, got {head_dim}")
        if scaling is not None and not isinstance(scaling, RotaryScaling):
            raise ValueError(f"scaling must be a RotaryScaling or None, got {scaling!r}")
        self.head_dim = head_dim
        self.max_len = max_len
        self.scaling = scaling
        theta = rotary_angles_per_position(head_dim, base, scaling)  # (head_dim / 2,)
        angles = torch.arange(max_len, dtype=torch.float64)[:, None] * theta  # (max_len, head_dim / 2)
        # Kept in float64 and rounded to the input's dtype when used, so a float64 model gets exact angles.
        self.register_buffer("cos", torch.cos(angles), persistent=False)
        self.register_buffer("sin", torch.sin(angles), persistent=False)

    def forward(self, x: Tensor, offset: Offset = 0) -> Tensor:
        """x (batch, heads, seq, head_dim) holds positions offset, offset + 1, ... (offset (batch,) per row)."""
        seq = x.size(-2)
        check_length(last_position(offset, seq), self.max_len)
        positions = position_ids(offset, seq, x.device)
        if positions.dim() == 2:
            positions = positions[:, None]  # (batch, 1, seq): the same for every head
        cos, sin = self.cos[positions].to(x.dtype), self.sin[positions].to(x.dtype)
        even, odd = x[..., 0::2], x[..., 1::2]  # (..., seq, head_dim / 2)
        rotated_even = even * cos - odd * sin
        rotated_odd = even * sin + odd * cos
        return torch.stack((rotated_even, rotated_odd), dim=-1).flatten(-2)


def additive_positional(kind: str, d_model: int, max_len: int) -> nn.Module:
    """The module that adds positions to embeddings; rotary and "none" add nothing."""
    check_choice("positional", kind, ("sinusoidal", "learned", "rotary", "none"))
    if kind == "sinusoidal":
        return SinusoidalPositionalEncoding(d_model, max_len)
    if kind == "learned":
        return LearnedPositionalEmbedding(d_model, max_len)
    return LengthCheck(max_len)


class LengthCheck(nn.Module):
    """Adds nothing, but still refuses sequences longer than the model was configured for."""

    def __init__(self, max_len: int):
        super().__init__()
        check_positive_int("max_len", max_len)
        self.max_len = max_len

    def forward(self, x: Tensor, offset: Offset = 0) -> Tensor:
        check_length(last_position(offset, x.size(1)), self.max_len)
        return x

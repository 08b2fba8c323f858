"""The two normalizations a transformer block can use, chosen by `TransformerConfig.norm`.

LayerNorm (Ba et al. 2016) subtracts each token vector's mean and divides by its standard
deviation, then scales and shifts. RMSNorm (Zhang & Sennrich 2019) skips the mean and the
shift: it divides by the root mean square and scales. Llama uses it; it is a little cheaper
and, in practice, trains as well.
"""

import torch
from torch import Tensor, nn

from lib.config import TransformerConfig
from lib.validation import check_non_negative, check_positive_int


class RMSNorm(nn.Module):
    """x / sqrt(mean(x^2) + eps) * weight, over the last dimension of (..., d_model)."""

    def __init__(self, d_model: int, eps: float = 1e-5):
        super().__init__()
        check_positive_int("d_model", d_model)
        check_non_negative("eps", eps)
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(d_model))

    def forward(self, x: Tensor) -> Tensor:
        return x * torch.rsqrt(x.pow(2).mean(dim=-1, keepdim=True) + self.eps) * self.weight

    def extra_repr(self) -> str:
        return f"{self.weight.size(0)}, eps={self.eps}"


def make_norm(config: TransformerConfig) -> nn.Module:
    """A fresh norm over d_model of the kind, and with the eps, the config names."""
    if config.norm == "rmsnorm":
        return RMSNorm(config.d_model, config.norm_eps)
    return nn.LayerNorm(config.d_model, eps=config.norm_eps)

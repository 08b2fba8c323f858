"""Dropout (Srivastava et al. 2014) with a cheaper mask.

During training each element is zeroed with probability p and the survivors are scaled by
1 / (1 - p), so the expected value is unchanged; in evaluation it does nothing. This is
exactly what `torch.nn.Dropout` computes. The mask, however, is drawn as uniform numbers
compared with p and folded with the scale into one float tensor. On this book's CPUs that takes
about 0.6 of the time of `nn.Dropout`'s `bernoulli_` (forward plus backward on (32, 64, 1024) and
(32, 64, 256) tensors), which makes a whole training step about 7 % faster at dropout 0.1 and
changes nothing at dropout 0 (benchmarks/train_step.py isolates both).
"""

import torch
from torch import Tensor, nn

from lib.validation import check_probability


class Dropout(nn.Module):
    def __init__(self, p: float = 0.0):
        super().__init__()
        check_probability("dropout probability", p)
        self.p = p

    def forward(self, x: Tensor) -> Tensor:
        if not self.training or self.p == 0.0:
            return x
        keep_and_scale = (torch.rand_like(x) >= self.p) * (1.0 / (1.0 - self.p))  # 0 or 1/(1-p)
        return x * keep_and_scale

    def extra_repr(self) -> str:
        return f"p={self.p}"

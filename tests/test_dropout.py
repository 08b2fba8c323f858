"""lib's Dropout computes what nn.Dropout computes: same keep rate, same scale, same expectation."""

import pytest
import torch

from lib.dropout import Dropout


def test_training_zeroes_about_p_and_scales_survivors():
    dropout = Dropout(0.25).train()
    x = torch.ones(400_000)
    out = dropout(x)
    assert (out == 0).float().mean().item() == pytest.approx(0.25, abs=0.005)
    assert out.unique().tolist() == [0.0, pytest.approx(1 / 0.75)]
    assert out.mean().item() == pytest.approx(1.0, abs=0.01)


def test_gradient_flows_only_through_kept_elements():
    dropout = Dropout(0.5).train()
    x = torch.randn(1000, requires_grad=True)
    out = dropout(x)
    out.sum().backward()
    torch.testing.assert_close(x.grad, (out != 0).float() * 2.0)


def test_evaluation_is_the_identity():
    x = torch.randn(10)
    assert Dropout(0.5).eval()(x) is x


def test_probability_must_be_below_one():
    with pytest.raises(ValueError, match="dropout probability must be in \\[0, 1\\)"):
        Dropout(1.0)

"""Synthetic tasks produce the right answers and well-formed padded batches."""

import pytest
import torch

from lib.tasks import collate, make_pairs, task_vocabulary
from lib.tokenizers import BOS_ID, EOS_ID, PAD_ID


@pytest.mark.parametrize("task", ["copy", "reverse", "sort"])
def test_targets_are_the_task_applied_to_the_source(task):
    pairs = make_pairs(task, 50, 3, 9, num_symbols=6, generator=torch.Generator().manual_seed(0))
    apply = {"copy": list, "reverse": lambda s: s[::-1], "sort": sorted}[task]
    assert all(target == apply(source) for source, target in pairs)
    assert {len(source) for source, _ in pairs} <= set(range(3, 10))


def test_addition_targets_are_sums():
    vocabulary = task_vocabulary("addition")
    for source, target in make_pairs("addition", 20, 1, 3, generator=torch.Generator().manual_seed(0)):
        expression = "".join(vocabulary.decode(source))
        assert int("".join(vocabulary.decode(target))) == eval(expression)  # noqa: S307 - digits and '+' only


def test_collate_pads_and_shifts_targets():
    batch = collate([([5, 6, 7], [7, 6, 5]), ([8], [8])])
    assert batch.source.tolist() == [[5, 6, 7], [8, PAD_ID, PAD_ID]]
    assert batch.target_input.tolist() == [[BOS_ID, 7, 6, 5], [BOS_ID, 8, PAD_ID, PAD_ID]]
    assert batch.target_output.tolist() == [[7, 6, 5, EOS_ID], [8, EOS_ID, PAD_ID, PAD_ID]]


def test_unknown_task_is_named():
    with pytest.raises(ValueError, match="unknown task 'rotate'"):
        make_pairs("rotate", 1, 1, 2)

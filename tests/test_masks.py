"""Mask helpers follow torch.nn's convention: True blocks."""

import torch

from lib.masks import add_causal, causal_mask, combine_masks, padding_mask


def test_causal_mask_blocks_exactly_the_future():
    mask = causal_mask(4)
    for query in range(4):
        for key in range(4):
            assert mask[query, key] == (key > query)


def test_padding_mask_marks_pad_tokens():
    tokens = torch.tensor([[5, 6, 0], [7, 0, 0]])
    assert padding_mask(tokens, pad_id=0).tolist() == [[False, False, True], [False, True, True]]


def test_combined_mask_blocks_either_reason():
    combined = combine_masks(causal_mask(3), torch.tensor([[False, False, True]]), 1, 2, 3, 3, torch.float32)
    blocked = torch.isneginf(combined)[0, 0]
    assert blocked.tolist() == [[False, True, True], [False, False, True], [False, False, True]]


def test_add_causal_keeps_the_masks_form():
    own = torch.tensor([[False, True], [False, False]])
    assert add_causal(own, 2).tolist() == [[False, True], [False, False]]
    additive = add_causal(torch.tensor([[0.0, 0.0], [-1.0, 0.0]]), 2)
    assert additive.tolist() == [[0.0, float("-inf")], [-1.0, 0.0]]
    assert torch.equal(add_causal(None, 3), causal_mask(3))


def test_causal_mask_with_an_offset_lets_late_queries_see_every_earlier_key():
    mask = causal_mask(2, offset=3)  # queries at positions 3 and 4, keys 0..4
    assert mask.tolist() == [[False, False, False, False, True], [False, False, False, False, False]]

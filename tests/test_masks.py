"""utils.masks: the course's masks, True = may attend."""

import pytest
import torch

from utils.masks import causal_mask, length_mask


def test_length_mask_marks_the_real_tokens():
    m = length_mask(torch.tensor([3, 1, 4]), 5)
    assert m.dtype == torch.bool and m.shape == (3, 5)
    assert m.tolist()[1] == [True, False, False, False, False]
    assert m.sum(1).tolist() == [3, 1, 4]
    assert length_mask(torch.tensor([3, 1])).tolist() == [[True, True, True], [True, False, False]]  # max_len: the longest
    assert length_mask(torch.tensor([2]), max_len=4).tolist() == [[True, True, False, False]]
    assert length_mask(torch.tensor([0, 2])).tolist() == [[False, False], [True, True]]  # a fully masked row
    with pytest.raises(ValueError, match="1-D"):
        length_mask(torch.ones(2, 2, dtype=torch.long))
    with pytest.raises(TypeError, match="must be a torch.Tensor"):
        length_mask([3, 1])


def test_length_mask_inverted_is_the_padding():
    """What code that wants True at padding writes: ``~length_mask``, e.g. to fill the padding."""
    tokens = torch.tensor([[5, 6, 7], [8, 9, 9]])
    assert tokens.masked_fill(~length_mask(torch.tensor([3, 1]), 3), 0).tolist() == [[5, 6, 7], [8, 0, 0]]


def test_causal_mask_is_lower_triangular_true_may_attend():
    m = causal_mask(3)
    assert m.dtype == torch.bool
    assert m.tolist() == [[True, False, False], [True, True, False], [True, True, True]]
    assert causal_mask(2, 4).shape == (2, 4)
    assert causal_mask(2, 4, device="cpu").device.type == "cpu"


def test_masks_are_made_on_the_device_of_their_input():
    if not torch.cuda.is_available():
        pytest.skip("needs a GPU")
    assert length_mask(torch.tensor([2, 1], device="cuda")).device.type == "cuda"
    assert causal_mask(3, device="cuda").device.type == "cuda"

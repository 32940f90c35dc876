"""Embedding: the gather forward, the accumulating scatter-add backward (repeated indices),
padding_idx, gradient checks, initialisation and PyTorch parity."""
from __future__ import annotations

import numpy as np
import pytest

import tinygen as tg
import tinygen.nn.functional as F
from tinygen import nn
from tinygen.gradcheck import gradcheck, gradgradcheck


def test_embedding_gathers_rows_for_indices_of_any_shape() -> None:
    table = np.random.default_rng(0).standard_normal((6, 3))
    indices = np.array([[1, 5, 1], [0, 2, 4]])
    y = F.embedding(tg.tensor(indices), tg.tensor(table, dtype=tg.float64))
    assert y.shape == (2, 3, 3)
    np.testing.assert_array_equal(y.numpy(), table[indices])


def test_repeated_indices_accumulate_their_gradients() -> None:
    weight = tg.zeros(4, 2, dtype=tg.float64, requires_grad=True)
    indices = tg.tensor([3, 1, 3, 3, 0])
    g = np.arange(10, dtype=np.float64).reshape(5, 2)
    F.embedding(indices, weight).backward(tg.tensor(g, dtype=tg.float64))
    expected = np.zeros((4, 2))
    for position, row in enumerate([3, 1, 3, 3, 0]):
        expected[row] += g[position]  # row 3 is looked up three times: three contributions
    np.testing.assert_array_equal(weight.grad.numpy(), expected)


def test_embedding_gradcheck_and_second_order() -> None:
    weight = tg.tensor(np.random.default_rng(1).standard_normal((5, 3)), dtype=tg.float64, requires_grad=True)
    indices = tg.tensor([[0, 2], [2, 4], [4, 4]])
    assert gradcheck(lambda w: F.embedding(indices, w), [weight])
    assert gradgradcheck(lambda w: F.embedding(indices, w) ** 2, [weight])


def test_padding_idx_row_starts_at_zero_and_is_never_trained() -> None:
    tg.manual_seed(0)
    layer = nn.Embedding(5, 3, padding_idx=2)
    np.testing.assert_array_equal(layer.weight.numpy()[2], 0.0)
    layer(tg.tensor([2, 1, 2])).sum().backward()
    np.testing.assert_array_equal(layer.weight.grad.numpy()[2], 0.0)
    np.testing.assert_array_equal(layer.weight.grad.numpy()[1], 1.0)


def test_embedding_layer_init_is_standard_normal_like_pytorch() -> None:
    tg.manual_seed(1)
    layer = nn.Embedding(1000, 16)
    assert [name for name, _ in layer.named_parameters()] == ["weight"]
    w = layer.weight.numpy()
    assert w.shape == (1000, 16) and abs(w.mean()) < 0.03 and abs(w.std() - 1) < 0.03


def test_embedding_rejects_bad_indices() -> None:
    weight = tg.randn(4, 2)
    with pytest.raises(IndexError, match=r"embedding: indices must lie in \[0, 4\).*\(4, 2\).*from 0 to 4"):
        F.embedding(tg.tensor([0, 4]), weight)
    with pytest.raises(TypeError, match=r"embedding: indices must be integers.*float32"):
        F.embedding(tg.tensor([0.0, 1.0]), weight)
    with pytest.raises(ValueError, match=r"Embedding: padding_idx 7 is out of range for 5"):
        nn.Embedding(5, 2, padding_idx=7)


def test_embedding_matches_torch() -> None:
    torch = pytest.importorskip("torch")
    layer = nn.Embedding(7, 4, padding_idx=0)
    ref = torch.nn.Embedding(7, 4, padding_idx=0)
    ref.load_state_dict({k: torch.from_numpy(v) for k, v in layer.state_dict().items()})
    indices = np.array([[0, 3, 3], [6, 1, 3]])
    g = np.random.default_rng(2).standard_normal((2, 3, 4)).astype(np.float32)
    y = layer(tg.tensor(indices))
    yt = ref(torch.from_numpy(indices))
    np.testing.assert_array_equal(y.numpy(), yt.detach().numpy())
    y.backward(tg.tensor(g))
    yt.backward(torch.from_numpy(g))
    np.testing.assert_allclose(layer.weight.grad.numpy(), ref.weight.grad.numpy(), atol=1e-6)

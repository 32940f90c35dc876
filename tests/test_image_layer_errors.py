"""Bad input to the image layers fails early with an error that names the layer (or op), the
argument and the shapes or values it received, never a deep NumPy traceback."""
from __future__ import annotations

import pytest

import tinygen as tg
import tinygen.nn.functional as F
from tinygen import nn


def test_wrong_channel_count_names_the_layer_and_shapes() -> None:
    with pytest.raises(ValueError, match=r"Conv2d\(3, 8, kernel_size=\(3, 3\).*\(2, 4, 8, 8\) has 4 channels.*"
                                         r"\(8, 3, 3, 3\) expects 3"):
        nn.Conv2d(3, 8, 3)(tg.randn(2, 4, 8, 8))
    with pytest.raises(ValueError, match=r"ConvTranspose2d\(8, 4.*\(2, 3, 5, 5\) has 3 channels.*"
                                         r"\(8, 4, 4, 4\) expects 8"):
        nn.ConvTranspose2d(8, 4, 4, 2, 1)(tg.randn(2, 3, 5, 5))
    with pytest.raises(ValueError, match=r"BatchNorm2d\(16\): expected 16 channels.*\(2, 8, 4, 4\)"):
        nn.BatchNorm2d(16)(tg.randn(2, 8, 4, 4))
    with pytest.raises(ValueError, match=r"conv2d: the input of shape \(1, 2, 5, 5\) has 2 channels"):
        F.conv2d(tg.randn(1, 2, 5, 5), tg.randn(4, 3, 3, 3))


def test_kernel_larger_than_padded_input() -> None:
    with pytest.raises(ValueError, match=r"Conv2d\(1, 2, kernel_size=\(5, 5\).*kernel size \(5, 5\) is larger than "
                                         r"the padded input size \(4, 4\).*\(1, 1, 2, 2\).*padding \(1, 1\)"):
        nn.Conv2d(1, 2, 5, padding=1)(tg.randn(1, 1, 2, 2))
    with pytest.raises(ValueError, match=r"max_pool2d: kernel size \(3, 3\) is larger than the padded input size "
                                         r"\(2, 2\)"):
        F.max_pool2d(tg.randn(1, 1, 2, 2), 3)
    with pytest.raises(ValueError, match=r"conv_transpose2d: the output size .* \(-1, -1\) is not positive"):
        F.conv_transpose2d(tg.randn(1, 1, 1, 1), tg.randn(1, 1, 1, 1), padding=1)


def test_negative_padding_and_bad_strides() -> None:
    with pytest.raises(ValueError, match=r"Conv2d: padding must be non-negative, got \(-1, -1\)"):
        nn.Conv2d(1, 1, 3, padding=-1)
    with pytest.raises(ValueError, match=r"conv2d: padding must be non-negative, got \(0, -2\)"):
        F.conv2d(tg.randn(1, 1, 5, 5), tg.randn(1, 1, 3, 3), padding=(0, -2))
    with pytest.raises(ValueError, match=r"ConvTranspose2d: stride must be positive, got \(0, 0\)"):
        nn.ConvTranspose2d(1, 1, 3, stride=0)
    with pytest.raises(ValueError, match=r"ConvTranspose2d: output_padding must be .* smaller than the stride.*"
                                         r"\(2, 2\) with stride \(2, 2\)"):
        nn.ConvTranspose2d(1, 1, 3, stride=2, output_padding=2)
    with pytest.raises(ValueError, match=r"MaxPool2d: padding must be non-negative"):
        nn.MaxPool2d(2, padding=-1)
    with pytest.raises(ValueError, match=r"max_pool2d: padding \(2, 2\) must be at most half the kernel size"):
        F.max_pool2d(tg.randn(1, 1, 6, 6), 3, padding=2)
    with pytest.raises(TypeError, match=r"conv2d: stride must be an int or a pair of ints.*1.5"):
        F.conv2d(tg.randn(1, 1, 5, 5), tg.randn(1, 1, 3, 3), stride=1.5)


def test_wrong_number_of_dimensions() -> None:
    with pytest.raises(ValueError, match=r"Conv2d\(3, 8.*expected a 4-D input \(N, C_in, H, W\), "
                                         r"got shape \(3, 8, 8\)"):
        nn.Conv2d(3, 8, 3)(tg.randn(3, 8, 8))
    with pytest.raises(ValueError, match=r"ConvTranspose2d\(2, 2.*expected a 4-D input.*\(1, 2, 3, 3, 3\)"):
        nn.ConvTranspose2d(2, 2, 3)(tg.randn(1, 2, 3, 3, 3))
    with pytest.raises(ValueError, match=r"conv2d: expected a 4-D weight \(C_out, C_in, kH, kW\), got shape \(2, 3\)"):
        F.conv2d(tg.randn(1, 3, 4, 4), tg.randn(2, 3))
    with pytest.raises(ValueError, match=r"BatchNorm2d\(3\): expected a 4-D input \(N, C, H, W\), got shape \(4, 3\)"):
        nn.BatchNorm2d(3)(tg.randn(4, 3))
    with pytest.raises(ValueError, match=r"BatchNorm1d\(3\): expected a 2-D or 3-D input.*\(4, 3, 2, 2\)"):
        nn.BatchNorm1d(3)(tg.randn(4, 3, 2, 2))
    with pytest.raises(ValueError, match=r"avg_pool2d: expected a 4-D input \(N, C, H, W\), got shape \(5, 5\)"):
        nn.AvgPool2d(2)(tg.randn(5, 5))
    with pytest.raises(ValueError, match=r"dropout2d: expected a 4-D input.*\(5, 5\)"):
        F.dropout2d(tg.randn(5, 5), 0.5)


def test_bias_dtype_and_memory_errors_are_clear() -> None:
    with pytest.raises(ValueError, match=r"conv2d: bias must have shape \(2,\), got \(3,\)"):
        F.conv2d(tg.randn(1, 1, 4, 4), tg.randn(2, 1, 3, 3), tg.randn(3))
    with pytest.raises(TypeError, match=r"conv2d: input, weight and bias must share one dtype.*float64.*float32"):
        F.conv2d(tg.randn(1, 1, 4, 4, dtype=tg.float64), tg.randn(2, 1, 3, 3))
    with pytest.raises(ValueError, match=r"batch_norm: .*\(2, 3, 4, 4\) has 3 channels, but running_mean "
                                         r"has shape \(4,\)"):
        F.batch_norm(tg.randn(2, 3, 4, 4), tg.zeros(4), tg.ones(4), training=True)

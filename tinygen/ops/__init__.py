"""Every differentiable op of tinygen, one family per file:

* ``broadcast``  -- sum_to / broadcast_to, the adjoint pair behind every broadcasting op
* ``arithmetic`` -- add, sub, mul, div, neg, pow, exp, log, sqrt, abs, clamp
* ``reduction``  -- sum, mean, var, max, min, logsumexp, norm, cumsum
* ``shape``      -- reshape, permute, indexing, cat, stack, split, chunk, repeat, where, device and dtype moves
* ``linalg``     -- matmul, mm, bmm, linear
* ``compare``    -- eq, ne, lt, le, gt, ge, & | ^ ~, all, any, isnan, isfinite, allclose, equal (no gradient)
* ``sort``       -- sort, argsort, topk
* ``activation`` -- relu, leaky_relu, sigmoid, tanh, softplus, log_sigmoid, softmax, log_softmax,
                  silu, gelu (with erf), elu
* ``loss``       -- mse_loss, l1_loss, binary_cross_entropy(_with_logits), nll_loss, cross_entropy,
                  kl_div, gaussian_nll_loss
* ``dropout``    -- dropout, dropout2d
* ``im2col``     -- the array kernels under conv: im2col / col2im, batch chunking, the memory guard
* ``conv``       -- conv2d, conv_transpose2d (im2col; each is the other's backward), conv2d_weight
* ``pooling``    -- avg_pool2d, max_pool2d, interpolate / upsample (nearest), pad
* ``normalization`` -- batch_norm, layer_norm, group_norm
* ``embedding``  -- embedding
"""
from . import tensor_methods  # noqa: F401  (attaches x + y, x.sum(), ... to Tensor)
from .activation import (elu, erf, gelu, leaky_relu, log_sigmoid, log_softmax, relu, sigmoid, silu,
                         softmax, softplus, tanh)
from .arithmetic import abs, add, clamp, clip, div, exp, log, mul, neg, pow, sqrt, sub
from .broadcast import broadcast_to, sum_to
from .dropout import dropout, dropout2d
from .linalg import bmm, linear, matmul, mm
from .loss import (binary_cross_entropy, binary_cross_entropy_with_logits, cross_entropy,
                   gaussian_nll_loss, kl_div, l1_loss, mse_loss, nll_loss)
from .reduction import argmax, argmin, cumsum, logsumexp, max, mean, min, norm, std, sum, var
from .shape import (cat, chunk, clone, concat, concatenate, expand, flatten, one_hot, permute, repeat,
                    reshape, split, squeeze, stack, tile, transpose, unflatten, unsqueeze, view, where)
from .compare import (all, allclose, any, bitwise_and, bitwise_not, bitwise_or, bitwise_xor, eq, equal,
                      ge, gt, isfinite, isinf, isnan, le, lt, ne)
from .sort import argsort, sort, topk
from .conv import conv2d, conv2d_weight, conv_transpose2d
from .embedding import embedding
from .normalization import batch_norm, group_norm, layer_norm
from .pooling import avg_pool2d, interpolate, max_pool2d, pad, upsample

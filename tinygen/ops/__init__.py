"""Every differentiable op of tinygen, one family per file:

* ``broadcast``  -- sum_to / broadcast_to, the adjoint pair behind every broadcasting op
* ``arithmetic`` -- add, sub, mul, div, neg, pow, exp, log, sqrt, abs, clamp
* ``reduction``  -- sum, mean, var, max, min, logsumexp
* ``shape``      -- reshape, permute, indexing, cat, stack, where, device and dtype moves
* ``linalg``     -- matmul, linear
* ``activation`` -- relu, leaky_relu, sigmoid, tanh, softplus, log_sigmoid, softmax, log_softmax
* ``loss``       -- mse_loss, binary_cross_entropy_with_logits, nll_loss, cross_entropy
* ``dropout``    -- dropout, dropout2d
* ``im2col``     -- the array kernels under conv: im2col / col2im, batch chunking, the memory guard
* ``conv``       -- conv2d, conv_transpose2d (im2col; each is the other's backward), conv2d_weight
* ``pooling``    -- avg_pool2d, max_pool2d, interpolate / upsample (nearest), pad
* ``normalization`` -- batch_norm
* ``embedding``  -- embedding
"""
from . import tensor_methods  # noqa: F401  (attaches x + y, x.sum(), ... to Tensor)
from .activation import (leaky_relu, log_sigmoid, log_softmax, relu, sigmoid, softmax, softplus,
                         tanh)
from .arithmetic import abs, add, clamp, clip, div, exp, log, mul, neg, pow, sqrt, sub
from .broadcast import broadcast_to, sum_to
from .dropout import dropout, dropout2d
from .linalg import linear, matmul
from .loss import binary_cross_entropy_with_logits, cross_entropy, mse_loss, nll_loss
from .reduction import argmax, argmin, logsumexp, max, mean, min, std, sum, var
from .shape import (cat, clone, concatenate, expand, flatten, one_hot, permute, reshape, squeeze,
                    stack, transpose, unflatten, unsqueeze, view, where)
from .conv import conv2d, conv2d_weight, conv_transpose2d
from .embedding import embedding
from .normalization import batch_norm
from .pooling import avg_pool2d, interpolate, max_pool2d, pad, upsample

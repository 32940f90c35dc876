"""``tinygen.nn.functional`` (imported as ``F``): every differentiable op, as in
``torch.nn.functional``. The ops themselves live in ``tinygen/ops/``, one family per file."""
from ..ops import (abs, add, argmax, argmin, binary_cross_entropy_with_logits, broadcast_to, cat,  # noqa: F401
                   clamp, clip, clone, concatenate, cross_entropy, div, dropout, exp, expand,
                   flatten, leaky_relu, linear, log, log_sigmoid, log_softmax, logsumexp, matmul,
                   max, mean, min, mse_loss, mul, neg, nll_loss, one_hot, permute, pow, relu,
                   reshape, sigmoid, softmax, softplus, sqrt, squeeze, stack, std, sub, sum, sum_to,
                   tanh, transpose, unflatten, unsqueeze, var, view, where)
from ..ops import (avg_pool2d, batch_norm, conv2d, conv2d_weight, conv_transpose2d, dropout2d,  # noqa: F401,E402
                   embedding, interpolate, max_pool2d, pad, upsample)
from ..ops import (binary_cross_entropy, elu, gaussian_nll_loss, gelu, group_norm, kl_div,  # noqa: F401,E402
                   l1_loss, layer_norm, silu)

"""tinygen: deep generative models from scratch, on NumPy or CuPy, with every gradient checked.

Start reading at ``tinygen/backend.py`` and ``tinygen/autograd.py``; the README gives the order.
"""
from . import backend
from .autograd import (AnomalyError, Function, Tensor, detect_anomaly, enable_grad, grad, is_anomaly_enabled,
                       is_grad_enabled, no_grad)
from .autograd import inference_mode, set_grad_enabled  # noqa: E402
from . import ops  # noqa: E402  (attaches the arithmetic methods to Tensor)
from .backend import BackendError, DeviceError, float32, float64, int64, manual_seed
# PyTorch's dtype names, as NumPy scalar types (tinygen.float is float32, as torch.float)
float16, int32, int16, int8, uint8 = (backend.np.float16, backend.np.int32, backend.np.int16, backend.np.int8,
                                      backend.np.uint8)
half, float, double, long, int, bool = float16, float32, float64, int64, int32, backend.bool_  # noqa: A001
from .creation import (arange, eye, from_numpy, full, full_like, linspace, ones, ones_like, rand, rand_like,
                       randint, randn, randn_like, randperm, tensor, zeros, zeros_like)
from .gradcheck import GradcheckError, gradcheck, gradgradcheck
from .ops import (abs, cat, clamp, exp, log, logsumexp, matmul, max, mean, min, one_hot, sigmoid, softmax,
                  sqrt, stack, sum, tanh, var, where)
from .ops import (all, allclose, any, argsort, bitwise_and, bitwise_not, bitwise_or, bitwise_xor, bmm,  # noqa: E402
                  chunk, clip, concat, cumsum, eq, equal, ge, gt, isfinite, isinf, isnan, le, lt, mm, ne, norm,
                  repeat, sort, split, tile, topk)
from . import nn, optim, viz  # noqa: E402

__version__ = "0.1.0"
from .checkpoint import load, save  # noqa: E402  (tinygen.save / tinygen.load: checkpoints)

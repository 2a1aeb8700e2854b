"""Same request + seed -> same bytes, whatever the CPU thread count or number of outputs.

What made CPU results differ, found op by op on torch 2.13 (MKL 2024.2, oneDNN 3.12), by
replaying every module of the tiny pipelines on the same input with 1, 2 and 3 threads:

- MKL's sgemm splits the reduction (K) dimension across threads once K is large (a
  Linear or a convolution's im2col product with K >= ~2000), so the order of the sums
  depends on the thread count. MKL's strict Conditional Numerical Reproducibility mode
  fixes the order whatever the thread count: ``MKL_CBWR=AUTO,STRICT``. MKL reads it once,
  before its first call, so it belongs in the process environment (the serving image's
  ENV, the test suite's conftest); ``configure`` also sets it through ``mkl_cbwr_set``
  when no matrix product has run yet, and says so in the log when it is too late.
- oneDNN's 1x1 convolution uses another kernel with one thread than with several; torch's
  own convolution (im2col + the MKL gemm above) does not:
  ``torch.backends.mkldnn.enabled = False``. Measured cost on SD-sized convolutions: none
  to 15 %, within noise.
- GroupNorm on a channels-last tensor splits H x W across threads. The VAE encoder gets
  the input image channels-last (diffusers turns an HWC array into NCHW by a transpose),
  so ``standard_layout`` makes the inputs of the model's modules contiguous.
- A batch of n outputs changes the shape of every matrix product, hence its blocking and
  summation order: the engine runs each output as its own pipeline call, so output i of
  an n-output request is byte-identical to a one-output request with seed + i.

On CUDA the thread count plays no part: cuDNN autotuning is off (it may pick a different
kernel per run) and cuDNN is asked for deterministic kernels. Results differ between CPU
models (AVX2 vs AVX-512 kernels), GPU models and library versions: the guarantee is for
the same hardware and the same image.
"""

from __future__ import annotations

import ctypes
import logging
import os
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

CPU_ENV = {"MKL_CBWR": "AUTO,STRICT"}  # set before torch loads (serving image ENV, conftest)
_MKL_CBWR_ALL = ~0
_MKL_CBWR_AUTO = 2
_MKL_CBWR_STRICT = 0x10000


def _mkl():
    """torch's statically linked MKL, if this torch has one (x86 Linux wheels do)."""
    import torch

    lib = Path(torch.__file__).parent / "lib" / "libtorch_cpu.so"
    try:
        mkl = ctypes.CDLL(str(lib))
        get, set_ = mkl.mkl_serv_cbwr_get, mkl.mkl_serv_cbwr_set
    except (OSError, AttributeError):
        return None
    get.argtypes, get.restype = [ctypes.c_int], ctypes.c_int
    set_.argtypes, set_.restype = [ctypes.c_int], ctypes.c_int
    return get, set_


def mkl_strict() -> bool | None:
    """Put MKL in strict reproducible mode if it is not already; None: no MKL here."""
    funcs = _mkl()
    if funcs is None:
        return None
    get, set_ = funcs
    if get(_MKL_CBWR_ALL) & _MKL_CBWR_STRICT:
        return True
    return set_(_MKL_CBWR_AUTO | _MKL_CBWR_STRICT) == 0


def configure(device: str) -> dict[str, Any]:
    """Process-wide settings for reproducible results on ``device``; what was set."""
    import torch

    if device == "cuda":
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True
        return {"cudnn_deterministic": True}
    if device != "cpu":
        return {}
    torch.backends.mkldnn.enabled = False
    strict = mkl_strict()
    if strict is False:
        log.warning(
            "CPU results may depend on the thread count: MKL ran before MKL_CBWR=%s could "
            "be set; set it in the environment before the process starts",
            CPU_ENV["MKL_CBWR"],
        )
    return {"mkldnn": False, "mkl_strict": strict}


def _contiguous(_module, args, kwargs):
    import torch

    def fix(value):
        return value.contiguous() if isinstance(value, torch.Tensor) else value

    return tuple(fix(a) for a in args), {k: fix(v) for k, v in kwargs.items()}


def standard_layout(pipe) -> None:
    """Give every model of the pipeline (and its direct parts, which pipelines call
    directly, e.g. ``vae.encoder``) contiguous NCHW inputs."""
    import torch

    for component in pipe.components.values():
        if not isinstance(component, torch.nn.Module):
            continue
        for module in (component, *component.children()):
            module.register_forward_pre_hook(_contiguous, with_kwargs=True)


def apply_env() -> None:
    """Put ``CPU_ENV`` in this process's environment (entry points, before torch loads)."""
    for key, value in CPU_ENV.items():
        os.environ.setdefault(key, value)

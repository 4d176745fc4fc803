"""Host<->device copies: they cross PCIe, not HBM.

A row of an op table whose `host_copy` column is "pinned" or "pageable" (model/trace_ops.py sets it from the
trace's "Memcpy HtoD/DtoH (Pageable|Pinned -> ...)" records) moves its bytes over the part's PCIe link
(`GPUSpec.pcie_bw_GBps`, per direction, from the link generation and width in hardware/data/gpus/*.toml):

    pinned:    t = latency + bytes / (pcie_bw x pinned_frac)
    pageable:  t = latency + bytes / min(pcie_bw x pinned_frac, pageable_GBps)

A pageable copy is staged by the driver through a pinned bounce buffer, so its rate is set by the host's
memcpy into that buffer, not by the link (NVIDIA, "How to Optimize Data Transfers in CUDA C/C++", and the
CUDA C++ Best Practices Guide, "Pinned Memory"). Parameters: [pcie] in model/data/calibration.toml, with
their measurements in its [sources].
"""

from __future__ import annotations

import numpy as np

from trainperf.hardware import GPUSpec
from trainperf.model.calibration import Calibration

# Used when a calibration file predates the [pcie] section (files written by older `trainperf calibrate`);
# the same values as the packaged calibration.toml.
_DEFAULTS = {"pinned_frac": 0.70, "pageable_GBps": 4.5, "latency_s": 1.0e-6}


def pcie_params(calib: Calibration) -> dict[str, float]:
    """[pcie] pinned_frac, pageable_GBps, latency_s of `calib` (packaged values for keys it lacks)."""
    sec = calib.data.get("pcie", {})
    return {k: float(sec.get(k, v)) for k, v in _DEFAULTS.items()}


def pcie_rate(gpu: GPUSpec, calib: Calibration, kind: np.ndarray) -> np.ndarray:
    """Achievable bytes/s of each host<->device copy by kind ("pinned" / "pageable"); 0 for other rows."""
    p = pcie_params(calib)
    pinned = gpu.pcie_bw_GBps * 1e9 * p["pinned_frac"]
    pageable = min(pinned, p["pageable_GBps"] * 1e9)
    return np.where(kind == "pinned", pinned, np.where(kind == "pageable", pageable, 0.0))


def transfer_bytes(bytes_read: np.ndarray, bytes_written: np.ndarray) -> np.ndarray:
    """Bytes crossing the link: the source's (a dtype cast happens on the device side of the copy)."""
    return np.where(bytes_read > 0, bytes_read, bytes_written)

"""How close one CNN training step comes to the machine's own matrix-multiply speed.

The step's floating-point operations (forward and backward) are counted by
:class:`torch.utils.flop_counter.FlopCounterMode`; the step's time is measured on the
package's real training path (:func:`~mlcheatsheet.training.fit`, one epoch, divided by
its steps). The ceiling is what the same machine achieves on large float32 matrix
products, the best case for its vector units and caches.
"""

from __future__ import annotations

import statistics
import time

import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from mlcheatsheet.data import Dataset
from mlcheatsheet.models.cnn import CNN
from mlcheatsheet.runtime import use_channels_last
from mlcheatsheet.training import TrainConfig, fit

from ._measure import Row

__all__ = ["matmul_gflops", "run_flops", "training_step_flops"]


def matmul_gflops(size: int = 2048, *, repeats: int = 5, device: torch.device | None = None) -> float:
    """The machine's float32 GFLOP/s on ``size`` x ``size`` matrix products (median of repeats)."""
    device = device or torch.device("cpu")
    a = torch.randn(size, size, device=device)
    b = torch.randn(size, size, device=device)
    a @ b  # warm-up: thread pool, caches, library dispatch
    rates = []
    for _ in range(repeats):
        start = time.perf_counter()
        c = a @ b
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        rates.append(2 * size**3 / (time.perf_counter() - start) / 1e9)
    del c
    return statistics.median(rates)


def training_step_flops(model: torch.nn.Module, images: torch.Tensor, labels: torch.Tensor) -> int:
    """Floating-point operations of one forward and backward pass of a classifier on a batch."""
    model.train()
    with FlopCounterMode(display=False) as counter:
        F.cross_entropy(model(images), labels).backward()
    model.zero_grad(set_to_none=True)
    return counter.get_total_flops()


def run_flops(
    data: Dataset,
    *,
    device: torch.device,
    batch_size: int = 128,
    steps: int = 12,
    repeats: int = 3,
    channels: tuple[int, ...] = (32, 64, 128),
    matmul_size: int = 2048,
) -> list[Row]:
    """Achieved GFLOP/s of the CNN's training step, as a share of large-matmul GFLOP/s.

    The step is timed through :func:`~mlcheatsheet.training.fit` (one epoch of ``steps``
    batches, after a warm-up epoch); the matmul rate is measured just before and just after,
    and their median taken, so both see the same background load.

    Returns:
        Two rows: the matmul ceiling (informational) and the CNN step's share of it.
    """
    torch.manual_seed(0)
    model = CNN(image_shape=data.image_shape, channels=channels, num_classes=data.num_classes)
    images, labels = data.x_train[:batch_size].to(device), data.y_train[:batch_size].to(device)
    flops = training_step_flops(model.to(device), images, labels)
    subset = data.subset(max_train=batch_size * steps)
    config = TrainConfig(epochs=1, batch_size=batch_size, schedule="constant")

    def loss_fn(net: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(net(x), y)

    fit(model, subset, config, loss_fn=loss_fn, device=device)  # warm-up
    ceilings, step_rates = [matmul_gflops(matmul_size, device=device)], []
    for _ in range(repeats):
        start = time.perf_counter()
        history = fit(model, subset, config, loss_fn=loss_fn, device=device)
        step_rates.append(flops * history.steps / (time.perf_counter() - start) / 1e9)
        ceilings.append(matmul_gflops(matmul_size, device=device))
    ceiling, achieved = statistics.median(ceilings), statistics.median(step_rates)
    layout = "channels-last" if use_channels_last(model, device) else "NCHW"
    return [
        Row(f"matmul {matmul_size}x{matmul_size} fp32", f"{ceiling:.1f} GFLOP/s", "", None, None,
            f"median of {len(ceilings)}, interleaved with the CNN runs"),
        Row("CNN step / matmul GFLOP/s", f"{achieved:.1f} GFLOP/s", f"{ceiling:.1f} GFLOP/s", achieved / ceiling, 0.30,
            f"{flops / 1e9:.2f} GFLOP per step (fwd+bwd), batch {batch_size}, {layout}, median of {repeats}",
            percent=True),
    ]

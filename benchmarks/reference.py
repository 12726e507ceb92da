"""The reference: the classic PyTorch MNIST recipe, written plainly, as most tutorials do it.

Everything here is deliberately ordinary: a :class:`~torch.utils.data.DataLoader` over a
:class:`~torch.utils.data.TensorDataset` (batch 64, shuffled), one optimiser step per batch,
and the loss read with ``.item()`` at every step so it can be logged. The benchmarks run
the package's engine against these loops on the same tensors, model and optimiser.

:class:`ClassicNet` and :func:`run_reference_recipe` follow the well-known MNIST example
(two 3x3 convolutions, max-pooling, dropout, Adadelta with learning rate 1.0 and a step
decay of 0.7 per epoch, 10 epochs) for the time-to-accuracy benchmark.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

__all__ = [
    "ClassicNet",
    "RecipeResult",
    "reference_classifier_epoch",
    "reference_gan_epoch",
    "reference_loader",
    "run_reference_recipe",
]

# The classic recipe standardises pixels with the MNIST training mean and standard deviation.
MNIST_MEAN, MNIST_STD = 0.1307, 0.3081


def reference_loader(images: torch.Tensor, labels: torch.Tensor, *, batch_size: int = 64, shuffle: bool = True) -> DataLoader:
    """The tutorial's data pipeline: a shuffled ``DataLoader`` over a ``TensorDataset``."""
    return DataLoader(TensorDataset(images, labels), batch_size=batch_size, shuffle=shuffle)


def reference_classifier_epoch(
    model: nn.Module,
    loader: DataLoader,
    optimizer: torch.optim.Optimizer,
    *,
    device: torch.device | str = "cpu",
    log: Callable[[float], None] | None = None,
) -> int:
    """One epoch of the plain training loop; returns the number of images seen.

    Every step reads the loss back to the host with ``.item()`` (as a loop that logs or
    prints its loss does), which forces the step to finish before the next one is queued.
    """
    model.train()
    seen = 0
    for images, labels in loader:
        images, labels = images.to(device), labels.to(device)
        optimizer.zero_grad()
        loss = F.cross_entropy(model(images), labels)
        loss.backward()
        optimizer.step()
        value = loss.item()
        if log is not None:
            log(value)
        seen += len(images)
    return seen


def reference_gan_epoch(
    generator: nn.Module,
    discriminator: nn.Module,
    loader: DataLoader,
    g_optimizer: torch.optim.Optimizer,
    d_optimizer: torch.optim.Optimizer,
    *,
    latent_dim: int,
    latent_shape: tuple[int, ...] = (),
    device: torch.device | str = "cpu",
) -> int:
    """One epoch of the DCGAN tutorial's loop; returns the number of real images seen.

    Per batch: the discriminator's loss on real images (target 1) and on detached fakes
    (target 0), one discriminator step; then the generator's non-saturating loss (fakes
    labelled 1), one generator step; five scalars read with ``.item()`` for the log. The
    discriminator returns logits, so the loss is ``binary_cross_entropy_with_logits``.

    Args:
        latent_shape: Trailing shape of the noise after ``latent_dim``, e.g. ``(1, 1)``
            for a generator that takes ``(N, Z, 1, 1)``; empty for ``(N, Z)``.
    """
    generator.train()
    discriminator.train()
    seen = 0
    for real, _ in loader:
        real = real.to(device)
        n = len(real)
        ones, zeros = torch.ones(n, device=device), torch.zeros(n, device=device)
        # Discriminator: real towards 1, fake towards 0.
        discriminator.zero_grad()
        out_real = discriminator(real).view(-1)
        loss_real = F.binary_cross_entropy_with_logits(out_real, ones)
        loss_real.backward()
        d_x = torch.sigmoid(out_real).mean().item()
        noise = torch.randn(n, latent_dim, *latent_shape, device=device)
        fake = generator(noise)
        out_fake = discriminator(fake.detach()).view(-1)
        loss_fake = F.binary_cross_entropy_with_logits(out_fake, zeros)
        loss_fake.backward()
        d_g_z1 = torch.sigmoid(out_fake).mean().item()
        d_optimizer.step()
        # Generator: make the discriminator call the fakes real.
        generator.zero_grad()
        out = discriminator(fake).view(-1)
        loss_g = F.binary_cross_entropy_with_logits(out, ones)
        loss_g.backward()
        d_g_z2 = torch.sigmoid(out).mean().item()
        g_optimizer.step()
        _ = ((loss_real + loss_fake).item(), loss_g.item(), d_x, d_g_z1, d_g_z2)
        seen += n
    return seen


class ClassicNet(nn.Module):
    """The classic MNIST example's network: two 3x3 convolutions, max-pooling, dropout.

    ``conv(1→32) → ReLU → conv(32→64) → ReLU → maxpool 2 → dropout 0.25 → flatten →
    linear(→128) → ReLU → dropout 0.5 → linear(→10)``. It returns logits (the original
    applies ``log_softmax`` and ``nll_loss``, which is the same objective).

    Shape:
        - Input: :math:`(N, 1, 28, 28)`, standardised pixels.
        - Output: :math:`(N, 10)` logits.
    """

    def __init__(self, image_size: int = 28, num_classes: int = 10) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, kernel_size=3)
        self.conv2 = nn.Conv2d(32, 64, kernel_size=3)
        pooled = (image_size - 4) // 2  # two unpadded 3x3 convolutions, then a 2x2 pool
        self.dropout1 = nn.Dropout(0.25)
        self.fc1 = nn.Linear(64 * pooled * pooled, 128)
        self.dropout2 = nn.Dropout(0.5)
        self.fc2 = nn.Linear(128, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of a batch of standardised images."""
        x = F.relu(self.conv1(x))  # (N, 32, 26, 26)
        x = F.relu(self.conv2(x))  # (N, 64, 24, 24)
        x = self.dropout1(F.max_pool2d(x, 2))  # (N, 64, 12, 12)
        x = self.dropout2(F.relu(self.fc1(torch.flatten(x, 1))))  # (N, 128)
        return self.fc2(x)


@dataclass
class RecipeResult:
    """What the reference recipe achieved.

    Attributes:
        test_accuracy: Held-out accuracy after each epoch.
        seconds: Wall-clock seconds since the start, after each epoch (testing included).
    """

    test_accuracy: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)

    @property
    def best_accuracy(self) -> float:
        """The best held-out accuracy of the run (the benchmark's target ``A``)."""
        return max(self.test_accuracy)

    @property
    def seconds_to_best(self) -> float:
        """Seconds until the best accuracy was first reached."""
        return self.seconds[self.test_accuracy.index(self.best_accuracy)]


def _reference_test(model: nn.Module, loader: DataLoader) -> float:
    model.eval()
    correct = total = 0
    with torch.no_grad():
        for images, labels in loader:
            correct += int((model(images).argmax(dim=1) == labels).sum().item())
            total += len(labels)
    return correct / total


def run_reference_recipe(
    x_train: torch.Tensor,
    y_train: torch.Tensor,
    x_test: torch.Tensor,
    y_test: torch.Tensor,
    *,
    epochs: int = 10,
    batch_size: int = 64,
    seed: int = 1,
) -> RecipeResult:
    """Train :class:`ClassicNet` with the classic recipe and test it after every epoch.

    Adadelta with learning rate 1.0, the rate multiplied by 0.7 after each epoch, batches of
    64 from a shuffled ``DataLoader``, ``.item()`` on the loss at every step, and a test pass
    (batches of 1000) after each epoch. Pixels are standardised once, up front (the original
    does it per image inside the loader, which is slower still).
    """
    torch.manual_seed(seed)
    image_size = x_train.shape[-1]
    model = ClassicNet(image_size=image_size, num_classes=int(y_train.max()) + 1)
    optimizer = torch.optim.Adadelta(model.parameters(), lr=1.0)
    schedule = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.7)
    train_loader = reference_loader((x_train - MNIST_MEAN) / MNIST_STD, y_train, batch_size=batch_size)
    test_loader = reference_loader((x_test - MNIST_MEAN) / MNIST_STD, y_test, batch_size=1000, shuffle=False)
    result = RecipeResult()
    start = time.perf_counter()
    for _ in range(epochs):
        reference_classifier_epoch(model, train_loader, optimizer)
        result.test_accuracy.append(_reference_test(model, test_loader))
        result.seconds.append(time.perf_counter() - start)
        schedule.step()
    return result

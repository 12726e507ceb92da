"""Diffusion models: a small U-Net that learns to undo noise, two ways to train it, and their samplers.

Both objectives corrupt an image :math:`x_0` with Gaussian noise :math:`\\varepsilon` to a
level :math:`t` and train one network :math:`f_\\theta(x_t, t)` to say how to go back.

* **DDPM** (Ho et al. 2020, https://arxiv.org/abs/2006.11239): a schedule
  :math:`\\beta_1, \\dots, \\beta_T` fixes :math:`\\bar\\alpha_t = \\prod_{s \\le t} (1 - \\beta_s)`,
  :math:`x_t = \\sqrt{\\bar\\alpha_t}\\, x_0 + \\sqrt{1 - \\bar\\alpha_t}\\, \\varepsilon`, and the
  network predicts the noise: :math:`\\mathcal{L} = \\mathbb{E}\\,\\lVert f_\\theta(x_t, t) - \\varepsilon \\rVert^2`
  (:func:`ddpm_loss`). Sampling walks back from pure noise, ancestrally (:func:`ddpm_sample`)
  or deterministically on fewer steps (DDIM, Song et al. 2021; :func:`ddim_sample`).
* **Flow matching** (Lipman et al. 2022; rectified flow, Liu et al. 2022): the straight path
  :math:`x_t = (1 - t)\\, x_0 + t\\, \\varepsilon`, :math:`t \\in [0, 1]`, whose velocity is
  :math:`\\varepsilon - x_0`; the network predicts it,
  :math:`\\mathcal{L} = \\mathbb{E}\\,\\lVert f_\\theta(x_t, t) - (\\varepsilon - x_0) \\rVert^2`
  (:func:`flow_matching_loss`), and sampling integrates :math:`dx/dt = f_\\theta(x, t)` from
  :math:`t = 1` to :math:`0` with Euler or Heun steps (:func:`flow_sample`).

The network sees the noise level as :math:`t \\in [0, 1]` in both (a DDPM step :math:`k` of
:math:`T` as :math:`k / T`), through a sinusoidal embedding. Images live in :math:`[-1, 1]`,
as for the GANs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ._checks import check_image_batch, check_image_shape, check_positive
from .registry import register_model

__all__ = ["SOLVERS", "TIME_SAMPLING", "FlowSampler", "NoiseSchedule", "UNet", "ddim_sample", "ddpm_loss", "ddpm_sample",
           "euler_sample", "flow_evaluations", "flow_matching_loss", "flow_path", "flow_sample", "time_embedding"]


def time_embedding(t: torch.Tensor, dim: int, *, max_period: float = 10_000.0) -> torch.Tensor:
    """Sines and cosines of :math:`1000\\,t` at ``dim / 2`` geometric frequencies, :math:`(N, \\text{dim})`.

    The transformer's position encoding, read at noise level ``t`` (:math:`(N,)`, in
    :math:`[0, 1]`): nearby levels get similar vectors and every level a distinct one.
    """
    if dim < 2 or dim % 2:
        raise ValueError(f"the time embedding needs an even dim of at least 2, got {dim}")
    half = dim // 2
    frequencies = torch.exp(-math.log(max_period) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    angles = 1000.0 * t.float()[:, None] * frequencies[None]  # (N, half)
    return torch.cat([angles.sin(), angles.cos()], dim=1)


class ResidualBlock(nn.Module):
    """GroupNorm, SiLU, 3x3 convolution, twice, with the time embedding added in between; a 1x1 skip when the width changes."""

    def __init__(self, c_in: int, c_out: int, time_dim: int, groups: int) -> None:
        super().__init__()
        self.norm1, self.conv1 = nn.GroupNorm(min(groups, c_in), c_in), nn.Conv2d(c_in, c_out, 3, padding=1)
        self.time = nn.Linear(time_dim, c_out)
        self.norm2, self.conv2 = nn.GroupNorm(min(groups, c_out), c_out), nn.Conv2d(c_out, c_out, 3, padding=1)
        self.skip = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.time(emb)[:, :, None, None]  # the noise level shifts every channel
        h = self.conv2(F.silu(self.norm2(h)))
        return h + self.skip(x)


class Attention2d(nn.Module):
    """Self-attention over the positions of a feature map (one head), with a residual connection."""

    def __init__(self, channels: int, groups: int) -> None:
        super().__init__()
        self.norm = nn.GroupNorm(min(groups, channels), channels)
        self.qkv = nn.Conv2d(channels, 3 * channels, 1)
        self.out = nn.Conv2d(channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        q, k, v = self.qkv(self.norm(x)).reshape(n, 3, c, h * w).unbind(1)  # 3 x (N, C, HW)
        attended = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2))  # (N, HW, C)
        return x + self.out(attended.transpose(1, 2).reshape(n, c, h, w))


@register_model("unet")
class UNet(nn.Module):
    """A small U-Net: the network of a diffusion model, :math:`f_\\theta(x_t, t)`.

    Two stride-2 downsamplings (28 -> 14 -> 7, or 32 -> 16 -> 8), a middle of two residual
    blocks, and the mirror path up, where each level concatenates the features the way
    down saved at the same resolution (the U's skip connections). Every residual block
    receives the noise level through a sinusoidal embedding and a small MLP.

    Args:
        image_shape: ``(C, H, W)``; H and W divisible by 4.
        base_channels: Channels at full resolution; ``channel_mults`` scales them per level.
        channel_mults: One factor per resolution, e.g. ``(1, 2, 2)``: full, half, quarter.
        attention: Add self-attention at the lowest resolution.
        groups: GroupNorm groups (fewer where a layer has fewer channels).

    Shape:
        - Input: ``x`` :math:`(N, C, H, W)`, ``t`` :math:`(N,)` in :math:`[0, 1]`.
        - Output: :math:`(N, C, H, W)`: the predicted noise (DDPM) or velocity (flow matching).
    """

    def __init__(self, *, image_shape: tuple[int, int, int] = (1, 28, 28), base_channels: int = 32,
                 channel_mults: Sequence[int] = (1, 2, 2), attention: bool = False, groups: int = 8) -> None:
        super().__init__()
        self.image_shape = check_image_shape(image_shape, smallest=4)
        check_positive("base_channels", base_channels)
        check_positive("channel_mults", tuple(channel_mults))
        check_positive("groups", groups)
        levels = len(channel_mults)
        c, h, w = self.image_shape
        if levels < 1 or h % 2 ** (levels - 1) or w % 2 ** (levels - 1):
            raise ValueError(f"image_shape {self.image_shape!r}: height and width must be divisible by "
                             f"{2 ** (levels - 1)} for {levels} channel_mults")
        widths = [base_channels * m for m in channel_mults]
        if any(width % min(groups, width) for width in widths):
            raise ValueError(f"groups={groups} must divide every level's channels {widths} (base_channels x channel_mults)")
        self.time_dim = 4 * base_channels
        self.time_mlp = nn.Sequential(nn.Linear(base_channels, self.time_dim), nn.SiLU(), nn.Linear(self.time_dim, self.time_dim))
        self.stem = nn.Conv2d(c, widths[0], 3, padding=1)
        self.down = nn.ModuleList(ResidualBlock(widths[max(i - 1, 0)], width, self.time_dim, groups) for i, width in enumerate(widths))
        self.pool = nn.ModuleList(nn.Conv2d(width, width, 3, stride=2, padding=1) for width in widths[:-1])
        self.middle = nn.ModuleList([ResidualBlock(widths[-1], widths[-1], self.time_dim, groups),
                                     ResidualBlock(widths[-1], widths[-1], self.time_dim, groups)])
        self.attention = Attention2d(widths[-1], groups) if attention else nn.Identity()
        self.up = nn.ModuleList(ResidualBlock(2 * width, widths[max(i - 1, 0)], self.time_dim, groups)
                                for i, width in reversed(list(enumerate(widths))))
        self.head = nn.Sequential(nn.GroupNorm(min(groups, widths[0]), widths[0]), nn.SiLU(), nn.Conv2d(widths[0], c, 3, padding=1))
        self.base_channels = base_channels

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """The prediction for noised images ``x`` :math:`(N, C, H, W)` at noise levels ``t`` :math:`(N,)`."""
        check_image_batch("UNet", x, self.image_shape)
        if t.shape != (x.shape[0],):
            raise ValueError(f"UNet expects one noise level per image, t of shape ({x.shape[0]},), got {tuple(t.shape)}")
        emb = self.time_mlp(time_embedding(t, self.base_channels))  # (N, time_dim)
        h = self.stem(x)
        saved = []
        for i, block in enumerate(self.down):
            h = block(h, emb)
            saved.append(h)
            if i < len(self.pool):
                h = self.pool[i](h)  # halve the resolution
        h = self.attention(self.middle[0](h, emb))
        h = self.middle[1](h, emb)
        for i, block in enumerate(self.up):
            if i:
                h = F.interpolate(h, scale_factor=2.0, mode="nearest")  # back up one level
            h = block(torch.cat([h, saved.pop()], dim=1), emb)
        return self.head(h)


# -- DDPM ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class NoiseSchedule:
    """The noise levels :math:`\\beta_1 \\dots \\beta_T` of DDPM and the products derived from them.

    Attributes:
        betas: :math:`(T,)`, each in :math:`(0, 1)`.
    """

    betas: torch.Tensor

    def __post_init__(self) -> None:
        betas = self.betas
        if betas.dim() != 1 or len(betas) < 1:
            raise ValueError(f"a noise schedule is a non-empty vector of betas, got shape {tuple(betas.shape)}")
        if not bool(((betas > 0) & (betas < 1)).all()):
            raise ValueError(f"every beta of a noise schedule must be in (0, 1); got {float(betas.min()):g} to {float(betas.max()):g}")

    @classmethod
    def linear(cls, steps: int = 1000, beta_start: float = 1e-4, beta_end: float = 0.02) -> NoiseSchedule:
        """Ho et al.'s schedule: betas evenly spaced from ``beta_start`` to ``beta_end``."""
        check_positive("steps", steps)
        if not 0 < beta_start <= beta_end < 1:
            raise ValueError(f"a linear schedule needs 0 < beta_start <= beta_end < 1, got {beta_start} and {beta_end}")
        return cls(torch.linspace(beta_start, beta_end, steps, dtype=torch.float64))

    @classmethod
    def cosine(cls, steps: int = 1000, offset: float = 0.008) -> NoiseSchedule:
        """Nichol & Dhariwal's schedule: :math:`\\bar\\alpha_t` falls as :math:`\\cos^2` of the step (betas capped at 0.999)."""
        check_positive("steps", steps)
        s = torch.linspace(0, 1, steps + 1, dtype=torch.float64)
        f = torch.cos((s + offset) / (1 + offset) * math.pi / 2) ** 2
        return cls((1 - f[1:] / f[:-1]).clamp(1e-8, 0.999))

    @property
    def steps(self) -> int:
        """:math:`T`."""
        return len(self.betas)

    @property
    def alphas_cumprod(self) -> torch.Tensor:
        """:math:`\\bar\\alpha_t = \\prod_{s \\le t} (1 - \\beta_s)`, :math:`(T,)`: the share of the image left at step :math:`t`."""
        return torch.cumprod(1 - self.betas, dim=0)

    def noised(self, x0: torch.Tensor, step: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """:math:`x_t = \\sqrt{\\bar\\alpha_t}\\, x_0 + \\sqrt{1 - \\bar\\alpha_t}\\, \\varepsilon` at 0-based ``step`` :math:`(N,)`."""
        abar = self.alphas_cumprod.to(x0.device)[step].to(x0.dtype)[:, None, None, None]
        return abar.sqrt() * x0 + (1 - abar).sqrt() * noise


def _level(step: torch.Tensor, schedule: NoiseSchedule) -> torch.Tensor:
    """The network's noise level for 0-based DDPM ``step``: :math:`(k + 1) / T`."""
    return (step.float() + 1) / schedule.steps


def ddpm_loss(model: nn.Module, x0: torch.Tensor, schedule: NoiseSchedule, *,
              generator: torch.Generator | None = None) -> torch.Tensor:
    """Mean squared error between the noise added at a uniformly drawn step and the network's guess of it."""
    step = torch.randint(0, schedule.steps, (x0.shape[0],), device=x0.device, generator=generator)
    noise = torch.randn(x0.shape, device=x0.device, dtype=x0.dtype, generator=generator)
    return F.mse_loss(model(schedule.noised(x0, step, noise), _level(step, schedule)), noise)


def _timesteps(schedule: NoiseSchedule, steps: int) -> list[int]:
    """``steps`` 0-based DDPM steps from the last to the first, evenly spaced."""
    check_positive("steps", steps)
    if steps > schedule.steps:
        raise ValueError(f"steps must be at most the schedule's {schedule.steps}, got {steps}")
    return sorted({round(k) for k in torch.linspace(0, schedule.steps - 1, steps).tolist()}, reverse=True)


def _start(model: nn.Module, count: int, generator: torch.Generator | None) -> torch.Tensor:
    device = next(model.parameters()).device
    return torch.randn(count, *model.image_shape, device=device, generator=generator)


@torch.no_grad()
def ddpm_sample(model: nn.Module, schedule: NoiseSchedule, count: int, *, steps: int | None = None,
                generator: torch.Generator | None = None) -> torch.Tensor:
    """Ancestral sampling: from pure noise, remove the predicted noise one step at a time, adding a little fresh noise.

    With ``steps`` below :math:`T` the walk visits evenly spaced steps, with each jump's
    :math:`\\beta` recomputed from :math:`\\bar\\alpha` at its two ends.

    Returns:
        Images :math:`(\\text{count}, C, H, W)` in :math:`[-1, 1]`.
    """
    check_positive("count", count)
    visits = _timesteps(schedule, steps or schedule.steps)
    abar = schedule.alphas_cumprod
    x = _start(model, count, generator)
    for i, k in enumerate(visits):
        before = abar[visits[i + 1]] if i + 1 < len(visits) else torch.tensor(1.0, dtype=abar.dtype)
        beta = 1 - abar[k] / before  # this jump's beta
        eps = model(x, _level(torch.full((count,), k, device=x.device), schedule))
        mean = (x - float(beta / (1 - abar[k]).sqrt()) * eps) / float((1 - beta).sqrt())
        if i + 1 < len(visits):
            sigma = float((beta * (1 - before) / (1 - abar[k])).sqrt())  # the posterior's standard deviation
            mean = mean + sigma * torch.randn(x.shape, device=x.device, generator=generator)
        x = mean
    return x.clamp(-1, 1)


@torch.no_grad()
def ddim_sample(model: nn.Module, schedule: NoiseSchedule, count: int, *, steps: int = 50,
                generator: torch.Generator | None = None) -> torch.Tensor:
    """Deterministic DDIM sampling (:math:`\\eta = 0`) on ``steps`` evenly spaced steps of the same trained model.

    Each step estimates :math:`\\hat x_0` from the predicted noise and moves to the earlier
    noise level along the same noise: :math:`x' = \\sqrt{\\bar\\alpha'}\\, \\hat x_0 + \\sqrt{1 - \\bar\\alpha'}\\, \\hat\\varepsilon`.
    """
    check_positive("count", count)
    visits = _timesteps(schedule, steps)
    abar = schedule.alphas_cumprod
    x = _start(model, count, generator)
    for i, k in enumerate(visits):
        eps = model(x, _level(torch.full((count,), k, device=x.device), schedule))
        x0 = ((x - float((1 - abar[k]).sqrt()) * eps) / float(abar[k].sqrt())).clamp(-1, 1)
        before = float(abar[visits[i + 1]]) if i + 1 < len(visits) else 1.0
        x = math.sqrt(before) * x0 + math.sqrt(1 - before) * eps
    return x.clamp(-1, 1)


# -- Flow matching ------------------------------------------------------------------------
#: How :func:`flow_matching_loss` draws the noise level of each image.
TIME_SAMPLING = ("uniform", "logit-normal")
#: The ODE solvers of :func:`flow_sample`.
SOLVERS = ("euler", "heun")


def _check_solver(solver: str) -> None:
    if solver not in SOLVERS:
        raise ValueError(f"unknown solver {solver!r}; choose one of: {', '.join(SOLVERS)}")


def _levels(count: int, how: str, device: torch.device, generator: torch.Generator | None) -> torch.Tensor:
    """``count`` noise levels in (0, 1): uniform, or the sigmoid of a standard normal (Esser et al. 2024)."""
    if how == "uniform":
        return torch.rand(count, device=device, generator=generator)
    if how == "logit-normal":  # most levels near the middle, where the velocity is hardest to tell
        return torch.sigmoid(torch.randn(count, device=device, generator=generator))
    raise ValueError(f"unknown time sampling {how!r}; choose one of: {', '.join(TIME_SAMPLING)}")


def flow_matching_loss(model: nn.Module, x0: torch.Tensor, *, time_sampling: str = "uniform",
                       generator: torch.Generator | None = None) -> torch.Tensor:
    """Mean squared error between the network's velocity at a drawn :math:`t` and :math:`\\varepsilon - x_0`.

    Args:
        model: The network, ``model(x_t, t)``.
        x0: Images in :math:`[-1, 1]`.
        time_sampling: ``"uniform"`` draws :math:`t \\sim U(0, 1)` (Lipman et al.);
            ``"logit-normal"`` draws :math:`t = \\sigma(u)`, :math:`u \\sim \\mathcal{N}(0, 1)`, which
            spends the training on middle levels (Esser et al. 2024, https://arxiv.org/abs/2403.03206).
        generator: Random generator on ``x0``'s device.
    """
    t = _levels(x0.shape[0], time_sampling, x0.device, generator)
    noise = torch.randn(x0.shape, device=x0.device, dtype=x0.dtype, generator=generator)
    tt = t.to(x0.dtype)[:, None, None, None]
    return F.mse_loss(model((1 - tt) * x0 + tt * noise, t), noise - x0)


def _integrate(model: nn.Module, x: torch.Tensor, steps: int, solver: str,
               path: list[torch.Tensor] | None = None) -> torch.Tensor:
    """From :math:`t = 1` to :math:`0` in ``steps`` equal steps; Heun corrects each Euler step with the velocity at its end.

    ``path``, when given, receives the state after every step.
    """
    _check_solver(solver)
    for i in range(steps, 0, -1):
        velocity = model(x, torch.full((x.shape[0],), i / steps, device=x.device))
        ahead = x - velocity / steps  # dx = v dt, with dt = -1 / steps
        if solver == "heun" and i > 1:  # the last step ends at t = 0, where the velocity is not trained: Euler there
            velocity = (velocity + model(ahead, torch.full((x.shape[0],), (i - 1) / steps, device=x.device))) / 2
            ahead = x - velocity / steps
        x = ahead
        if path is not None:
            path.append(x.clamp(-1, 1))
    return x.clamp(-1, 1)


@torch.no_grad()
def flow_sample(model: nn.Module, count: int, *, steps: int = 10, solver: str = "heun",
                generator: torch.Generator | None = None) -> torch.Tensor:
    """Integrate the learned velocity from noise (:math:`t = 1`) to an image (:math:`t = 0`).

    Args:
        model: The trained velocity network.
        count: How many images.
        steps: Equal steps in :math:`t`; Euler costs ``steps`` network evaluations, Heun
            ``2 * steps - 1``.
        solver: ``"euler"`` (first order) or ``"heun"`` (second order).
        generator: Random generator of the starting noise.

    Returns:
        Images :math:`(\\text{count}, C, H, W)` in :math:`[-1, 1]`.
    """
    check_positive("count", count)
    check_positive("steps", steps)
    return _integrate(model, _start(model, count, generator), steps, solver)


def flow_evaluations(steps: int, solver: str = "heun") -> int:
    """The network evaluations :func:`flow_sample` spends on one image: ``steps`` for Euler, ``2 * steps - 1`` for Heun."""
    check_positive("steps", steps)
    _check_solver(solver)
    return 2 * steps - 1 if solver == "heun" else steps


@torch.no_grad()
def flow_path(model: nn.Module, noise: torch.Tensor, *, steps: int = 10, solver: str = "heun") -> torch.Tensor:
    """Every state of :func:`flow_sample` on its way from ``noise`` to the images.

    Args:
        model: The trained velocity network.
        noise: The starting points :math:`x_1`, :math:`(N, C, H, W)`.
        steps: Equal steps in :math:`t`.
        solver: ``"euler"`` or ``"heun"``.

    Returns:
        :math:`(\\text{steps} + 1, N, C, H, W)`: the states at
        :math:`t = 1, 1 - 1/\\text{steps}, \\dots, 0`, clipped to :math:`[-1, 1]`.
    """
    check_positive("steps", steps)
    path = [noise.clamp(-1, 1)]
    _integrate(model, noise, steps, solver, path)
    return torch.stack(path)


def euler_sample(model: nn.Module, count: int, *, steps: int = 20, generator: torch.Generator | None = None) -> torch.Tensor:
    """:func:`flow_sample` with Euler steps."""
    return flow_sample(model, count, steps=steps, solver="euler", generator=generator)


class FlowSampler(nn.Module):
    """A trained flow-matching network seen as a generator: noise in, images out.

    The noise is the starting point :math:`x_1` flattened, so every tool written for a GAN's
    generator (scoring, sample grids, interpolation) takes the diffusion model as it is.

    Args:
        network: The trained velocity network (a :class:`UNet`).
        steps: Steps of the solver (see :func:`flow_sample` for their cost).
        solver: ``"euler"`` or ``"heun"``.

    Shape:
        - Input: :math:`(N, C \\cdot H \\cdot W)` standard normal noise.
        - Output: :math:`(N, C, H, W)` in :math:`[-1, 1]`.
    """

    def __init__(self, network: nn.Module, steps: int, solver: str = "heun") -> None:
        super().__init__()
        flow_evaluations(steps, solver)  # refuses a step count below one or an unknown solver
        self.network, self.steps, self.solver = network, steps, solver
        self.image_shape = tuple(network.image_shape)
        self.latent_dim = math.prod(self.image_shape)

    @property
    def evaluations(self) -> int:
        """The network evaluations one sample costs, one a step for Euler and two a step (one for the last) for Heun."""
        return flow_evaluations(self.steps, self.solver)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """Images from the flattened starting noise ``z``."""
        if z.dim() != 2 or z.shape[1] != self.latent_dim:
            raise ValueError(f"FlowSampler expects noise of shape (N, {self.latent_dim}), got {tuple(z.shape)}")
        return _integrate(self.network, z.reshape(-1, *self.image_shape), self.steps, self.solver)

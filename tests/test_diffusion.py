"""Diffusion models: the U-Net's shapes, the two losses against hand computations, the
schedule's endpoints, the samplers at one step and at many, and clear errors."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from mlcheatsheet.checkpoint import load_checkpoint, save_checkpoint
from mlcheatsheet.models import (FlowSampler, NoiseSchedule, UNet, build_model, ddim_sample, ddpm_loss, ddpm_sample, euler_sample,
                                 flow_matching_loss, flow_path, flow_sample)


class _Level(nn.Module):
    """A stand-in network whose output is a known function of its inputs: 0.5 x + t."""

    image_shape = (1, 2, 2)

    def __init__(self) -> None:
        super().__init__()
        self.unused = nn.Parameter(torch.zeros(()))  # the samplers ask the parameters for the device

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return 0.5 * x + t[:, None, None, None]


class _Oracle(nn.Module):
    """The exact noise (``kind="ddpm"``) or velocity (``"flow"``) for data that is one image, ``target``."""

    def __init__(self, target: torch.Tensor, kind: str, schedule: NoiseSchedule | None = None) -> None:
        super().__init__()
        self.image_shape = tuple(target.shape)
        self.target, self.kind, self.schedule = target, kind, schedule
        self.unused = nn.Parameter(torch.zeros(()))

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        if self.kind == "flow":  # x = (1 - t) x0 + t eps  =>  eps - x0 = (x - x0) / t
            return (x - self.target) / t[:, None, None, None]
        step = (t * self.schedule.steps).round().long() - 1  # the level (k + 1) / T back to step k
        abar = self.schedule.alphas_cumprod[step].float()[:, None, None, None]
        return (x - abar.sqrt() * self.target) / (1 - abar).sqrt()


@pytest.mark.parametrize("image_shape", [(1, 28, 28), (3, 32, 32)])
@pytest.mark.parametrize("attention", [False, True])
def test_the_unet_returns_one_value_per_pixel(image_shape: tuple[int, int, int], attention: bool) -> None:
    model = UNet(image_shape=image_shape, base_channels=8, attention=attention)
    x, t = torch.randn(3, *image_shape), torch.tensor([0.0, 0.5, 1.0])
    assert model(x, t).shape == (3, *image_shape)


def test_the_ddpm_loss_is_the_error_of_the_predicted_noise() -> None:
    schedule, x0 = NoiseSchedule.linear(steps=4, beta_start=0.1, beta_end=0.4), torch.rand(2, 1, 2, 2) * 2 - 1
    loss = ddpm_loss(_Level(), x0, schedule, generator=torch.Generator().manual_seed(3))
    drawn = torch.Generator().manual_seed(3)
    step = torch.randint(0, 4, (2,), generator=drawn)
    noise = torch.randn(x0.shape, generator=drawn)
    betas = [0.1, 0.2, 0.3, 0.4]  # linspace(0.1, 0.4, 4)
    expected = 0.0
    for i in range(2):
        abar = math.prod(1 - b for b in betas[: int(step[i]) + 1])
        xt = math.sqrt(abar) * x0[i] + math.sqrt(1 - abar) * noise[i]
        guess = 0.5 * xt + (int(step[i]) + 1) / 4  # the stand-in network at level (k + 1) / T
        expected += float(((guess - noise[i]) ** 2).sum())
    assert float(loss) == pytest.approx(expected / x0.numel(), rel=1e-5)


@pytest.mark.parametrize("time_sampling", ["uniform", "logit-normal"])
def test_the_flow_matching_loss_is_the_error_of_the_predicted_velocity(time_sampling: str) -> None:
    x0 = torch.rand(2, 1, 2, 2) * 2 - 1
    loss = flow_matching_loss(_Level(), x0, time_sampling=time_sampling, generator=torch.Generator().manual_seed(5))
    drawn = torch.Generator().manual_seed(5)
    t = torch.rand(2, generator=drawn) if time_sampling == "uniform" else 1 / (1 + torch.exp(-torch.randn(2, generator=drawn)))
    noise = torch.randn(x0.shape, generator=drawn)
    expected = 0.0
    for i in range(2):
        xt = (1 - t[i]) * x0[i] + t[i] * noise[i]
        expected += float(((0.5 * xt + t[i] - (noise[i] - x0[i])) ** 2).sum())
    assert float(loss) == pytest.approx(expected / x0.numel(), rel=1e-5)


def test_the_schedules_run_from_almost_no_noise_to_almost_only_noise() -> None:
    linear = NoiseSchedule.linear()
    assert linear.steps == 1000
    assert float(linear.betas[0]) == pytest.approx(1e-4) and float(linear.betas[-1]) == pytest.approx(0.02)
    assert float(linear.alphas_cumprod[0]) == pytest.approx(1 - 1e-4)
    assert float(linear.alphas_cumprod[-1]) < 1e-4  # x_T is noise: under 1% of the image's amplitude left
    cosine = NoiseSchedule.cosine()
    assert float(cosine.alphas_cumprod[0]) > 0.9999 and float(cosine.alphas_cumprod[-1]) < 1e-6
    assert bool((cosine.alphas_cumprod[1:] < cosine.alphas_cumprod[:-1]).all())  # always more noise


@pytest.mark.parametrize("steps", [1, 7])
def test_each_sampler_reaches_the_one_image_of_the_data_with_the_exact_network(steps: int) -> None:
    target = torch.linspace(-0.8, 0.8, 12).reshape(3, 2, 2)
    schedule = NoiseSchedule.linear(steps=50)
    seed = torch.Generator().manual_seed(0)
    flow = euler_sample(_Oracle(target, "flow"), 4, steps=steps, generator=seed)
    heun = flow_sample(_Oracle(target, "flow"), 4, steps=steps, solver="heun", generator=seed)
    ddim = ddim_sample(_Oracle(target, "ddpm", schedule), schedule, 4, steps=steps, generator=seed)
    ddpm = ddpm_sample(_Oracle(target, "ddpm", schedule), schedule, 4, steps=steps, generator=seed)
    for images in (flow, heun, ddim, ddpm):
        assert images.shape == (4, 3, 2, 2)
        torch.testing.assert_close(images, target.expand(4, -1, -1, -1), atol=1e-3, rtol=0)  # float32 rounding


def test_the_samplers_draw_distinct_images_from_an_untrained_network() -> None:
    model = UNet(image_shape=(1, 8, 8), base_channels=8).eval()
    schedule = NoiseSchedule.linear(steps=20)
    for images in (euler_sample(model, 3, steps=2), flow_sample(model, 3, steps=2), ddim_sample(model, schedule, 3, steps=2),
                   ddpm_sample(model, schedule, 3)):
        assert images.shape == (3, 1, 8, 8) and images.min() >= -1 and images.max() <= 1
        assert not torch.equal(images[0], images[1])


def test_a_diffusion_model_round_trips_through_a_checkpoint(tmp_path) -> None:  # noqa: ANN001 - pytest's tmp_path
    model = build_model("unet", image_shape=(3, 32, 32), base_channels=8, channel_mults=(1, 2), attention=True).eval()
    again = load_checkpoint(save_checkpoint(tmp_path / "unet.pt", model), "unet")
    x, t = torch.randn(2, 3, 32, 32), torch.tensor([0.2, 0.9])
    assert torch.equal(model(x, t), again(x, t)) and again.image_shape == (3, 32, 32)


def test_bad_step_counts_schedules_and_shapes_are_refused_clearly() -> None:
    model, schedule = UNet(image_shape=(1, 8, 8), base_channels=8), NoiseSchedule.linear(steps=10)
    with pytest.raises(ValueError, match="^steps must be a positive integer, got 0$"):
        euler_sample(model, 2, steps=0)
    with pytest.raises(ValueError, match="^steps must be at most the schedule's 10, got 11$"):
        ddim_sample(model, schedule, 2, steps=11)
    with pytest.raises(ValueError, match="^steps must be a positive integer, got -3$"):
        ddpm_sample(model, schedule, 2, steps=-3)
    with pytest.raises(ValueError, match=r"every beta of a noise schedule must be in \(0, 1\); got 0 to 0.5"):
        NoiseSchedule(torch.tensor([0.0, 0.5]))
    with pytest.raises(ValueError, match="non-empty vector of betas"):
        NoiseSchedule(torch.tensor([]))
    with pytest.raises(ValueError, match="beta_start <= beta_end"):
        NoiseSchedule.linear(beta_start=0.02, beta_end=1e-4)
    with pytest.raises(ValueError, match=r"one noise level per image, t of shape \(2,\), got \(\)"):
        model(torch.randn(2, 1, 8, 8), torch.tensor(0.5))
    with pytest.raises(ValueError, match="divisible by 4"):
        UNet(image_shape=(1, 30, 30))
    with pytest.raises(ValueError, match="groups=8 must divide"):
        UNet(base_channels=12)
    with pytest.raises(ValueError, match="^unknown solver 'rk4'; choose one of: euler, heun$"):
        flow_sample(model, 2, solver="rk4")
    with pytest.raises(ValueError, match="^unknown time sampling 'beta'; choose one of: uniform, logit-normal$"):
        flow_matching_loss(model, torch.zeros(2, 1, 8, 8), time_sampling="beta")


def test_the_flow_sampler_is_a_generator_the_gan_tools_take() -> None:
    from mlcheatsheet.training import sample_images

    network = UNet(image_shape=(1, 8, 8), base_channels=8).eval()
    sampler = FlowSampler(network, steps=3)  # Heun
    noise = torch.randn(4, sampler.latent_dim, generator=torch.Generator().manual_seed(2))
    assert sampler.latent_dim == 64
    with torch.no_grad():
        torch.testing.assert_close(sampler(noise), flow_sample(network, 4, steps=3, generator=torch.Generator().manual_seed(2)))
        euler = FlowSampler(network, steps=3, solver="euler")(noise)
    torch.testing.assert_close(euler, euler_sample(network, 4, steps=3, generator=torch.Generator().manual_seed(2)))
    pixels = sample_images(sampler, noise)
    assert pixels.shape == (4, 1, 8, 8) and pixels.min() >= 0 and pixels.max() <= 1
    with pytest.raises(ValueError, match=r"^FlowSampler expects noise of shape \(N, 64\), got \(4, 63\)$"):
        sampler(torch.randn(4, 63))


@pytest.mark.parametrize(("objective", "time_sampling"), [("flow", "logit-normal"), ("ddpm", "uniform")])
def test_fit_diffusion_lowers_the_held_out_loss_and_repeats_itself(objective: str, time_sampling: str) -> None:
    from mlcheatsheet.data import load_embedded_mnist
    from mlcheatsheet.training import TrainConfig, fit_diffusion
    from mlcheatsheet.training.objectives import evaluate_diffusion

    data = load_embedded_mnist().subset(max_train=256)
    config = TrainConfig(epochs=3, batch_size=32, lr=2e-3, seed=4)
    runs = []
    for _ in range(2):
        torch.manual_seed(0)
        model = UNet(base_channels=8, channel_mults=(1, 2))
        runs.append(fit_diffusion(model, data, config, objective=objective, time_sampling=time_sampling, device="cpu"))
    first, again = runs
    assert first.train_loss == again.train_loss and first.metrics["test_loss"] == again.metrics["test_loss"]  # seeded
    assert first.metrics["test_loss"][-1] < first.metrics["test_loss"][0], first.metrics["test_loss"]
    with pytest.raises(ValueError, match="^unknown diffusion objective 'score'; choose one of: flow, ddpm$"):
        fit_diffusion(model, data, config, objective="score")
    with pytest.raises(ValueError, match="^held_out must be at least 1 test image"):
        fit_diffusion(model, data, config, held_out=0)
    # The held-out loss is the loss on the first ``held_out`` test images, with the run's noise.
    assert again.metrics["test_loss"][-1] == pytest.approx(evaluate_diffusion(  # ``model`` is the second run's
        model, data.x_test[:256], objective=objective, time_sampling=time_sampling, seed=4))


def test_the_flow_path_holds_every_state_and_ends_at_the_sample() -> None:
    torch.manual_seed(0)
    network = UNet(image_shape=(1, 8, 8), base_channels=8, channel_mults=(1, 2)).eval()
    noise = torch.randn(3, 1, 8, 8)
    path = flow_path(network, noise, steps=4, solver="heun")
    assert path.shape == (5, 3, 1, 8, 8)
    assert torch.equal(path[0], noise.clamp(-1, 1))  # it starts at the noise
    sampler = FlowSampler(network, 4, "heun")
    assert sampler.evaluations == 7 and FlowSampler(network, 4, "euler").evaluations == 4  # Heun's last step is Euler's
    with torch.no_grad():
        assert torch.allclose(path[-1], sampler(noise.flatten(1)), atol=1e-6)  # and ends where the sampler ends
    assert not torch.allclose(path[1], path[2])  # every step moved the images
    with pytest.raises(ValueError, match="steps"):
        flow_path(network, noise, steps=0)

"""The CUDA code paths, run on the CPU so they are not dead code on a machine without a GPU.

Mixed precision is forced onto the CPU (bf16 autocast; fp16 with a gradient scaler) through
the configs' ``precision`` field, which the run's :class:`~mlcheatsheet.runtime.Runtime`
turns into its one decision; the backend switches are set and checked (they are plain
process flags, settable without a GPU), and channels-last tensors go through a convolution.
Both loops, :func:`fit` and :func:`fit_gan`, run on the same harness and are checked alike.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator

import pytest
import torch
from torch import nn

from mlcheatsheet import runtime
from mlcheatsheet.site.budgets import get_budget
from mlcheatsheet.data import Dataset
from mlcheatsheet.models import DCGANDiscriminator, DCGANGenerator
from mlcheatsheet.runtime import Runtime, autocast, configure_backends, describe_device, mixed_precision_dtype
from mlcheatsheet.training import GanConfig, TrainConfig, fit, fit_gan, predict

CPU = torch.device("cpu")


def tiny_data(n: int = 64, channels: int = 3) -> Dataset:
    g = torch.Generator().manual_seed(0)
    x = torch.rand(n, channels, 8, 8, generator=g)
    y = (x[:, 0].mean(dim=(1, 2)) > 0.5).long()  # learnable: brightness of channel 0
    return Dataset("tiny", "random", x, y, x[:16], y[:16], ("dark", "bright"))


def tiny_cnn(channels: int = 3) -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(channels, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 2)
    )


@contextlib.contextmanager
def backend_flags() -> Iterator[None]:
    """Restore the process-wide switches that configure_backends may set."""
    saved = (torch.backends.cudnn.benchmark, torch.backends.cudnn.allow_tf32, torch.get_float32_matmul_precision())
    try:
        yield
    finally:
        torch.backends.cudnn.benchmark, torch.backends.cudnn.allow_tf32 = saved[:2]
        torch.set_float32_matmul_precision(saved[2])


def test_cpu_runs_in_full_precision_without_a_scaler() -> None:
    assert mixed_precision_dtype(CPU) is None and mixed_precision_dtype(torch.device("meta")) is None
    assert isinstance(autocast(CPU), contextlib.nullcontext)
    decided = Runtime.create(device=CPU)
    assert decided.amp_dtype is None and not decided.scaler().is_enabled()
    assert isinstance(decided.autocast(), contextlib.nullcontext)


def test_backend_configuration_is_a_no_op_off_cuda(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runtime, "_BACKENDS_CONFIGURED", False)
    with backend_flags():
        before = (torch.backends.cudnn.benchmark, torch.get_float32_matmul_precision())
        assert configure_backends(CPU) is False
        assert (torch.backends.cudnn.benchmark, torch.get_float32_matmul_precision()) == before


def test_backend_configuration_on_cuda_sets_the_switches_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runtime, "_BACKENDS_CONFIGURED", False)
    with backend_flags():
        torch.backends.cudnn.benchmark = False
        torch.set_float32_matmul_precision("highest")
        assert configure_backends(torch.device("cuda")) is True
        assert torch.backends.cudnn.benchmark is True and torch.backends.cudnn.allow_tf32 is True
        assert torch.get_float32_matmul_precision() == "high"
        torch.backends.cudnn.benchmark = False  # a user's later choice is not overridden
        assert configure_backends(torch.device("cuda")) is False and torch.backends.cudnn.benchmark is False


def test_backend_configuration_respects_deterministic_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runtime, "_BACKENDS_CONFIGURED", False)
    with backend_flags():
        torch.use_deterministic_algorithms(True)
        try:
            assert configure_backends(torch.device("cuda:0")) is False
        finally:
            torch.use_deterministic_algorithms(False)


def test_bf16_autocast_path_trains() -> None:
    assert not Runtime.create(device=CPU, precision="bfloat16").scaler().is_enabled()  # bf16 needs no loss scaling
    seen: list[torch.dtype] = []

    def loss_fn(model: nn.Module, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        logits = model(images)
        seen.append(logits.dtype)
        return nn.functional.cross_entropy(logits, labels)

    model = tiny_cnn()
    config = TrainConfig(epochs=2, batch_size=16, lr=1e-2, precision="bfloat16")
    history = fit(model, tiny_data(), config, loss_fn=loss_fn, device=CPU)
    assert set(seen) == {torch.bfloat16}  # the forward really ran in bf16
    assert all(p.dtype == torch.float32 for p in model.parameters())  # the weights stay float32
    assert history.steps == 8 and all(torch.isfinite(torch.tensor(history.train_loss)))
    out = predict(model, tiny_data().x_test)
    assert out.dtype == torch.float32 and out.shape == (16, 2)


def recorded_scalers(monkeypatch: pytest.MonkeyPatch) -> list[torch.amp.GradScaler]:
    """Every gradient scaler a Runtime hands out from now on, with the scales it applied."""
    scalers: list[torch.amp.GradScaler] = []
    make_scaler = Runtime.scaler

    def recording(self: Runtime) -> torch.amp.GradScaler:
        scaler = make_scaler(self)
        scaler.scaled = 0  # type: ignore[attr-defined]
        scale = scaler.scale

        def counting(loss: torch.Tensor) -> torch.Tensor:
            scaler.scaled += 1  # type: ignore[attr-defined]
            return scale(loss)

        scaler.scale = counting  # type: ignore[method-assign]
        scalers.append(scaler)
        return scaler

    monkeypatch.setattr(Runtime, "scaler", recording)
    return scalers


def test_fp16_path_uses_the_gradient_scaler(monkeypatch: pytest.MonkeyPatch) -> None:
    scalers = recorded_scalers(monkeypatch)
    model = tiny_cnn()
    before = [p.detach().clone() for p in model.parameters()]
    history = fit(
        model, tiny_data(), TrainConfig(epochs=2, batch_size=16, precision="float16"), device=CPU,
        loss_fn=lambda m, x, y: nn.functional.cross_entropy(m(x), y),
    )
    assert len(scalers) == 1 and scalers[0].is_enabled() and scalers[0].get_scale() > 1.0
    assert scalers[0].scaled == history.steps  # type: ignore[attr-defined]
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))  # the steps were taken
    assert torch.isfinite(torch.tensor(history.train_loss)).all()


def autocast_log(module: nn.Module, log: list[tuple[bool, torch.dtype]]) -> None:
    """Record, at every forward of ``module``, whether CPU autocast was on and the output dtype."""

    def hook(mod: nn.Module, args: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        log.append((torch.is_autocast_enabled("cpu"), output.dtype))

    module.register_forward_hook(hook)


def gan_data() -> Dataset:
    g = torch.Generator().manual_seed(0)
    x = torch.rand(64, 1, 28, 28, generator=g)
    y = torch.arange(64) % 10
    return Dataset("tiny", "random", x, y, x[:16], y[:16], tuple(str(i) for i in range(10)))


def test_gan_steps_run_under_autocast_with_a_scaler_per_network_when_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    scalers = recorded_scalers(monkeypatch)
    torch.manual_seed(0)
    generator, discriminator = DCGANGenerator(latent_dim=8, base_channels=8), DCGANDiscriminator(base_channels=8)
    seen_g: list[tuple[bool, torch.dtype]] = []
    seen_d: list[tuple[bool, torch.dtype]] = []
    autocast_log(generator, seen_g)
    autocast_log(discriminator, seen_d)
    config = GanConfig(steps=3, batch_size=16, log_every=1, eval_every=3, eval_samples=32, fixed_samples=4, precision="float16")
    history = fit_gan(generator, discriminator, gan_data(), config, device="cpu")
    assert seen_d and all(entry == (True, torch.float16) for entry in seen_d)  # D only runs in the two steps
    assert (True, torch.float16) in seen_g  # the generated batches; evaluation samples run in float32
    assert len(scalers) == 2 and all(s.is_enabled() for s in scalers)
    assert sorted(s.scaled for s in scalers) == [3, 3]  # type: ignore[attr-defined]  # one D and one G step each
    assert all(torch.isfinite(torch.tensor(history.generator_loss)))


def test_gan_in_full_precision_runs_without_autocast_or_scaling(monkeypatch: pytest.MonkeyPatch) -> None:
    scalers = recorded_scalers(monkeypatch)
    torch.manual_seed(0)
    generator, discriminator = DCGANGenerator(latent_dim=8, base_channels=8), DCGANDiscriminator(base_channels=8)
    seen: list[tuple[bool, torch.dtype]] = []
    autocast_log(discriminator, seen)
    fit_gan(generator, discriminator, gan_data(), GanConfig(steps=2, batch_size=16, eval_samples=32, fixed_samples=4), device="cpu")
    assert seen and all(entry == (False, torch.float32) for entry in seen)
    assert len(scalers) == 2 and not any(s.is_enabled() for s in scalers)


def test_channels_last_convolution_matches_the_contiguous_one() -> None:
    model = tiny_cnn().eval()
    x = tiny_data().x_train[:4]
    reference = model(x)
    model_cl = model.to(memory_format=torch.channels_last)
    x_cl = x.contiguous(memory_format=torch.channels_last)
    assert x_cl.is_contiguous(memory_format=torch.channels_last)
    conv_out = model_cl[0](x_cl)
    assert conv_out.is_contiguous(memory_format=torch.channels_last)  # the layout propagates
    assert torch.allclose(model_cl(x_cl), reference, atol=1e-5)


def test_dataset_upload_keeps_everything_but_the_device() -> None:
    data = tiny_data()
    moved = data.to("meta")  # any non-CPU device; the CUDA branch pins first
    assert moved.x_train.device.type == "meta" and moved.x_train.shape == data.x_train.shape
    assert moved.classes == data.classes and moved.source == data.source
    assert data.to(CPU).x_train is data.x_train  # already there: no copy


def test_gpu_budget_uses_the_full_dataset_and_the_env_overrides_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MLCHEATSHEET_DATASET", raising=False)
    gpu = get_budget("mlp", device="cuda", mode="full")
    cpu = get_budget("mlp", device="cpu", mode="full")
    assert gpu.dataset == "fashion-mnist" and gpu.max_train is None
    assert cpu.dataset is None  # the default, mnist-5k
    assert get_budget("mlp", device="cuda", mode="quick") == get_budget("mlp", device="cpu", mode="quick")
    monkeypatch.setenv("MLCHEATSHEET_DATASET", "cifar10")
    assert get_budget("mlp", device="cuda", mode="full").dataset == "cifar10"
    assert get_budget("mlp", device="cpu", mode="quick").dataset == "cifar10"


def test_device_description_names_the_hardware_and_changes_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    threads = torch.get_num_threads()
    monkeypatch.setenv("MLCHEATSHEET_THREADS", "1")
    assert describe_device("cpu") == "cpu (1 thread)"  # the count a run would use ...
    assert torch.get_num_threads() == threads  # ... without setting it
    monkeypatch.delenv("MLCHEATSHEET_THREADS")
    assert describe_device(torch.device("meta")) == "meta"


def test_the_diffusion_model_trains_in_bf16_channels_last_and_its_gpu_budget_learns_full_mnist(monkeypatch: pytest.MonkeyPatch) -> None:
    from mlcheatsheet.models import UNet, flow_sample
    from mlcheatsheet.training import fit_diffusion

    monkeypatch.delenv("MLCHEATSHEET_DATASET", raising=False)
    gpu, cpu = get_budget("diffusion", device="cuda", mode="full"), get_budget("diffusion", device="cpu", mode="full")
    assert gpu.dataset == "mnist" and cpu.dataset is None and gpu.draws and gpu.draws >= 2 and gpu.sampling_steps
    torch.manual_seed(0)
    network = UNet(image_shape=(1, 8, 8), base_channels=8, channel_mults=(1, 2))
    seen: list[tuple[torch.dtype, bool]] = []
    network.stem.register_forward_hook(lambda module, args, out: seen.append((out.dtype, args[0].is_contiguous(memory_format=torch.channels_last))))
    config = TrainConfig(epochs=2, batch_size=16, lr=1e-3, precision="bfloat16", channels_last=True)
    history = fit_diffusion(network, tiny_data(channels=1), config, time_sampling="logit-normal", device=CPU)
    assert (torch.bfloat16, True) in seen  # the forward ran in bf16 on channels-last batches
    assert all(p.dtype == torch.float32 for p in network.parameters())  # the weights stay float32
    assert history.steps == 8 and all(math.isfinite(v) for v in history["test_loss"])
    images = flow_sample(network, 3, steps=2)
    assert images.shape == (3, 1, 8, 8) and torch.isfinite(images).all()

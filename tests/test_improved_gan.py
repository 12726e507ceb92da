"""Salimans et al.'s improved GAN techniques and the upsample-then-convolve generator."""

from __future__ import annotations

import inspect
import math

import pytest
import torch
from torch import nn

from mlcheatsheet.models import (
    DCGANDiscriminator,
    DCGANGenerator,
    MinibatchDiscrimination,
    MinibatchDiscriminator,
    UpsampleGenerator,
    get_builder,
)
from mlcheatsheet.models.dcgan import dcgan_init_
from mlcheatsheet.models.gan import discriminator_loss
from mlcheatsheet.models.improved_gan import feature_matching_loss, smoothed_discriminator_loss

IMAGE_SHAPES = [(1, 28, 28), (3, 32, 32)]


# --- feature matching ------------------------------------------------------------------------------


def test_feature_matching_loss_matches_a_hand_computed_value() -> None:
    real = torch.tensor([[1.0, 2.0, 3.0], [3.0, 4.0, 5.0]])  # mean (2, 3, 4)
    fake = torch.tensor([[0.0, 0.0, 0.0], [2.0, 2.0, 2.0]])  # mean (1, 1, 1)
    assert feature_matching_loss(real, fake).item() == pytest.approx(1 + 4 + 9)
    assert feature_matching_loss(real, real).item() == 0.0
    # Batches of different sizes, and feature maps flattened: only the means matter.
    assert feature_matching_loss(real[:1], fake).item() == pytest.approx(0 + 1 + 4)
    maps = torch.arange(8.0).view(2, 2, 2)
    assert feature_matching_loss(maps, torch.zeros(3, 2, 2)).item() == pytest.approx(sum(v * v for v in (2, 3, 4, 5)))
    with pytest.raises(ValueError, match=r"of one shape, got \(2, 3\) and \(2, 4\)"):
        feature_matching_loss(real, torch.zeros(2, 4))


def test_feature_matching_sends_no_gradient_into_the_real_features() -> None:
    real = torch.tensor([[1.0, 2.0, 3.0], [3.0, 4.0, 5.0]], requires_grad=True)
    fake = torch.tensor([[0.0, 0.0, 0.0], [2.0, 2.0, 2.0]], requires_grad=True)
    feature_matching_loss(real, fake).backward()
    assert real.grad is None  # detached inside: the generator loss cannot train D through them
    # d/d fake_jk of sum_k (r_k - mean_j fake_jk)^2 = -2 (r_k - fake_k) / M, the same for each j
    assert torch.allclose(fake.grad, -torch.tensor([[1.0, 2.0, 3.0]]).expand(2, 3))


def test_feature_matching_through_a_discriminator_trains_only_through_the_fakes() -> None:
    d = MinibatchDiscriminator(base_channels=4, kernels=2)
    real = torch.rand(3, 1, 28, 28) * 2 - 1
    fake = (torch.rand(3, 1, 28, 28) * 2 - 1).requires_grad_(True)
    feature_matching_loss(d.features(real), d.features(fake)).backward()
    assert fake.grad is not None and fake.grad.abs().sum() > 0
    assert d.minibatch.T.grad is None and d.head.weight.grad is None  # layers after f(x) play no part


# --- one-sided label smoothing -----------------------------------------------------------------------


def test_smoothed_loss_matches_hand_computed_values() -> None:
    zero = torch.zeros(4)
    # At logit 0, sigma = 1/2: the cross-entropy is log 2 whatever the target.
    assert smoothed_discriminator_loss(zero, zero).item() == pytest.approx(2 * math.log(2))
    real, fake = torch.tensor([2.0]), torch.tensor([-1.0])
    # -0.9 log sigma(2) - 0.1 log(1 - sigma(2)) - log(1 - sigma(-1))
    expected = 0.9 * math.log1p(math.exp(-2)) + 0.1 * math.log1p(math.exp(2)) + math.log1p(math.exp(-1))
    assert smoothed_discriminator_loss(real, fake).item() == pytest.approx(expected)
    # The real side is smallest at logit log(0.9 / 0.1), where it is the binary entropy of 0.9.
    best = torch.tensor([math.log(9.0)], requires_grad=True)
    floor = smoothed_discriminator_loss(best, torch.tensor([-1e4]))
    (grad,) = torch.autograd.grad(floor, best)
    assert floor.item() == pytest.approx(-(0.9 * math.log(0.9) + 0.1 * math.log(0.1)))
    assert grad.item() == pytest.approx(0.0, abs=1e-6)


def test_smoothing_to_one_is_the_plain_discriminator_loss() -> None:
    real, fake = torch.randn(8) * 3, torch.randn(5) * 3
    assert torch.allclose(smoothed_discriminator_loss(real, fake, real_target=1.0), discriminator_loss(real, fake))
    assert smoothed_discriminator_loss(real, fake).item() != pytest.approx(discriminator_loss(real, fake).item())


@pytest.mark.parametrize("target", [0.0, -0.1, 1.1, float("nan")])
def test_impossible_real_targets_are_refused(target: float) -> None:
    with pytest.raises(ValueError, match=r"real_target must be in \(0, 1\]"):
        smoothed_discriminator_loss(torch.zeros(2), torch.zeros(2), real_target=target)


# --- minibatch discrimination ------------------------------------------------------------------------


def test_minibatch_features_match_the_equations_on_a_hand_computed_example() -> None:
    layer = MinibatchDiscrimination(2, kernels=1, kernel_dim=2)
    with torch.no_grad():
        layer.T.copy_(torch.eye(2))  # M_i = f(x_i)
    f = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 2.0]])  # L1 distances: 1 (0-1), 2 (0-2), 3 (1-2)
    out = layer(f)
    e = math.exp
    assert out[:, :2].equal(f)
    assert out[:, 2].tolist() == pytest.approx([e(-1) + e(-2), e(-1) + e(-3), e(-2) + e(-3)])


def test_minibatch_discrimination_shape_and_batch_dependence() -> None:
    layer = MinibatchDiscrimination(10, kernels=6, kernel_dim=3)
    f = torch.randn(5, 10)
    out = layer(f)
    assert out.shape == (5, 10 + 6)
    changed = f.clone()
    changed[3] += 1.0  # another sample of the batch
    out_changed = layer(changed)
    assert out_changed[0, :10].equal(out[0, :10])  # the sample's own features do not move...
    assert not torch.allclose(out_changed[0, 10:], out[0, 10:])  # ...its minibatch features do


def test_a_batch_of_one_has_no_neighbours_and_identical_samples_are_maximally_close() -> None:
    layer = MinibatchDiscrimination(10, kernels=6, kernel_dim=3)
    assert torch.equal(layer(torch.randn(1, 10))[:, 10:], torch.zeros(1, 6))
    same = torch.randn(1, 10).expand(4, 10).clone().requires_grad_(True)
    out = layer(same)
    assert torch.equal(out[:, 10:], torch.full((4, 6), 3.0))  # N - 1: the sample itself is left out
    out.sum().backward()  # |0| at the diagonal and between the copies: gradients stay finite
    assert torch.isfinite(same.grad).all() and torch.isfinite(layer.T.grad).all()


def test_minibatch_initialisation_keeps_distances_of_order_one() -> None:
    layer = MinibatchDiscrimination(6272, kernels=32, kernel_dim=8)
    assert layer.T.shape == (6272, 32 * 8)
    assert layer.T.std().item() == pytest.approx(1 / (8 * math.sqrt(6272)), rel=0.02)
    o = layer(torch.randn(16, 6272))[:, 6272:] / 15  # mean closeness c_b over the other samples
    assert 0.1 < o.mean().item() < 0.9  # neither saturated at 0 nor blind at 1
    with pytest.raises(ValueError, match=r"expects features of shape \(N, 6272\), got \(2, 10\)"):
        layer(torch.zeros(2, 10))
    with pytest.raises(ValueError, match="kernel_dim"):
        MinibatchDiscrimination(4, kernel_dim=0)


@pytest.mark.parametrize("image_shape", IMAGE_SHAPES)
def test_minibatch_discriminator_shapes(image_shape: tuple[int, int, int]) -> None:
    d = MinibatchDiscriminator(image_shape=image_shape, base_channels=8, kernels=5)
    images = torch.rand(4, *image_shape) * 2 - 1
    side = 7 if image_shape[1] == 28 else 4
    features = d.features(images)
    assert features.shape == (4, d.feature_dim) and d.feature_dim == (8 if side == 7 else 16) * 2 * side * side
    assert d(images).shape == (4,)
    assert d.image_shape == image_shape
    assert d.head.in_features == d.feature_dim + 5


def test_in_eval_mode_only_the_minibatch_layer_ties_a_score_to_its_batch() -> None:
    images = torch.rand(4, 1, 28, 28) * 2 - 1
    other = images.clone()
    other[2] = -other[2]
    plain, minibatch = DCGANDiscriminator(base_channels=8).eval(), MinibatchDiscriminator(base_channels=8).eval()
    with torch.no_grad():  # eval-mode BatchNorm uses running statistics: no batch dependence from it
        assert torch.allclose(plain(images)[0], plain(other)[0])
        assert not torch.allclose(minibatch(images)[0], minibatch(other)[0])


def test_every_minibatch_discriminator_parameter_is_trained() -> None:
    d = MinibatchDiscriminator(base_channels=4, kernels=3)
    d(torch.rand(3, 1, 28, 28) * 2 - 1).sum().backward()
    untrained = [name for name, p in d.named_parameters() if p.grad is None or not p.grad.any()]
    assert untrained == []  # the body's unused head is not kept
    assert not any(isinstance(m, DCGANDiscriminator) for m in d.modules())
    with pytest.raises(ValueError, match=r"MinibatchDiscriminator expects a batch of images of shape \(N, 1, 28, 28\)"):
        d(torch.zeros(2, 3, 28, 28))


def test_a_spectrally_normalised_minibatch_discriminator_normalises_its_convolutions_and_head_but_not_t() -> None:
    from torch.nn.utils import parametrize

    d = MinibatchDiscriminator(base_channels=4, kernels=3, batch_norm=False, spectral_norm=True).train()
    for _ in range(10):  # one power-iteration step per training forward
        d(torch.rand(5, 1, 28, 28) * 2 - 1)
    normed = [name for name, m in d.named_modules() if parametrize.is_parametrized(m, "weight")]
    assert normed == ["downsample.0.0", "downsample.1.0", "head"]
    assert not any(isinstance(m, nn.BatchNorm2d) for m in d.modules()) and not parametrize.is_parametrized(d.minibatch)
    for name in normed:
        weight = d.get_submodule(name).weight.detach().flatten(1)
        assert torch.linalg.matrix_norm(weight, ord=2).item() == pytest.approx(1.0, abs=0.05)
    with pytest.raises(ValueError, match="MinibatchDiscriminator: choose batch_norm or spectral_norm, not both"):
        MinibatchDiscriminator(spectral_norm=True)


@pytest.mark.parametrize("generator", ["dcgan-generator", "upsample-generator"])
def test_the_minibatch_discriminator_takes_shared_arguments_in_the_generators_order(generator: str) -> None:
    g, d = (list(inspect.signature(get_builder(name)).parameters) for name in (generator, "minibatch-discriminator"))
    shared = set(g) & set(d)
    assert g[0] == d[0] == "image_shape" and shared == {"image_shape", "base_channels"}
    assert [n for n in g if n in shared] == [n for n in d if n in shared]


# --- upsample-then-convolve generator ------------------------------------------------------------------


def _state_sizes(model: nn.Module, z: torch.Tensor) -> list[tuple[int, ...]]:
    sizes: list[tuple[int, ...]] = []
    stages = [model.project, *model.upsample, model.to_image]
    hooks = [s.register_forward_hook(lambda m, args, out: sizes.append(tuple(out.shape))) for s in stages]
    model(z)
    for hook in hooks:
        hook.remove()
    return sizes


@pytest.mark.parametrize("image_shape", IMAGE_SHAPES)
def test_upsample_generator_has_the_dcgan_state_sizes(image_shape: tuple[int, int, int]) -> None:
    z = torch.randn(3, 16)
    g = UpsampleGenerator(image_shape=image_shape, latent_dim=16, base_channels=8)
    out = g(z)
    assert out.shape == (3, *image_shape) and out.min() >= -1 and out.max() <= 1
    dcgan = DCGANGenerator(image_shape=image_shape, latent_dim=16, base_channels=8)
    assert _state_sizes(g, z) == _state_sizes(dcgan, z)
    assert len(_state_sizes(g, z)) == (3 if image_shape[1] == 28 else 4)


@pytest.mark.parametrize("image_shape", IMAGE_SHAPES)
def test_upsample_generator_upsamples_without_transposed_convolutions(image_shape: tuple[int, int, int]) -> None:
    g = UpsampleGenerator(image_shape=image_shape, latent_dim=16, base_channels=8)
    upsampling = [*g.upsample, g.to_image]
    assert not any(isinstance(m, nn.ConvTranspose2d) for stage in upsampling for m in stage.modules())
    resizes = [m for stage in upsampling for m in stage.modules() if isinstance(m, nn.Upsample)]
    assert len(resizes) == len(upsampling) and all(r.mode == "nearest" and r.scale_factor == 2 for r in resizes)
    convs = [m for stage in upsampling for m in stage.modules() if isinstance(m, nn.Conv2d)]
    assert all(c.kernel_size == (3, 3) and c.padding == (1, 1) for c in convs)
    assert isinstance(g.to_image[-1], nn.Tanh)


def test_a_constant_map_stays_constant_through_upsample_and_convolve_but_not_a_transposed_convolution() -> None:
    torch.manual_seed(3)
    constant = torch.ones(1, 16, 7, 7)
    transposed = DCGANGenerator(latent_dim=16, base_channels=8).upsample[0][0]
    resized = UpsampleGenerator(latent_dim=16, base_channels=8).upsample[0][0]
    with torch.no_grad():
        a = transposed(constant)[0, :, 1:-1, 1:-1]  # (C, 12, 12): the interior, away from the padding
        b = resized(constant)[0, :, 1:-1, 1:-1]
    assert a.shape == b.shape == (8, 12, 12)
    # Even and odd output pixels come from different kernel taps: a pattern of period 2.
    assert not torch.allclose(a[:, ::2, ::2], a[:, 1::2, 1::2], atol=1e-4)
    assert torch.allclose(b, b[:, :1, :1].expand_as(b), atol=1e-6)


DCGAN_KEYS_28 = [
    "project.0.weight", "project.1.weight", "project.1.bias", "project.1.running_mean", "project.1.running_var",
    "project.1.num_batches_tracked",
    "upsample.0.0.weight", "upsample.0.1.weight", "upsample.0.1.bias", "upsample.0.1.running_mean",
    "upsample.0.1.running_var", "upsample.0.1.num_batches_tracked",
    "to_image.0.weight", "to_image.0.bias",
]
DCGAN_KEYS_32 = [  # one more upsampling stage, named like the first
    *DCGAN_KEYS_28[:12],
    *(key.replace("upsample.0.", "upsample.1.") for key in DCGAN_KEYS_28[6:12]),
    *DCGAN_KEYS_28[12:],
]


@pytest.mark.parametrize(("image_shape", "keys"), [((1, 28, 28), DCGAN_KEYS_28), ((3, 32, 32), DCGAN_KEYS_32)])
def test_dcgan_generator_state_dict_keys_are_unchanged(image_shape: tuple[int, int, int], keys: list[str]) -> None:
    """Saved DCGAN generators must keep loading: the keys are a compatibility contract."""
    assert list(DCGANGenerator(image_shape=image_shape, base_channels=8).state_dict()) == keys


class _DCGANGeneratorBeforeUpsamplingLayer(nn.Module):
    """The DCGAN generator's layers as built before ``_upsampling_layer`` existed (28 px, two stages)."""

    def __init__(self, latent_dim: int, base_channels: int) -> None:
        super().__init__()
        wide, narrow = 2 * base_channels, base_channels
        self.project = nn.Sequential(
            nn.ConvTranspose2d(latent_dim, wide, 7, bias=False), nn.BatchNorm2d(wide), nn.ReLU()
        )
        self.upsample = nn.Sequential(
            nn.Sequential(nn.ConvTranspose2d(wide, narrow, 4, 2, 1, bias=False), nn.BatchNorm2d(narrow), nn.ReLU())
        )
        self.to_image = nn.Sequential(nn.ConvTranspose2d(narrow, 1, 4, 2, 1), nn.Tanh())
        self.apply(dcgan_init_)


def test_dcgan_generator_draws_the_same_weights_for_a_seed_as_before_the_refactor() -> None:
    torch.manual_seed(7)
    old = _DCGANGeneratorBeforeUpsamplingLayer(16, 8).state_dict()
    torch.manual_seed(7)
    new = DCGANGenerator(latent_dim=16, base_channels=8).state_dict()
    assert list(old) == list(new)
    assert all(torch.equal(old[key], new[key]) for key in old)

"""The adversarial family: shapes, losses, gradient penalty, FID, training, collapse, reproducibility."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from mlcheatsheet.findings import coverage_finding
from mlcheatsheet.metrics import class_coverage, feature_statistics, frechet_distance
from mlcheatsheet.site.budgets import get_budget
from mlcheatsheet.training import fid_scorer
from mlcheatsheet.models import (
    ConditionalDiscriminator,
    ConditionalGenerator,
    DCGANDiscriminator,
    DCGANGenerator,
    Discriminator,
    Generator,
    WGANCritic,
    build_model,
)
from mlcheatsheet.models.dcgan import critic_loss, gradient_penalty, wasserstein_generator_loss
from mlcheatsheet.models.gan import (
    discriminator_loss,
    interpolate_latents,
    latent_direction,
    minimax_generator_loss,
    non_saturating_generator_loss,
    r1_penalty,
)
from mlcheatsheet.training import GanCollapseWarning, GanConfig, detect_collapse, fit_gan, sample_images

GAN_NAMES = (
    "gan-generator", "gan-discriminator", "dcgan-generator", "dcgan-discriminator", "wgan-gp-critic",
    "conditional-dcgan-generator", "conditional-dcgan-discriminator",
)


# --- shapes and bad input -----------------------------------------------------------------------


@pytest.mark.parametrize("image_shape", [(1, 28, 28), (3, 32, 32)])
def test_generators_and_discriminators_have_the_right_shapes(image_shape: tuple[int, int, int]) -> None:
    z = torch.randn(4, 16)
    labels = torch.tensor([0, 3, 9, 1])
    images = torch.rand(4, *image_shape) * 2 - 1
    for g in (Generator(latent_dim=16, hidden_dims=(32,), image_shape=image_shape),
              DCGANGenerator(latent_dim=16, base_channels=8, image_shape=image_shape)):
        out = g(z)
        assert out.shape == (4, *image_shape)
        assert out.min() >= -1 and out.max() <= 1
    assert ConditionalGenerator(latent_dim=16, base_channels=8, image_shape=image_shape)(z, labels).shape == (4, *image_shape)
    for d in (Discriminator(image_shape=image_shape, hidden_dims=(32,)),
              DCGANDiscriminator(image_shape=image_shape, base_channels=8),
              WGANCritic(image_shape=image_shape, base_channels=8)):
        assert d(images).shape == (4,)
    assert ConditionalDiscriminator(image_shape=image_shape, base_channels=8)(images, labels).shape == (4,)


def test_dcgan_follows_the_paper() -> None:
    g, d, critic = DCGANGenerator(), DCGANDiscriminator(), WGANCritic()
    assert any(isinstance(m, nn.ConvTranspose2d) for m in g.modules())
    assert not any(isinstance(m, (nn.MaxPool2d, nn.AvgPool2d)) for m in d.modules())
    assert any(isinstance(m, nn.BatchNorm2d) for m in d.modules())
    assert not any(isinstance(m, nn.BatchNorm2d) for m in critic.modules())
    assert isinstance(g.to_image[-1], nn.Tanh)
    assert all(m.negative_slope == 0.2 for m in d.modules() if isinstance(m, nn.LeakyReLU))
    conv_weights = torch.cat([m.weight.flatten() for m in g.modules() if isinstance(m, nn.ConvTranspose2d)])
    assert abs(conv_weights.std().item() - 0.02) < 0.002


@pytest.mark.parametrize("name", GAN_NAMES)
def test_every_registered_gan_model_builds_without_arguments(name: str) -> None:
    assert isinstance(build_model(name), nn.Module)


def test_bad_input_gives_clear_errors(mnist5k) -> None:
    with pytest.raises(ValueError, match=r"expects a batch of images of shape \(N, 1, 28, 28\), got \(2, 3, 28, 28\)"):
        DCGANDiscriminator()(torch.zeros(2, 3, 28, 28))
    with pytest.raises(ValueError, match=r"expects latent vectors of shape \(N, 64\), got \(2, 10\)"):
        DCGANGenerator()(torch.zeros(2, 10))
    with pytest.raises(ValueError, match="latent_dim must be .*positive"):
        DCGANGenerator(latent_dim=0)
    with pytest.raises(ValueError, match="halves down to 7 or less"):
        DCGANGenerator(image_shape=(1, 30, 30))
    with pytest.raises(ValueError, match="square"):
        DCGANDiscriminator(image_shape=(1, 28, 32))
    with pytest.raises(ValueError, match="integer class labels"):
        ConditionalGenerator()(torch.zeros(2, 64), torch.zeros(3, dtype=torch.long))
    with pytest.raises(ValueError, match="unknown GAN loss 'hingeless'; choose one of: .*hinge"):
        GanConfig(loss="hingeless")
    with pytest.raises(ValueError, match=r"label_smoothing must be in \[0, 1\), got 1.0"):
        GanConfig(label_smoothing=1.0)
    with pytest.raises(ValueError, match="the 'hinge' loss has none"):
        GanConfig(loss="hinge", label_smoothing=0.1)
    with pytest.raises(ValueError, match="feature matching needs an unconditional discriminator"):
        fit_gan(ConditionalGenerator(latent_dim=8, base_channels=8), ConditionalDiscriminator(base_channels=8),
                mnist5k.subset(max_train=64), GanConfig(steps=1, batch_size=4, feature_matching=True))


# --- losses ------------------------------------------------------------------------------------------


def test_gan_losses_match_hand_computed_values() -> None:
    zero = torch.zeros(5)
    assert discriminator_loss(zero, zero).item() == pytest.approx(2 * math.log(2))
    real, fake = torch.tensor([2.0]), torch.tensor([-1.0])
    # -log sigma(2) - log(1 - sigma(-1)) = log(1 + e^-2) + log(1 + e^-1)
    assert discriminator_loss(real, fake).item() == pytest.approx(math.log1p(math.exp(-2)) + math.log1p(math.exp(-1)))
    # log(1 - sigma(-1)) = -log(1 + e^-1); -log sigma(-1) = log(1 + e)
    assert minimax_generator_loss(fake).item() == pytest.approx(-math.log1p(math.exp(-1)))
    assert non_saturating_generator_loss(fake).item() == pytest.approx(math.log1p(math.e))
    # Far from the decision boundary the minimax loss saturates, the non-saturating one does not.
    bad = torch.tensor([-20.0], requires_grad=True)
    (grad_minimax,) = torch.autograd.grad(minimax_generator_loss(bad), bad)
    (grad_ns,) = torch.autograd.grad(non_saturating_generator_loss(bad), bad)
    assert abs(grad_minimax.item()) < 1e-8 and grad_ns.item() == pytest.approx(-1.0)
    assert torch.isfinite(discriminator_loss(torch.tensor([1e4]), torch.tensor([-1e4])))


def test_wasserstein_losses() -> None:
    assert critic_loss(torch.tensor([1.0, 3.0]), torch.tensor([0.0, 2.0])).item() == pytest.approx(-1.0)
    assert wasserstein_generator_loss(torch.tensor([0.5, 1.5])).item() == pytest.approx(-1.0)


class LinearCritic(nn.Module):
    """f(x) = <w, x>: its gradient is w everywhere, so the penalty is (|w| - 1)^2 exactly."""

    def __init__(self, norm: float) -> None:
        super().__init__()
        w = torch.randn(1, 1, 4, 4)
        self.w = nn.Parameter(w / w.norm() * norm)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x * self.w).flatten(1).sum(1)


@pytest.mark.parametrize("norm", [1.0, 3.0, 0.5])
def test_gradient_penalty_of_a_linear_critic(norm: float) -> None:
    critic = LinearCritic(norm)
    real, fake = torch.randn(8, 1, 4, 4), torch.randn(8, 1, 4, 4)
    penalty = gradient_penalty(critic, real, fake)
    assert penalty.item() == pytest.approx((norm - 1) ** 2, abs=1e-5)
    penalty.backward()  # the penalty is differentiable with respect to the critic
    assert critic.w.grad is not None and (norm == 1.0 or critic.w.grad.abs().sum() > 0)


# --- FID -------------------------------------------------------------------------------------------


def test_frechet_distance_of_gaussians() -> None:
    features = torch.randn(500, 16, generator=torch.Generator().manual_seed(0)) @ torch.randn(16, 16)
    stats = feature_statistics(features)
    assert frechet_distance(*stats, *stats) == pytest.approx(0.0, abs=1e-6)
    shifted = [frechet_distance(*stats, *feature_statistics(features + s)) for s in (0.5, 1.0, 2.0)]
    assert shifted == pytest.approx([16 * 0.25, 16 * 1.0, 16 * 4.0], rel=1e-6)  # |shift|^2, covariances equal
    scaled = frechet_distance(*stats, *feature_statistics(2 * features))
    # Same mean (up to 2x), covariance 4x: tr(S) + tr(4S) - 2 tr(2S) = tr(S), plus the mean term.
    assert scaled == pytest.approx(torch.trace(stats[1]).item() + stats[0].square().sum().item(), rel=1e-6)


def test_frechet_distance_agrees_with_scipy() -> None:
    scipy_linalg = pytest.importorskip("scipy.linalg")
    gen = torch.Generator().manual_seed(1)
    a, b = torch.randn(300, 8, generator=gen), torch.randn(300, 8, generator=gen) * 1.5 + 0.3
    (m1, c1), (m2, c2) = feature_statistics(a), feature_statistics(b)
    root = scipy_linalg.sqrtm(c1.numpy() @ c2.numpy()).real
    expected = float((m1 - m2).square().sum() + torch.trace(c1) + torch.trace(c2) - 2 * float(root.trace()))
    assert frechet_distance(m1, c1, m2, c2) == pytest.approx(expected, rel=1e-6)


@pytest.fixture(scope="module")
def scorer(mnist5k):
    return fid_scorer(mnist5k, device="cpu")


def test_fid_scorer_zero_on_itself_and_growing_with_a_shift(scorer, mnist5k) -> None:
    images = mnist5k.x_test[:scorer.num_reference]  # the reference itself
    assert scorer.fid(images) == pytest.approx(0.0, abs=1e-6)
    shifted = [scorer.fid(torch.roll(images, shifts=s, dims=3)) for s in (1, 2, 4)]
    assert 0 < shifted[0] < shifted[1] < shifted[2]
    assert scorer.floor > 0 and scorer.fid(torch.rand_like(images)) > 10 * scorer.floor
    quality = scorer.score(images)
    assert quality.class_shares.sum().item() == pytest.approx(1.0)
    assert 0.1 < quality.mean_confidence <= 1.0 and quality.ratio == 0.0
    assert class_coverage(torch.tensor([0, 0, 1, 3]), 4).tolist() == [0.5, 0.25, 0.0, 0.25]
    assert fid_scorer(mnist5k, device="cpu") is scorer  # trained once per process


def test_the_floor_is_the_distance_between_two_references_the_classifier_never_saw(scorer, mnist5k) -> None:
    n = scorer.num_reference
    selection = mnist5k.x_train[-n:]  # kept out of the classifier's training images
    assert n == get_budget("fid-classifier", mode="quick").references  # a quick build's references are smaller
    assert scorer.floor == pytest.approx(scorer.fid(selection, reference="test"))
    assert scorer.fid(selection, reference="selection") == pytest.approx(0.0, abs=1e-6)
    # A "perfect generator" — real digits neither reference holds — scores near the floor.
    fresh = mnist5k.x_train[1000:1000 + n]
    assert 0.3 * scorer.floor < scorer.fid(fresh, reference="test") < 3 * scorer.floor
    assert 0.1 < scorer.real_confidence <= 1.0  # a quick-mode classifier: two epochs
    with pytest.raises(ValueError, match="'test' or 'selection'"):
        scorer.fid(selection, reference="train")


def test_sample_quality_with_intervals_and_named_coverage(scorer, mnist5k) -> None:
    images, labels = mnist5k.x_test, mnist5k.y_test
    draws = [mnist5k.x_train[i * 1000 : (i + 1) * 1000] for i in range(3)]
    quality = scorer.score_draws(draws, labels=[mnist5k.y_train[i * 1000 : (i + 1) * 1000] for i in range(3)])
    single = [scorer.fid(d) for d in draws]
    assert quality.fid == pytest.approx(sum(single) / 3)
    assert quality.fid_interval is not None and quality.fid_interval.low < quality.fid < quality.fid_interval.high
    assert quality.conditional_interval is not None and quality.conditional_interval.n == 3000
    assert scorer.score(images).fid_interval is None  # one draw: no interval to give
    assert coverage_finding(quality.class_shares, mnist5k.classes).startswith("Coverage: every class holds at least 5%")
    only_ones = scorer.score(images[labels == 1][:100])
    sentence = coverage_finding(only_ones.class_shares, mnist5k.classes)
    assert sentence.startswith("Coverage: partly collapsed") and "0 (0.0%)" in sentence and "1 (" not in sentence


# --- training ---------------------------------------------------------------------------------------


def _short(**kwargs: object) -> GanConfig:
    settings = {"steps": 12, "batch_size": 16, "log_every": 4, "eval_every": 6, "eval_samples": 100, "fixed_samples": 10}
    return GanConfig(**{**settings, **kwargs})


@pytest.mark.parametrize("kind", ["gan", "dcgan", "wgan-gp", "conditional"])
def test_a_short_run_trains_each_model(kind: str, mnist5k, scorer) -> None:
    data = mnist5k.subset(max_train=256)
    if kind == "gan":
        g, d, config = Generator(latent_dim=8, hidden_dims=(32,)), Discriminator(hidden_dims=(32,)), _short(ema=0.9)
    elif kind == "dcgan":
        g, d, config = DCGANGenerator(latent_dim=8, base_channels=8), DCGANDiscriminator(base_channels=8), _short(ema=0.9)
    elif kind == "wgan-gp":
        g, d = DCGANGenerator(latent_dim=8, base_channels=8), WGANCritic(base_channels=8)
        config = _short(loss="wgan-gp", critic_steps=2, betas=(0.0, 0.9), lr_generator=1e-4, lr_discriminator=1e-4)
    else:
        g, d = ConditionalGenerator(latent_dim=8, base_channels=8), ConditionalDiscriminator(base_channels=8)
        config = _short()
    before = [p.detach().clone() for p in g.parameters()]
    history = fit_gan(g, d, data, config, scorer=scorer, device="cpu")
    assert history.steps == 12 and history.discriminator_steps == 12 * config.critic_steps
    assert history.log_steps == [4, 8, 12] and history.eval_steps == [0, 6, 12]
    assert all(math.isfinite(v) for v in history.generator_loss + history.discriminator_loss)
    assert len(history.fid) == 3 and all(f > 0 for f in history.fid)
    assert history.best_step in (6, 12) and history.best_fid == min(history.fid[1:])
    assert len(history.snapshots) == 3 and history.snapshots[0].shape == (10, 1, 28, 28)
    assert 0 <= history.snapshots[-1].min() and history.snapshots[-1].max() <= 1
    assert any(not torch.equal(a, b) for a, b in zip(before, g.parameters()))
    assert not g.training and not d.training
    if kind == "wgan-gp":
        assert len(history.gradient_penalty) == 3
    else:
        assert all(0 < p < 1 for p in history.d_real + history.d_fake)
    if kind == "conditional":
        assert all(0 <= a <= 1 for a in history.conditional_accuracy)


@pytest.mark.parametrize("kind", ["label smoothing", "feature matching", "minibatch", "upsample", "sagan-hinge", "sagan-wgan-gp"])
def test_a_short_run_trains_each_technique_and_variant(kind: str, mnist5k) -> None:
    from mlcheatsheet.models import MinibatchDiscriminator, SAGANDiscriminator, SAGANGenerator, UpsampleGenerator

    data = mnist5k.subset(max_train=128)
    g, d, config = DCGANGenerator(latent_dim=8, base_channels=8), DCGANDiscriminator(base_channels=8), _short()
    if kind == "label smoothing":
        config = _short(label_smoothing=0.1)
    elif kind == "feature matching":
        config = _short(feature_matching=True)
    elif kind == "minibatch":
        d = MinibatchDiscriminator(base_channels=8, kernels=4)
    elif kind == "upsample":
        g = UpsampleGenerator(latent_dim=8, base_channels=8)
    else:
        g, d = SAGANGenerator(latent_dim=8, base_channels=8), SAGANDiscriminator(base_channels=8)
        config = _short(loss="hinge") if kind == "sagan-hinge" else _short(loss="wgan-gp", critic_steps=2)
    before = [p.detach().clone() for p in g.parameters()]
    history = fit_gan(g, d, data, config, device="cpu")
    assert all(math.isfinite(v) for v in history.generator_loss + history.discriminator_loss)
    assert any(not torch.equal(a, b) for a, b in zip(before, g.parameters()))
    if kind == "label smoothing":  # the smoothed loss cannot go below the entropy of the 0.9 target
        assert min(history.discriminator_loss) > -(0.9 * math.log(0.9) + 0.1 * math.log(0.1)) - 1e-6
    if kind.startswith("sagan"):
        assert len(history.gradient_penalty) == (3 if kind == "sagan-wgan-gp" else 0)


def test_feature_matching_trains_the_generator_on_the_distance_of_mean_features(mnist5k) -> None:
    """The generator loss of feature matching is the distance between D's mean features on a real and a generated batch."""
    from mlcheatsheet.models.improved_gan import feature_matching_loss
    from mlcheatsheet.training.adversarial import _players, generator_step
    from mlcheatsheet.runtime import Runtime

    g, d = DCGANGenerator(latent_dim=8, base_channels=8), DCGANDiscriminator(base_channels=8)
    config = GanConfig(steps=1, batch_size=8, feature_matching=True)
    gan = _players(g, d, config, Runtime.create(g, d, device="cpu", channels_last=False))
    real, fake = mnist5k.x_train[:8] * 2 - 1, g(torch.randn(8, 8))
    expected = feature_matching_loss(d.features(real), d.features(fake)).item()
    assert generator_step(gan, fake, None, real)["g"].item() == pytest.approx(expected, rel=1e-5)
    with pytest.raises(ValueError, match="feature matching needs the real batch"):
        generator_step(gan, g(torch.randn(8, 8)))


@pytest.mark.parametrize("critic_steps", [1, 3])
def test_generator_forwards_per_step(critic_steps: int, mnist5k) -> None:
    """One discriminator update per step: its generated batch also trains the generator
    (one generator forward per step, as in the DCGAN tutorial); with several, the generator
    step draws a fresh batch. Evaluation forwards happen in eval mode and are not counted."""
    data = mnist5k.subset(max_train=128)
    g, d = DCGANGenerator(latent_dim=8, base_channels=8), WGANCritic(base_channels=8)
    training_calls = []
    g.register_forward_hook(lambda module, args, out: training_calls.append(module.training))
    loss = "wgan-gp" if critic_steps > 1 else "non-saturating"
    fit_gan(g, d, data, _short(steps=5, critic_steps=critic_steps, loss=loss, eval_every=5, log_every=5), device="cpu")
    per_step = 1 if critic_steps == 1 else critic_steps + 1
    assert sum(training_calls) == 5 * per_step


def test_conditional_gradient_penalty_interpolates_within_a_class(mnist5k) -> None:
    """The penalty scores images between a real and a generated image under one class label,
    so the generated batch of a conditional critic step takes the real batch's classes."""
    data = mnist5k.subset(max_train=128)
    g, d = ConditionalGenerator(latent_dim=8, base_channels=8), ConditionalDiscriminator(base_channels=8)
    calls: list[tuple[torch.Tensor, bool]] = []  # (labels, called in training mode) per generator forward
    g.register_forward_hook(lambda module, args, out: calls.append((args[1].clone(), module.training)))
    seen_by_critic: list[torch.Tensor] = []
    d.register_forward_hook(lambda module, args, out: seen_by_critic.append(args[1].clone()))
    fit_gan(g, d, data, _short(steps=2, loss="wgan-gp", critic_steps=2, eval_every=2, log_every=2), device="cpu")
    fake_labels = [labels for labels, training in calls if training]
    # Each critic step: real batch, generated batch, interpolations (penalty) — all with one set of labels.
    critic_triples = [seen_by_critic[i : i + 3] for i in range(0, 3 * 4, 3)][:2]
    for real, fake, mixed in critic_triples:
        assert torch.equal(real, fake) and torch.equal(real, mixed)
    assert torch.equal(fake_labels[0], critic_triples[0][0])
    assert len({tuple(labels.tolist()) for labels in fake_labels}) > 1  # classes still vary from batch to batch


def test_same_seed_same_gan_history(mnist5k, scorer) -> None:
    data = mnist5k.subset(max_train=256)
    runs = []
    for _ in range(2):
        torch.manual_seed(5)
        g, d = DCGANGenerator(latent_dim=8, base_channels=8), DCGANDiscriminator(base_channels=8)
        history = fit_gan(g, d, data, _short(ema=0.9, seed=3), scorer=scorer, device="cpu")
        runs.append((history, [p.detach().clone() for p in g.parameters()]))
    (first, first_weights), (second, second_weights) = runs
    assert first.generator_loss == second.generator_loss
    assert first.discriminator_loss == second.discriminator_loss
    assert first.d_real == second.d_real and first.fid == second.fid and first.best_step == second.best_step
    assert all(torch.equal(a, b) for a, b in zip(first_weights, second_weights))
    assert all(torch.equal(a, b) for a, b in zip(first.snapshots, second.snapshots))


# --- collapse ----------------------------------------------------------------------------------------


def test_detect_collapse_on_constructed_series() -> None:
    steps = [50, 100, 150, 200, 250, 300]
    healthy = detect_collapse(steps, [1.2, 1.1, 1.0, 0.9, 1.0, 1.1], [0, 150, 300], [0.4, 0.9, 0.95])
    assert healthy == []
    winning = detect_collapse(steps, [1.0, 0.3, 0.01, 0.02, 0.01, 0.005], [0, 300], [0.5, 0.8], window=4)
    assert len(winning) == 1 and "from step 101 to step 300" in winning[0]
    brief_dip = detect_collapse(steps, [1.0, 0.01, 0.01, 1.0, 0.01, 1.0], [0, 300], [0.5, 0.8], window=4)
    assert brief_dip == []
    same_images = detect_collapse(steps, [1.0] * 6, [0, 150, 300], [0.05, 0.6, 0.02])
    assert len(same_images) == 1 and "step 300" in same_images[0] and "nearly identical" in same_images[0]
    # A fresh generator is not diverse yet, and an early strong discriminator is no collapse.
    assert detect_collapse(steps, [0.01] * 4 + [1.0] * 2, [0, 150, 300], [0.05, 0.02, 0.6], warmup=200) == []


class NoiseBlindGenerator(nn.Module):
    """A generator that ignores its noise: the extreme case of mode collapse."""

    latent_dim = 8

    def __init__(self) -> None:
        super().__init__()
        self.image = nn.Parameter(torch.zeros(1, 1, 28, 28))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.image).expand(len(z), -1, -1, -1)


def test_collapse_is_reported_and_healthy_training_is_not(mnist5k) -> None:
    data = mnist5k.subset(max_train=256)
    with pytest.warns(GanCollapseWarning, match="nearly identical"):
        collapsed = fit_gan(NoiseBlindGenerator(), Discriminator(hidden_dims=(32,)), data, _short(collapse_warmup=0), device="cpu")
    assert collapsed.collapse and "WARNING" in collapsed.collapse_report()
    healthy = fit_gan(Generator(latent_dim=8, hidden_dims=(32,)), Discriminator(hidden_dims=(32,)), data, _short(collapse_warmup=0), device="cpu")
    assert healthy.collapse == [] and healthy.collapse_report().startswith("Collapse check during training: the discriminator never won")
    healthy.loss = "wgan-gp"  # a critic's loss is not checked, and the report says so
    assert "whether it won outright is not checked" in healthy.collapse_report()


# --- latent space -------------------------------------------------------------------------------------


def test_latent_interpolation_and_direction() -> None:
    a, b = torch.randn(16), torch.randn(16)
    for spherical in (True, False):
        path = interpolate_latents(a, b, 5, spherical=spherical)
        assert path.shape == (5, 16)
        torch.testing.assert_close(path[0], a)
        torch.testing.assert_close(path[-1], b)
    arc = interpolate_latents(a, a * 2, 3)  # parallel vectors: no division by zero
    assert torch.isfinite(arc).all()
    latents = torch.randn(100, 4)
    direction = latent_direction(latents, latents[:, 2], fraction=0.2)
    assert direction.argmax().item() == 2 and direction[2] > 1.5


def test_a_direction_within_groups_ignores_what_separates_the_groups() -> None:
    g = torch.Generator().manual_seed(0)
    groups = torch.arange(400) % 2
    latents = torch.randn(400, 3, generator=g)
    latents[:, 0] += 4 * groups  # coordinate 0 tells the groups apart ...
    score = latents[:, 1] + 10 * groups  # ... and the score is mostly the group
    pooled = latent_direction(latents, score)
    within = latent_direction(latents, score, groups=groups)
    assert pooled[0] > 3  # across groups the "attribute" direction is the group direction
    assert within.abs().argmax().item() == 1 and within[0].abs() < 0.5
    with pytest.raises(ValueError, match="one group per latent"):
        latent_direction(latents, score, groups=groups[:10])


def test_sample_quality_summary_states_fid_floor_ratio_precision_recall_and_coverage() -> None:
    from mlcheatsheet.metrics import SampleQuality

    quality = SampleQuality(fid=12.5, floor=2.5, class_shares=torch.tensor([0.5, 0.03, 0.47]), mean_confidence=0.875)
    assert quality.summary() == "FID 12.500 (floor 2.500, ratio 5.0x) — rarest class 3.0%"  # no confidence: not a quality signal
    scored = SampleQuality(fid=12.5, floor=2.5, class_shares=torch.tensor([0.5, 0.03, 0.47]), mean_confidence=0.875,
                           precision=0.5, recall=0.25, real_precision=0.75, real_recall=0.7)
    assert scored.summary() == ("FID 12.500 (floor 2.500, ratio 5.0x) — precision 0.500, recall 0.250 "
                                "(real images: 0.750, 0.700) — rarest class 3.0%")


# --- checkerboards and attention maps --------------------------------------------------------------


def test_checkerboard_share_finds_a_period_two_pattern_and_not_a_smooth_image() -> None:
    from mlcheatsheet.metrics import checkerboard_share, power_spectrum

    rows, cols = torch.meshgrid(torch.arange(28), torch.arange(28), indexing="ij")
    board = ((rows + cols) % 2).float()[None, None]  # alternates every pixel in both directions
    stripes = (cols % 2).float()[None, None]  # alternates along the columns only
    blob = torch.exp(-((rows - 14.0) ** 2 + (cols - 14.0) ** 2) / 40)[None, None]
    shares = checkerboard_share(torch.cat([board, stripes, blob]))
    assert shares[0].item() == pytest.approx(1.0) and shares[1].item() == pytest.approx(1.0)
    assert shares[2].item() < 1e-3
    spectrum = power_spectrum(board)
    assert spectrum.shape == (1, 28, 28) and spectrum[0, 14, 14] == pytest.approx(0.0, abs=1e-6)  # mean removed
    with pytest.raises(ValueError, match="even side"):
        checkerboard_share(torch.zeros(2, 1, 27, 27))


def test_attention_and_spectrum_figures_draw_and_refuse_mismatched_maps() -> None:
    from mlcheatsheet.metrics import power_spectrum
    from mlcheatsheet.plotting import plot_attention_maps, plot_power_spectra

    images = torch.rand(2, 1, 28, 28)
    maps = torch.softmax(torch.randn(2, 196, 196), dim=-1)
    fig = plot_attention_maps(images, maps, [(7, 7), (2, 3)], title="t")
    assert len(fig.axes) == 6 and fig.axes[1].get_title() == "query (7, 7)"
    with pytest.raises(ValueError, match=r"maps must have shape \(N, S\*S, S\*S\) for N=2 images"):
        plot_attention_maps(images, maps[:1], [(7, 7)])
    fig = plot_power_spectra({"a": power_spectrum(images), "b": power_spectrum(images)}, examples={"a": images[0], "b": images[1]})
    assert [ax.get_title() for ax in fig.axes[:2]] == ["a", "b"]


def test_a_spectrally_normalised_dcgan_discriminator_has_unit_singular_values_and_no_batch_norm() -> None:
    from torch.nn.utils import parametrize

    d = DCGANDiscriminator(base_channels=8, batch_norm=False, spectral_norm=True).train()
    d(torch.randn(4, 1, 28, 28))  # one power-iteration step per training forward
    normed = [m for m in d.modules() if parametrize.is_parametrized(m, "weight")]
    assert len(normed) == 3 and not any(isinstance(m, nn.BatchNorm2d) for m in d.modules())
    for _ in range(10):
        d(torch.randn(4, 1, 28, 28))
    for m in normed:
        assert torch.linalg.matrix_norm(m.weight.detach().flatten(1), ord=2).item() == pytest.approx(1.0, abs=0.05)
    with pytest.raises(ValueError, match="choose batch_norm or spectral_norm, not both"):
        DCGANDiscriminator(spectral_norm=True)


@pytest.mark.parametrize(("loss", "right_title", "bounded"), [("non-saturating", "D(x) and D(G(z))", True),
                                                             ("hinge", "Discriminator scores of real and generated images", False),
                                                             ("wgan-gp", "Critic scores of real and generated images", False)])
def test_the_gan_history_figure_shows_probabilities_only_for_the_cross_entropy_game(loss: str, right_title: str, bounded: bool) -> None:
    from mlcheatsheet.plotting import plot_gan_history
    from mlcheatsheet.training import GanHistory

    history = GanHistory(loss=loss, log_steps=[1, 2], generator_loss=[0.1, 0.2], discriminator_loss=[1.9, 1.8],
                         d_real=[0.4, 1.6], d_fake=[-0.3, -1.2])
    _, right = plot_gan_history(history).axes
    assert right.get_title() == right_title
    assert (right.get_ylim() == (0.0, 1.0)) == bounded  # scores of 1.6 and -1.2 stay visible


def test_variants_start_from_one_seed_and_differ_only_in_their_change(mnist5k, scorer) -> None:
    from functools import partial

    from mlcheatsheet.training import GanVariant, fit_gan_variants

    data = mnist5k.subset(max_train=128)
    g, d = partial(DCGANGenerator, latent_dim=8, base_channels=8), partial(DCGANDiscriminator, base_channels=8)
    variants = {"a": GanVariant(g, d), "b": GanVariant(g, d), "smoothed": GanVariant(g, d, {"label_smoothing": 0.1})}
    runs = fit_gan_variants(variants, data, _short(eval_samples=1000), scorer=scorer, device="cpu", draws=2)
    assert list(runs) == ["a", "b", "smoothed"]
    assert runs["a"].history.generator_loss == runs["b"].history.generator_loss
    assert runs["a"].quality.fid == runs["b"].quality.fid and len(runs["a"].quality.fid_draws) == 2
    assert runs["smoothed"].history.discriminator_loss != runs["a"].history.discriminator_loss
    with pytest.raises(ValueError, match="variant 'x' changes unknown GanConfig settings: smoothing"):
        fit_gan_variants({"x": GanVariant(g, d, {"smoothing": 0.1})}, data, _short(), scorer=scorer)


def test_the_class_grid_draws_each_noise_vector_as_every_class_and_shares_have_wilson_intervals(scorer, mnist5k) -> None:
    from mlcheatsheet.training import sample_class_grid

    g = ConditionalGenerator(latent_dim=8, base_channels=8).eval()
    noise = torch.randn(3, 8)
    grid = sample_class_grid(g, noise, 10)
    assert grid.shape == (10, 3, 1, 28, 28)
    expected = sample_images(g, noise[1:2], torch.tensor([7]))[0]
    torch.testing.assert_close(grid[7, 1], expected)
    quality = scorer.score_draws([mnist5k.x_train[:1000], mnist5k.x_train[1000:2000]])
    intervals = quality.class_intervals()
    assert quality.num_samples == 2000 and [i.n for i in intervals] == [2000] * 10
    assert all(i.low <= float(s) <= i.high for i, s in zip(intervals, quality.class_shares))


def test_the_gan_examples_written_out_loop_trains_exactly_as_fit_gan() -> None:
    """The original GAN's gallery example writes its loop by hand: that very loop, run here, must be fit_gan's."""
    import ast
    from pathlib import Path

    from mlcheatsheet.data import load_dataset
    from mlcheatsheet.models.gan import Discriminator, Generator, discriminator_loss, non_saturating_generator_loss
    from mlcheatsheet.runtime import seed_everything
    from mlcheatsheet.training import GanConfig, GanLoop, fit_gan

    script = (Path(__file__).resolve().parents[1] / "gallery" / "plot_gan.py").read_text()
    body = next(node for node in ast.parse(script).body
                if isinstance(node, ast.For) and getattr(node.target, "id", "") == "step")  # for step in range(...)
    data = load_dataset("mnist-5k", verbose=False).subset(max_train=300)
    config = GanConfig(steps=24, batch_size=32, lr_generator=1e-3, lr_discriminator=2e-3, ema=0.999, eval_every=10, log_every=7)

    def networks() -> tuple[Generator, Discriminator]:
        seed_everything(0)
        return Generator(latent_dim=16, hidden_dims=(32,), image_shape=data.image_shape), \
            Discriminator(image_shape=data.image_shape, hidden_dims=(32,))

    fitted, _ = networks()
    expected = fit_gan(fitted, _, data, config, device="cpu")
    generator, discriminator = networks()
    loop = GanLoop(generator, discriminator, data, config, device="cpu")
    exec(compile(ast.Module(body=[body], type_ignores=[]), "plot_gan.py", "exec"),
         {"torch": torch, "config": config, "loop": loop, "generator": generator, "discriminator": discriminator,
          "discriminator_loss": discriminator_loss, "non_saturating_generator_loss": non_saturating_generator_loss})
    history = loop.finish()
    assert all(torch.equal(a, b) for a, b in zip(fitted.state_dict().values(), generator.state_dict().values()))
    assert history.discriminator_loss == expected.discriminator_loss and history.generator_loss == expected.generator_loss
    assert history.eval_steps == expected.eval_steps == [0, 10, 20, 24] and history.steps == 24
    assert not generator.training  # handed back in eval mode, like fit_gan's


def test_precision_and_recall_reward_neither_noise_nor_one_repeated_image(scorer, mnist5k) -> None:
    from mlcheatsheet.metrics import precision_recall

    held_out = scorer.reference_features["test"]
    assert scorer.real_precision > 0.6 and scorer.real_recall > 0.6  # real against real: near the top
    noise = scorer.features(torch.rand(1000, *mnist5k.image_shape, generator=torch.Generator().manual_seed(0)))
    noise_precision, _ = precision_recall(held_out, noise)
    assert noise_precision < 0.05
    one_digit = scorer.features(mnist5k.x_test[:1].repeat(1000, 1, 1, 1))  # a real image of the reference
    one_precision, one_recall = precision_recall(held_out, one_digit)
    assert one_recall < 0.01 < one_precision  # looks real, covers nothing
    quality = scorer.score(mnist5k.x_train[:scorer.num_reference])  # real training images: near the real pair's numbers
    assert abs(quality.precision - scorer.real_precision) < 0.1 and abs(quality.recall - scorer.real_recall) < 0.1
    assert {"precision", "recall", "real precision", "real recall"} <= set(quality.record())
    assert "precision" in quality.summary() and "recall" in quality.summary()


def test_precision_recall_checks_its_sets() -> None:
    from mlcheatsheet.metrics import precision_recall

    points = torch.randn(50, 4, generator=torch.Generator().manual_seed(0))
    assert precision_recall(points, points) == (1.0, 1.0)
    assert precision_recall(points, points + 100) == (0.0, 0.0)
    with pytest.raises(ValueError, match="need more than 3 points in each set"):
        precision_recall(points, points[:3])


# -- Data-efficient training: DiffAugment and R1 ---------------------------------------------
def test_diff_augment_is_differentiable_and_keeps_what_it_shows() -> None:
    """The gradient of the augmented batch reaches exactly the input pixels that were kept."""
    from mlcheatsheet.augment import diff_augment

    images = torch.rand(16, 1, 28, 28, requires_grad=True)
    out = diff_augment(images, ("translation", "cutout"), generator=torch.Generator().manual_seed(0))
    out.sum().backward()
    assert out.shape == images.shape and images.grad is not None
    assert torch.equal(images.grad.sum(), (out != 0).sum().to(images.grad.dtype))  # every shown pixel, once
    assert not torch.equal(out, images)
    again = diff_augment(images.detach(), ("translation", "cutout"), generator=torch.Generator().manual_seed(0))
    assert torch.equal(again, out.detach())  # a seeded draw is reproducible
    with pytest.raises(ValueError, match="unknown augmentation 'flip'; choose from: color, translation, cutout"):
        diff_augment(images, ("flip",))


def test_a_translation_moves_the_image_and_repeats_its_edge_into_the_gap() -> None:
    from mlcheatsheet.augment import _translation

    image = torch.arange(64.0).view(1, 1, 8, 8).expand(32, 1, 8, 8)  # every pixel says where it came from
    moved = _translation(image, torch.Generator().manual_seed(3), ratio=0.25)
    shifts = set()
    for out in moved[:, 0]:
        dy, dx = 3 - int(out[3, 3]) // 8, 3 - int(out[3, 3]) % 8  # the centre pixel came from (3 - dy, 3 - dx)
        rows, cols = (torch.arange(8).view(8, 1) - dy).clamp(0, 7), (torch.arange(8).view(1, 8) - dx).clamp(0, 7)
        assert abs(dy) <= 2 and abs(dx) <= 2 and torch.equal(out, rows * 8.0 + cols)
        shifts.add((dy, dx))
    assert len(shifts) > 5  # each image draws its own shift
    black = torch.full((4, 1, 8, 8), -1.0)  # no grey band on a black image in [-1, 1], as zeros would paint
    assert torch.equal(_translation(black, torch.Generator().manual_seed(0), ratio=0.25), black)


def test_the_discriminator_sees_real_and_generated_batches_through_the_same_augmentation(monkeypatch) -> None:
    import mlcheatsheet.training.adversarial as adversarial
    from mlcheatsheet.runtime import Runtime

    seen: list[tuple[tuple[str, ...], tuple[int, ...]]] = []

    def recording(images, policy, *, generator=None):
        seen.append((tuple(policy), tuple(images.shape)))
        return images

    monkeypatch.setattr(adversarial, "diff_augment", recording)
    g, d = DCGANGenerator(latent_dim=8, base_channels=8), DCGANDiscriminator(base_channels=8)
    config = GanConfig(steps=1, batch_size=8, augment=("translation", "cutout"))
    gan = adversarial._players(g, d, config, Runtime.create(g, d, device="cpu", channels_last=False))
    real, fake = torch.rand(8, 1, 28, 28) * 2 - 1, g(torch.randn(8, 8))
    adversarial.discriminator_step(gan, real, fake)
    adversarial.generator_step(gan, fake)
    assert seen == [(("translation", "cutout"), (8, 1, 28, 28))] * 3  # real and fake for D, fake for G


def test_r1_is_the_squared_gradient_norm_at_real_images() -> None:
    """For a linear critic D(x) = w . x the gradient is w everywhere: R1 = |w|^2 exactly."""
    critic = nn.Sequential(nn.Flatten(), nn.Linear(784, 1, bias=False))
    real = torch.rand(5, 1, 28, 28, requires_grad=True)
    expected = critic[1].weight.pow(2).sum()
    assert r1_penalty(critic(real), real).item() == pytest.approx(expected.item(), rel=1e-5)
    with pytest.raises(ValueError, match="requires_grad=True"):
        r1_penalty(critic(real.detach()), real.detach())


def test_r1_adds_half_gamma_times_the_penalty_to_the_discriminator_loss() -> None:
    import mlcheatsheet.training.adversarial as adversarial
    from mlcheatsheet.runtime import Runtime

    g, d = DCGANGenerator(latent_dim=8, base_channels=8), DCGANDiscriminator(base_channels=8)
    real, fake = torch.rand(8, 1, 28, 28) * 2 - 1, g(torch.randn(8, 8)).detach()
    parts = {}
    for gamma in (0.0, 4.0):
        torch.manual_seed(0)
        d_copy = DCGANDiscriminator(base_channels=8)
        d_copy.load_state_dict(d.state_dict())
        config = GanConfig(steps=1, batch_size=8, r1_gamma=gamma)
        gan = adversarial._players(g, d_copy, config, Runtime.create(g, d_copy, device="cpu", channels_last=False))
        parts[gamma] = adversarial.discriminator_step(gan, real, fake)
    assert "r1" not in parts[0.0] and parts[4.0]["r1"].item() > 0
    assert parts[4.0]["d"].item() == pytest.approx(parts[0.0]["d"].item() + 2.0 * parts[4.0]["r1"].item(), rel=1e-4)


@pytest.mark.parametrize("kwargs, message", [
    ({"augment": ("flip",)}, "unknown augmentation 'flip'"),
    ({"r1_gamma": -1.0}, "r1_gamma must be at least 0"),
    ({"loss": "wgan-gp", "r1_gamma": 1.0}, "has its own gradient penalty"),
])
def test_impossible_data_efficient_settings_are_refused_in_one_line(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message) as error:
        GanConfig(**kwargs)
    assert "\n" not in str(error.value)


def test_a_short_run_with_augmentation_and_r1_trains(mnist5k) -> None:
    g, d = DCGANGenerator(latent_dim=8, base_channels=8), DCGANDiscriminator(base_channels=8)
    before = [p.detach().clone() for p in g.parameters()]
    history = fit_gan(g, d, mnist5k.subset(max_train=256), GanConfig(steps=6, batch_size=16, log_every=2, eval_every=6,
                      augment=("translation", "cutout"), r1_gamma=1.0), device="cpu")
    assert all(math.isfinite(v) for v in history.generator_loss + history.discriminator_loss)
    assert any(not torch.equal(a, b) for a, b in zip(before, g.parameters()))


def _runs(ratios: dict[str, list[float]], rarest: dict[str, list[float]]) -> dict[str, list[object]]:
    """Stand-ins for trained runs: what the ablation's findings read of each (its scores and seconds)."""
    from types import SimpleNamespace

    def run(ratio: float, share: float) -> object:
        quality = SimpleNamespace(ratio=ratio, fid=0.8 * ratio, floor=0.8, min_class_share=share, precision=0.7, recall=0.8)
        return SimpleNamespace(quality=quality, history=SimpleNamespace(total_seconds=10.0))

    return {name: [run(r, s) for r, s in zip(values, rarest[name])] for name, values in ratios.items()}


def test_an_ablation_over_seeds_compares_paired_by_seed_and_names_partly_collapsed_runs() -> None:
    from mlcheatsheet.training import collapse_line, compare_to_baseline
    from mlcheatsheet.training.variants import seed_findings, seed_record

    runs = _runs({"DCGAN": [10.0, 14.0, 9.0], "steady": [8.0, 12.1, 7.0], "noisy": [6.0, 15.0, 9.5]},
                 {"DCGAN": [0.07, 0.06, 0.08], "steady": [0.07, 0.03, 0.08], "noisy": [0.02, 0.01, 0.06]})
    comparisons = compare_to_baseline(runs)  # the first variant is the baseline
    assert list(comparisons) == ["steady", "noisy"]
    assert comparisons["steady"].winner == "steady" and comparisons["noisy"].winner is None
    line = collapse_line(runs, [0, 1, 2])
    assert line == ("Partly collapsed (the rarest class below 5% of the samples, where 10% is even): "
                    "steady, on 1 of 3 seeds: seed 1 (3.0%); noisy, on 2 of 3 seeds: seed 0 (2.0%), seed 1 (1.0%).")
    assert collapse_line(_runs({"a": [1.0, 2.0]}, {"a": [0.09, 0.05]}), [4, 5]).startswith("No run's rarest class fell below 5%")
    found = seed_findings(runs, [0, 1, 2])
    assert [f.name for f in found] == ["steady", "noisy", "collapse"]
    assert "each variant paired with the DCGAN of the same seed" in found[0].covers
    record = seed_record(runs, [0, 1, 2])
    assert record["noisy: min class share"] == 0.01 and record["steady: seed 1 ratio"] == 12.1
    assert record["DCGAN: ratio"] == pytest.approx(11.0) and record["DCGAN: FID low"] < record["DCGAN: FID"] < record["DCGAN: FID high"]


def test_an_ablation_needs_two_distinct_seeds(mnist5k, scorer) -> None:
    from mlcheatsheet.training import GanVariant, fit_gan_seeds

    variant = {"a": GanVariant(lambda: DCGANGenerator(latent_dim=8, base_channels=8), lambda: DCGANDiscriminator(base_channels=8))}
    for seeds in ([0], [1, 1]):
        with pytest.raises(ValueError, match="training seeds must be at least two distinct values"):
            fit_gan_seeds(variant, mnist5k, _short(), scorer=scorer, seeds=seeds)


def test_the_seed_figure_draws_every_seed_of_every_variant() -> None:
    from mlcheatsheet.plotting import plot_seed_spread

    fig = plot_seed_spread({"FID / floor": {"a": [1.0, 2.0, 3.0], "b": [2.0, 2.5, 2.0]},
                            "rarest class (%)": {"a": [7.0, 4.0, 9.0], "b": [8.0, 8.0, 6.0]}},
                           [0, 1, 2], lines={"rarest class (%)": 5.0})
    left, right = fig.axes
    seed_lines = [line for line in left.get_lines() if line.get_label().startswith("seed")]
    assert [line.get_label() for line in seed_lines] == ["seed 0", "seed 1", "seed 2"]
    assert list(seed_lines[1].get_ydata()) == [2.0, 2.5]  # seed 1 of a, then of b
    assert any(list(line.get_ydata()) == [5.0, 5.0] for line in right.get_lines())  # the 5% line


def test_an_evaluation_draws_no_more_samples_than_its_reference_holds(mnist5k, scorer, monkeypatch: pytest.MonkeyPatch) -> None:
    sizes = []
    score = scorer.score
    monkeypatch.setattr(scorer, "score", lambda images, **kw: sizes.append(len(images)) or score(images, **kw))
    data = mnist5k.subset(max_train=128)
    fit_gan(DCGANGenerator(latent_dim=8, base_channels=8), DCGANDiscriminator(base_channels=8), data,
            _short(eval_samples=scorer.num_reference + 500), scorer=scorer, device="cpu")
    assert sizes and set(sizes) == {scorer.num_reference}

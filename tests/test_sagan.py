"""The Self-Attention GAN: shapes, the attention block, spectral normalisation, hinge losses, training."""

from __future__ import annotations

import inspect

import pytest
import torch
from torch import nn
from torch.nn.utils import parametrize

from mlcheatsheet.models import (
    ConditionalBatchNorm2d,
    SAGANDiscriminator,
    SAGANGenerator,
    SelfAttention,
    build_model,
    get_builder,
    hinge_discriminator_loss,
    hinge_generator_loss,
)


def _small_pair(image_shape: tuple[int, int, int] = (1, 28, 28)) -> tuple[SAGANGenerator, SAGANDiscriminator]:
    return (SAGANGenerator(image_shape=image_shape, latent_dim=16, base_channels=8),
            SAGANDiscriminator(image_shape=image_shape, base_channels=8))


def _spectrally_normed(*models: nn.Module) -> list[tuple[str, nn.Module]]:
    return [(f"{type(model).__name__}.{name}", m) for model in models for name, m in model.named_modules()
            if parametrize.is_parametrized(m, "weight")]


# --- shapes ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("image_shape", "sides"), [((1, 28, 28), {"g": 14, "d": 7}), ((3, 32, 32), {"g": 16, "d": 8})])
def test_generator_discriminator_and_attention_map_shapes(image_shape: tuple[int, int, int], sides: dict[str, int]) -> None:
    g, d = _small_pair(image_shape)
    z, labels = torch.randn(4, 16), torch.tensor([0, 3, 9, 1])
    seen: dict[str, torch.Tensor] = {}
    g.attention.register_forward_hook(lambda module, args, out: seen.update(g=args[0]))
    d.attention.register_forward_hook(lambda module, args, out: seen.update(d=args[0]))
    images = g(z, labels)
    assert images.shape == (4, *image_shape)
    assert images.min() >= -1 and images.max() <= 1
    scores = d(images, labels)
    assert scores.shape == (4,)
    assert d.features(images).shape == (4, d.feature_dim)
    for net, model in (("g", g), ("d", d)):
        side = sides[net]
        assert seen[net].shape[2:] == (side, side), f"{net}: attention is not at the default {side}x{side}"
        beta = model.attention.attention(seen[net])
        assert beta.shape == (4, side * side, side * side)
        assert (beta >= 0).all()
        torch.testing.assert_close(beta.sum(dim=-1), torch.ones(4, side * side))


def test_attention_size_moves_the_block() -> None:
    g = SAGANGenerator(image_shape=(3, 32, 32), latent_dim=16, base_channels=8, attention_size=8)
    d = SAGANDiscriminator(base_channels=8, attention_size=7)
    assert g.attention.gamma.shape == (1,)
    shapes: list[tuple[int, ...]] = []
    g.attention.register_forward_hook(lambda module, args, out: shapes.append(tuple(out.shape)))
    d.attention.register_forward_hook(lambda module, args, out: shapes.append(tuple(out.shape)))
    labels = torch.tensor([1, 2])
    g(torch.randn(2, 16), labels)
    d(torch.zeros(2, 1, 28, 28), labels)
    assert shapes == [(2, 16, 8, 8), (2, 16, 7, 7)]  # the generator's first stage; the discriminator's second


def test_shared_arguments_come_in_the_same_order() -> None:
    g, d = (list(inspect.signature(get_builder(name)).parameters) for name in ("sagan-generator", "sagan-discriminator"))
    shared = set(g) & set(d)
    assert g[0] == d[0] == "image_shape"
    assert [n for n in g if n in shared] == [n for n in d if n in shared] == [
        "image_shape", "num_classes", "base_channels", "attention_size"]


# --- the attention block -----------------------------------------------------------------------------


def test_attention_block_is_the_identity_at_initialisation() -> None:
    block = SelfAttention(16)
    assert block.gamma.item() == 0.0
    x = torch.randn(3, 16, 6, 6)
    assert torch.equal(block(x), x)
    g, _ = _small_pair()
    assert g.attention.gamma.item() == 0.0


def test_attention_output_depends_on_far_away_positions() -> None:
    block = SelfAttention(16).eval()
    x = torch.randn(1, 16, 8, 8)
    far = x.clone()
    far[0, :, 7, 7] += 3.0  # the opposite corner from position (0, 0)
    assert torch.equal(block(x)[..., 0, 0], block(far)[..., 0, 0])  # gamma = 0: only the residual path
    with torch.no_grad():
        block.gamma.fill_(1.0)
    change = (block(x)[..., 0, 0] - block(far)[..., 0, 0]).abs().max().item()
    assert change > 1e-3, "the output at (0, 0) ignores the pixel at (7, 7): no attention across the map"


def test_attention_matches_the_paper_equation() -> None:
    """o_j = v(sum_i beta_ji h(x_i)), beta_j = softmax_i(f(x_i) . g(x_j)), computed position by position."""
    block = SelfAttention(8, key_channels=2, value_channels=4, spectral_norm=False)
    with torch.no_grad():
        block.gamma.fill_(0.7)
    x = torch.randn(2, 8, 3, 4)
    positions = x.flatten(2).transpose(1, 2)  # (N, HW, C)
    g_x = positions @ block.query.weight.flatten(1).T  # (N, HW, C')
    f_x = positions @ block.key.weight.flatten(1).T  # (N, HW, C')
    h_x = positions @ block.value.weight.flatten(1).T  # (N, HW, C_v)
    beta = torch.stack([torch.stack([torch.softmax(f_x[n] @ g_x[n, j], dim=0) for j in range(12)]) for n in range(2)])
    torch.testing.assert_close(block.attention(x), beta)
    o = (beta @ h_x) @ block.out.weight.flatten(1).T + block.out.bias  # (N, HW, C)
    expected = x + 0.7 * o.transpose(1, 2).reshape(2, 8, 3, 4)
    torch.testing.assert_close(block(x), expected)


def test_conditional_batch_norm_starts_as_batch_norm_and_learns_per_class() -> None:
    norm = ConditionalBatchNorm2d(4, num_classes=3)
    x, labels = torch.randn(6, 4, 5, 5), torch.tensor([0, 1, 2, 0, 1, 2])
    torch.testing.assert_close(norm(x, labels), nn.BatchNorm2d(4, affine=False)(x))
    with torch.no_grad():
        norm.embed.weight[2] = torch.tensor([2.0, 2.0, 2.0, 2.0, 1.0, 1.0, 1.0, 1.0])  # class 2: gain 2, shift 1
    out, plain = norm(x, labels), nn.BatchNorm2d(4, affine=False)(x)
    torch.testing.assert_close(out[labels == 2], 2 * plain[labels == 2] + 1)
    torch.testing.assert_close(out[labels != 2], plain[labels != 2])


# --- spectral normalisation --------------------------------------------------------------------------


def test_spectral_norm_keeps_every_largest_singular_value_near_one_after_large_steps() -> None:
    g, d = _small_pair()
    layers = _spectrally_normed(g, d)
    # 4 per attention block; G: linear, stage conv, to-image conv; D: 2 stage convs, head, embedding
    assert len(layers) == 2 * 4 + 3 + 4, [name for name, _ in layers]
    optimiser = torch.optim.Adam([*g.parameters(), *d.parameters()], lr=0.1)  # large: weights move a lot
    labels = torch.arange(8) % 10
    for _ in range(3):
        fake = g(torch.randn(8, 16), labels)
        real = torch.rand(8, 1, 28, 28) * 2 - 1
        loss = hinge_generator_loss(d(fake, labels)) + hinge_discriminator_loss(d(real, labels), d(fake.detach(), labels))
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    with torch.no_grad():  # each training-mode forward pass is one more power-iteration step
        for _ in range(15):
            d(g(torch.randn(8, 16), labels), labels)
        raw = [torch.linalg.matrix_norm(m.parametrizations.weight.original.flatten(1), ord=2).item() for _, m in layers]
        normed = {name: torch.linalg.matrix_norm(m.weight.flatten(1), ord=2).item() for name, m in layers}
    assert max(raw) > 3, "the raw weights barely moved: this test checks nothing"
    assert all(abs(s - 1) < 0.1 for s in normed.values()), normed


# --- losses ------------------------------------------------------------------------------------------


def test_hinge_losses_match_hand_computed_values() -> None:
    real, fake = torch.tensor([2.0, 0.5, -1.0]), torch.tensor([-2.0, 0.0, 1.0])
    # real: max(0, 1 - [2, 0.5, -1]) = [0, 0.5, 2] -> 2.5 / 3; fake: max(0, 1 + [-2, 0, 1]) = [0, 1, 2] -> 1
    assert hinge_discriminator_loss(real, fake).item() == pytest.approx(2.5 / 3 + 1.0)
    assert hinge_discriminator_loss(torch.tensor([1.0, 5.0]), torch.tensor([-1.0, -7.0])).item() == 0.0
    assert hinge_generator_loss(fake).item() == pytest.approx(1 / 3)
    # Past the margin the discriminator gets no gradient; the generator always does.
    scores = torch.tensor([3.0], requires_grad=True)
    (grad_d,) = torch.autograd.grad(hinge_discriminator_loss(scores, -scores), scores)
    (grad_g,) = torch.autograd.grad(hinge_generator_loss(scores), scores)
    assert grad_d.item() == 0.0 and grad_g.item() == -1.0


# --- training ----------------------------------------------------------------------------------------


def test_a_few_hinge_loss_steps_train_both_networks() -> None:
    g, d = _small_pair()
    before = {name: p.detach().clone() for name, p in [*g.named_parameters(), *d.named_parameters()]}
    g_optimiser = torch.optim.Adam(g.parameters(), lr=1e-3, betas=(0.0, 0.9))
    d_optimiser = torch.optim.Adam(d.parameters(), lr=4e-3, betas=(0.0, 0.9))  # TTUR: D faster than G
    real, labels = torch.rand(16, 1, 28, 28) * 2 - 1, torch.arange(16) % 10
    losses = []
    for _ in range(3):
        fake = g(torch.randn(16, 16), labels)
        d_loss = hinge_discriminator_loss(d(real, labels), d(fake.detach(), labels))
        d_optimiser.zero_grad()
        d_loss.backward()
        d_optimiser.step()
        g_loss = hinge_generator_loss(d(fake, labels))
        g_optimiser.zero_grad()
        g_loss.backward()
        g_optimiser.step()
        losses += [d_loss.item(), g_loss.item()]
    assert all(torch.isfinite(torch.tensor(losses)))
    after = dict([*g.named_parameters(), *d.named_parameters()])
    unchanged = [name for name, p in before.items() if torch.equal(p, after[name])]
    # Embedding rows of classes never drawn get no gradient; every class 0-9 is in the batch.
    assert not unchanged, unchanged
    assert g.attention.gamma.item() != 0 and d.attention.gamma.item() != 0  # attention switched on


# --- bad input ---------------------------------------------------------------------------------------


def test_bad_input_gives_clear_errors() -> None:
    g, d = SAGANGenerator(), SAGANDiscriminator()
    with pytest.raises(ValueError, match=r"SAGANGenerator expects integer class labels of shape \(2,\), got \(3,\)"):
        g(torch.zeros(2, 64), torch.zeros(3, dtype=torch.long))
    with pytest.raises(ValueError, match="integer class labels"):
        g(torch.zeros(2, 64), torch.zeros(2))  # float labels
    with pytest.raises(ValueError, match=r"expects latent vectors of shape \(N, 64\), got \(2, 10\)"):
        g(torch.zeros(2, 10), torch.zeros(2, dtype=torch.long))
    with pytest.raises(ValueError, match=r"SAGANDiscriminator expects integer class labels of shape \(2,\), got \(2, 1\)"):
        d(torch.zeros(2, 1, 28, 28), torch.zeros(2, 1, dtype=torch.long))
    with pytest.raises(ValueError, match=r"expects a batch of images of shape \(N, 1, 28, 28\), got \(2, 3, 32, 32\)"):
        d(torch.zeros(2, 3, 32, 32), torch.zeros(2, dtype=torch.long))
    with pytest.raises(ValueError, match=r"attention_size must be .* one of \[14\], got 10"):
        SAGANGenerator(attention_size=10)
    with pytest.raises(ValueError, match=r"attention_size must be .* one of \[8, 16\], got 4"):
        SAGANGenerator(image_shape=(3, 32, 32), attention_size=4)
    with pytest.raises(ValueError, match=r"attention_size must be .* one of \[7, 14\], got 28"):
        SAGANDiscriminator(attention_size=28)
    with pytest.raises(ValueError, match="base_channels must be a positive integer"):
        build_model("sagan-discriminator", base_channels=0)


def test_spectral_norm_off_starts_each_layer_where_the_normalised_one_starts_and_then_leaves_it_free() -> None:
    g = SAGANGenerator(latent_dim=8, base_channels=8, spectral_norm=False)
    d = SAGANDiscriminator(base_channels=8, embedding_spectral_norm=False)
    assert not any(parametrize.is_parametrized(m) for m in g.modules())
    assert not parametrize.is_parametrized(d.embed) and parametrize.is_parametrized(d.head)  # the rest of D stays normalised
    for layer in (g.project, g.to_image.conv, g.attention.query, d.embed):
        assert torch.linalg.matrix_norm(layer.weight.detach().flatten(1), ord=2).item() == pytest.approx(1.0, rel=1e-4)
    assert g(torch.randn(2, 8), torch.tensor([0, 9])).shape == (2, 1, 28, 28)

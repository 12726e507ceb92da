"""Autoencoders and the VAE: shapes, losses against hand-computed values, short training runs, bad input."""

from __future__ import annotations

import math

import pytest
import torch

from mlcheatsheet.models import VAE, Autoencoder, ConvAutoencoder, available_models, build_model
from mlcheatsheet.models.autoencoder import corrupt, reconstruction_loss
from mlcheatsheet.models.vae import reparameterize, vae_loss
from mlcheatsheet.training import TrainConfig, evaluate_autoencoder, evaluate_vae, fit_autoencoder, fit_vae


@pytest.mark.parametrize("image_shape", [(1, 28, 28), (3, 32, 32), (1, 27, 29)])
def test_autoencoders_keep_the_image_shape_and_code_size(image_shape: tuple[int, int, int]) -> None:
    x = torch.rand(3, *image_shape)
    for model in (Autoencoder(image_shape=image_shape, hidden_dims=(32,), latent_dim=5),
                  ConvAutoencoder(image_shape=image_shape, base_channels=4, hidden_dim=16, latent_dim=5)):
        assert model.encode(x).shape == (3, 5)
        assert model(x).shape == (3, *image_shape)


def test_vae_shapes_and_prior_samples() -> None:
    model = VAE(base_channels=4, hidden_dim=16, latent_dim=3)
    logits, mean, logvar = model(torch.rand(5, 1, 28, 28))
    assert logits.shape == (5, 1, 28, 28) and mean.shape == logvar.shape == (5, 3)
    assert model.sample(7).shape == (7, 1, 28, 28)
    assert {"autoencoder", "conv-autoencoder", "vae"} <= set(available_models())
    assert isinstance(build_model("vae", latent_dim=2), VAE)


def test_reconstruction_loss_matches_hand_computation() -> None:
    logits = torch.tensor([0.0, 2.0, -1.0, 3.0]).view(1, 1, 2, 2)
    target = torch.tensor([0.5, 1.0, 0.0, 0.25]).view(1, 1, 2, 2)
    p = torch.sigmoid(logits).flatten().tolist()
    x = target.flatten().tolist()
    bce = sum(-(xi * math.log(pi) + (1 - xi) * math.log(1 - pi)) for xi, pi in zip(x, p)) / 4
    mse = sum((pi - xi) ** 2 for xi, pi in zip(x, p)) / 4
    assert reconstruction_loss(logits, target).item() == pytest.approx(bce, rel=1e-6)
    assert reconstruction_loss(logits, target, kind="mse").item() == pytest.approx(mse, rel=1e-6)


def test_vae_loss_matches_hand_computation() -> None:
    # Two images of two pixels, a 1-D code.
    logits = torch.tensor([[0.0, 1.0], [-2.0, 0.5]]).view(2, 1, 1, 2)
    target = torch.tensor([[1.0, 0.0], [0.2, 0.7]]).view(2, 1, 1, 2)
    mean = torch.tensor([[0.5], [-1.0]])
    logvar = torch.tensor([[0.0], [math.log(4.0)]])
    p = torch.sigmoid(logits).flatten().tolist()
    x = target.flatten().tolist()
    reconstruction = sum(-(xi * math.log(pi) + (1 - xi) * math.log(1 - pi)) for xi, pi in zip(x, p)) / 2
    # KL(N(mu, s^2) || N(0, 1)) = (mu^2 + s^2 - 1 - log s^2) / 2, per image, averaged.
    kl = ((0.25 + 1 - 1 - 0) / 2 + (1 + 4 - 1 - math.log(4.0)) / 2) / 2
    parts = vae_loss(logits, target, mean, logvar, kl_weight=0.5)
    assert parts["reconstruction"].item() == pytest.approx(reconstruction, rel=1e-6)
    assert parts["kl"].item() == pytest.approx(kl, rel=1e-6)
    assert parts["loss"].item() == pytest.approx(reconstruction + 0.5 * kl, rel=1e-6)


def test_reparameterize_and_corrupt() -> None:
    mean, logvar = torch.full((20000, 1), 2.0), torch.full((20000, 1), math.log(9.0))
    z = reparameterize(mean, logvar, generator=torch.Generator().manual_seed(0))
    assert z.mean().item() == pytest.approx(2.0, abs=0.1) and z.std().item() == pytest.approx(3.0, rel=0.05)
    images = torch.rand(4, 1, 8, 8)
    assert corrupt(images, 0.0) is images
    noisy = corrupt(images, 0.5, generator=torch.Generator().manual_seed(0))
    assert noisy.min() >= 0 and noisy.max() <= 1 and not torch.equal(noisy, images)


def test_gradients_reach_the_encoder_through_the_sampled_code() -> None:
    model = VAE(base_channels=4, hidden_dim=16, latent_dim=2)
    logits, mean, logvar = model(torch.rand(4, 1, 28, 28))
    vae_loss(logits, torch.rand(4, 1, 28, 28), mean, logvar)["reconstruction"].backward()
    assert model.encoder.layers[0].weight.grad is not None
    assert model.encoder.layers[0].weight.grad.abs().sum() > 0


def test_short_autoencoder_training_lowers_the_held_out_error(mnist5k) -> None:
    data = mnist5k.subset(max_train=512)
    model = ConvAutoencoder(base_channels=8, hidden_dim=64, latent_dim=8)
    before = evaluate_autoencoder(model, data.x_test)["mse"]
    history = fit_autoencoder(model, data, TrainConfig(epochs=3, batch_size=64, lr=3e-3), noise_std=0.3)
    assert history.epochs == 3 and len(history["test_mse"]) == 3 and len(history["test_bce"]) == 3
    assert history.train_loss[-1] < history.train_loss[0]
    assert history["test_mse"][-1] < before


def test_short_vae_training_logs_the_elbo_parts(mnist5k) -> None:
    data = mnist5k.subset(max_train=512)
    model = VAE(base_channels=8, hidden_dim=64, latent_dim=4)
    before = evaluate_vae(model, data.x_test)["loss"]
    history = fit_vae(model, data, TrainConfig(epochs=3, batch_size=64, lr=3e-3), kl_warmup_epochs=1)
    for name in ("train_reconstruction", "train_kl", "test_loss", "test_reconstruction", "test_kl"):
        assert len(history[name]) == 3
    # The held-out negative ELBO is the sum of its parts, and it fell.
    assert history["test_loss"][-1] == pytest.approx(history["test_reconstruction"][-1] + history["test_kl"][-1], rel=1e-5)
    assert history["test_loss"][-1] < before
    assert evaluate_vae(model, data.x_test, seed=3) == evaluate_vae(model, data.x_test, seed=3)


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: Autoencoder(latent_dim=0), "latent_dim"),
        (lambda: Autoencoder(hidden_dims=(64, -1)), "hidden_dims"),
        (lambda: ConvAutoencoder(image_shape=(1, 2, 2)), "at least 4x4"),
        (lambda: ConvAutoencoder(image_shape=(28, 28)), r"image_shape must be \(C, H, W\)"),
        (lambda: VAE(base_channels=0), "base_channels"),
        (lambda: VAE().sample(0), "num_samples"),
        (lambda: corrupt(torch.rand(1, 1, 4, 4), -0.1), "noise_std"),
        (lambda: reconstruction_loss(torch.zeros(1, 1, 4, 4), torch.zeros(1, 1, 4, 4), kind="l1"), "'bce' or 'mse'"),
        (lambda: reconstruction_loss(torch.zeros(1, 1, 4, 4), torch.zeros(1, 1, 4, 5)), "differ in shape"),
        (lambda: vae_loss(torch.zeros(2, 1, 4, 4), torch.zeros(2, 1, 4, 4), torch.zeros(2, 3), torch.zeros(2, 2)), "logvar"),
    ],
)
def test_bad_hyper_parameters_and_inputs_give_clear_errors(build, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build()


def test_wrong_image_shape_and_bad_training_settings_are_refused(mnist5k) -> None:
    with pytest.raises(ValueError, match="28"):
        ConvAutoencoder().encode(torch.rand(2, 1, 32, 32))
    with pytest.raises(ValueError, match="28"):
        VAE()(torch.rand(2, 3, 28, 28))
    data = mnist5k.subset(max_train=64)
    with pytest.raises(ValueError, match="noise_std"):
        fit_autoencoder(Autoencoder(hidden_dims=(8,)), data, TrainConfig(epochs=1, batch_size=32), noise_std=-1)
    with pytest.raises(ValueError, match="kl_warmup_epochs"):
        fit_vae(VAE(base_channels=4, hidden_dim=8, latent_dim=2), data, TrainConfig(epochs=1, batch_size=32), kl_warmup_epochs=-1)

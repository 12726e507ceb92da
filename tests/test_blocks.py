"""The core blocks printed at the top of each architecture page run, and compute what the page says."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import torch
from torch import nn

BLOCKS = Path(__file__).resolve().parents[1] / "docs" / "architectures" / "blocks"


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"block_{name}", BLOCKS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_architecture_page_has_a_block_and_every_block_a_page() -> None:
    pages = {p.stem for p in BLOCKS.parent.glob("*.rst")}
    assert {p.stem for p in BLOCKS.glob("*.py")} == pages
    for page in pages:
        assert f"blocks/{page}.py" in (BLOCKS.parent / f"{page}.rst").read_text(), f"{page}.rst does not show its block"


def test_each_block_is_short() -> None:
    for path in BLOCKS.glob("*.py"):
        assert len(path.read_text().splitlines()) <= 16, path.name


def test_classifier_blocks_map_a_digit_to_ten_logits() -> None:
    torch.manual_seed(0)
    images = torch.rand(4, 1, 28, 28)
    assert _load("mlp").mlp(images).shape == (4, 10)
    assert _load("cnn").cnn(images).shape == (4, 10)
    for cell in (nn.RNN, nn.LSTM, nn.GRU):
        assert _load("rnn").RowReader(cell)(images).shape == (4, 10)


def test_the_residual_block_adds_its_input() -> None:
    block = _load("resnet").BasicBlock(8).eval()
    x = torch.rand(2, 8, 14, 14)
    for conv in (block.f[0], block.f[3]):
        nn.init.zeros_(conv.weight)  # F(x) = 0: the block must pass its (non-negative) input through
    assert torch.allclose(block(x), x)


def test_autoencoder_and_dcgan_shapes() -> None:
    images = torch.rand(4, 1, 28, 28)
    blocks = _load("autoencoder")
    assert blocks.encoder(images).shape == (4, 32) and blocks.autoencoder(images).shape == images.shape
    dcgan = _load("dcgan")
    fake = dcgan.generator(torch.randn(4, 16))
    assert fake.shape == images.shape and fake.abs().max() <= 1 and dcgan.discriminator(fake).shape == (4, 1)


def test_the_vae_loss_is_the_packages() -> None:
    from mlcheatsheet.models.vae import vae_loss

    torch.manual_seed(0)
    x, logits, mean, logvar = torch.rand(5, 1, 28, 28), torch.randn(5, 1, 28, 28), torch.randn(5, 16), torch.randn(5, 16)
    expected = vae_loss(logits, x, mean, logvar)["loss"]
    assert torch.allclose(_load("vae").vae_loss(x, logits, mean, logvar), expected, rtol=1e-5)


def test_one_gan_step_moves_both_players() -> None:
    torch.manual_seed(0)
    G = nn.Sequential(nn.Linear(64, 784), nn.Tanh())
    D = nn.Sequential(nn.Flatten(), nn.Linear(784, 1))
    before = [p.clone() for p in (*G.parameters(), *D.parameters())]
    opt_g, opt_d = torch.optim.Adam(G.parameters()), torch.optim.Adam(D.parameters())
    _load("gan").gan_step(G, D, opt_g, opt_d, torch.rand(8, 784) * 2 - 1)
    assert all(not torch.equal(a, b) for a, b in zip(before, (*G.parameters(), *D.parameters())))


def test_the_diffusion_block_trains_and_samples_the_package_network() -> None:
    from mlcheatsheet.models import UNet, flow_matching_loss

    torch.manual_seed(0)
    block, network, images = _load("diffusion"), UNet(base_channels=8, channel_mults=(1, 2)), torch.rand(4, 1, 28, 28) * 2 - 1
    loss = block.flow_matching_loss(network, images)
    loss.backward()
    assert loss.ndim == 0 and all(p.grad is not None for p in network.parameters())
    torch.manual_seed(1)  # the package's loss, from the same draws, is the same number when its levels are logit-normal
    ours = block.flow_matching_loss(network, images)
    torch.manual_seed(1)
    assert torch.allclose(ours, flow_matching_loss(network, images, time_sampling="logit-normal"))
    with torch.no_grad():
        drawn = block.sample(network, torch.randn(3, 1, 28, 28), steps=2)
    assert drawn.shape == (3, 1, 28, 28) and drawn.abs().max() <= 1

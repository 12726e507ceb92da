"""Shapes, the registry and argument checks of every model."""

from __future__ import annotations

import inspect

import pytest
import torch
from torch import nn

from mlcheatsheet.models import MLP, available_models, build_model, get_builder, register_model


def test_mlp_output_shape() -> None:
    model = MLP(hidden_dims=(32, 16), num_classes=10)
    assert model(torch.randn(5, 1, 28, 28)).shape == (5, 10)


def test_mlp_adapts_to_colour_images() -> None:
    model = MLP(image_shape=(3, 32, 32), hidden_dims=(8,), num_classes=100)
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 100)


def test_mlp_rejects_wrong_image_shape() -> None:
    with pytest.raises(ValueError, match=r"expects a batch of images of shape \(N, 1, 28, 28\), got \(2, 3, 32, 32\)"):
        MLP()(torch.randn(2, 3, 32, 32))


@pytest.mark.parametrize(
    "kwargs",
    [{"hidden_dims": (0,)}, {"hidden_dims": (-4, 8)}, {"num_classes": 0}, {"dropout": 1.0}, {"image_shape": (1, 0, 28)}, {"image_shape": (28, 28)}],
)
def test_mlp_rejects_impossible_hyper_parameters(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        MLP(**kwargs)


def test_registry_builds_every_model() -> None:
    assert "mlp" in available_models()
    for name in available_models():
        assert isinstance(build_model(name), nn.Module)


@pytest.mark.parametrize("name", available_models())
def test_every_model_takes_keyword_only_hyper_parameters_including_image_shape(name: str) -> None:
    parameters = inspect.signature(get_builder(name)).parameters.values()
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in parameters), name
    model = build_model(name, image_shape=(3, 32, 32))
    assert model.image_shape == (3, 32, 32) and not hasattr(model, "input_shape")


@pytest.mark.parametrize(
    ("generator", "discriminator"),
    [("gan-generator", "gan-discriminator"), ("dcgan-generator", "dcgan-discriminator"),
     ("dcgan-generator", "wgan-gp-critic"), ("conditional-dcgan-generator", "conditional-dcgan-discriminator")],
)
def test_adversarial_pairs_take_their_shared_arguments_in_the_same_order(generator: str, discriminator: str) -> None:
    g, d = (list(inspect.signature(get_builder(name)).parameters) for name in (generator, discriminator))
    shared = set(g) & set(d)
    assert g[0] == d[0] == "image_shape"
    assert [n for n in g if n in shared] == [n for n in d if n in shared]


def test_registry_unknown_name_lists_valid_names() -> None:
    with pytest.raises(ValueError, match="unknown model 'transformer'; choose one of: .*mlp"):
        build_model("transformer")


def test_registry_refuses_duplicate_names() -> None:
    with pytest.raises(ValueError, match="already registered"):
        register_model("mlp")(MLP)


def test_fast_dropout_matches_torch_dropout_in_distribution() -> None:
    from mlcheatsheet.models.layers import FastDropout

    torch.manual_seed(0)
    layer = FastDropout(0.3).train()
    x = torch.ones(200_000, requires_grad=True)
    y = layer(x)
    dropped = float((y == 0).float().mean())
    assert abs(dropped - 0.3) < 0.005  # 200,000 draws: standard error ~0.001
    assert y.unique().tolist() == [0.0, pytest.approx(1 / 0.7)]
    assert abs(float(y.detach().mean()) - 1.0) < 0.01  # survivors are rescaled: same expected value
    y.sum().backward()
    assert torch.equal(x.grad, y.detach())  # gradient = mask / (1 - p), the same mask as the forward
    odd = layer(torch.ones(3, 5, 7))  # a size that is not a multiple of the four flips per draw
    assert odd.shape == (3, 5, 7) and torch.isin(odd, torch.tensor([0.0, 1 / 0.7])).all()
    assert FastDropout(0.9).train()(torch.ones(100_000)).count_nonzero() == pytest.approx(10_000, rel=0.05)


def test_fast_dropout_is_the_identity_in_eval_mode_and_torch_dropout_elsewhere() -> None:
    from mlcheatsheet.models.layers import FastDropout

    x = torch.randn(64, 32)
    assert torch.equal(FastDropout(0.5).eval()(x), x)
    assert torch.equal(FastDropout(1.0).train()(x), torch.zeros_like(x))
    # Same seed, in-place (or another dtype): torch's own dropout, bit for bit.
    torch.manual_seed(1)
    ours = FastDropout(0.5, inplace=True).train()(x.clone())
    torch.manual_seed(1)
    theirs = nn.Dropout(0.5, inplace=True).train()(x.clone())
    assert torch.equal(ours, theirs)
    half = x.to(torch.bfloat16)
    torch.manual_seed(2)
    ours = FastDropout(0.5).train()(half)
    torch.manual_seed(2)
    assert torch.equal(ours, nn.Dropout(0.5).train()(half))
    assert "FastDropout(p=0.5" in repr(FastDropout(0.5))

"""The models the pages run in the browser are the trained ones: ONNX files that give PyTorch's outputs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from mlcheatsheet.site import export
from mlcheatsheet.data import Dataset
from mlcheatsheet.site.export import DemoModel, Pixels, Probabilities, export_demo, run_onnx
from mlcheatsheet.models import CNN, VAE, ConvAutoencoder, DCGANGenerator
from mlcheatsheet.models.dcgan import ConditionalGenerator


@pytest.fixture
def digits() -> Dataset:
    generator = torch.Generator().manual_seed(0)
    return Dataset(name="toy", source="random", x_train=torch.rand(8, 1, 28, 28, generator=generator),
                   y_train=torch.arange(8) % 10, x_test=torch.rand(6, 1, 28, 28, generator=generator),
                   y_test=torch.arange(6) % 10, classes=tuple(str(k) for k in range(10)))


def _outputs_match(folder: Path, name: str, module: torch.nn.Module, inputs: dict[str, torch.Tensor]) -> None:
    """The file's outputs on new inputs (another batch size) equal PyTorch's to 1e-4."""
    with torch.no_grad():
        expected = module.eval()(*inputs.values())
    expected = expected if isinstance(expected, tuple) else (expected,)
    got = run_onnx(folder / f"{name}.onnx", {k: v.numpy() for k, v in inputs.items()})
    for want, have in zip(expected, got):
        np.testing.assert_allclose(have, want.numpy(), atol=1e-4, rtol=0)


def test_a_classifier_exports_with_the_same_logits_and_a_stamp(tmp_path: Path, digits: Dataset) -> None:
    cnn = CNN(image_shape=(1, 28, 28), channels=(8, 16), num_classes=10)
    folder = export_demo("cnn", "classifier", {"classifier": DemoModel(Probabilities(cnn), {"image": digits.x_test[:2]},
                                                                       ("logits", "probabilities"))},
                         title="CNN", data=digits, device="cpu", folder=tmp_path)
    assert folder == tmp_path / "cnn" and sorted(p.name for p in folder.iterdir()) == ["classifier.onnx", "demo.json"]
    _outputs_match(folder, "classifier", Probabilities(cnn), {"image": digits.x_test[:5]})
    meta = json.loads((folder / "demo.json").read_text())
    assert meta["kind"] == "classifier" and meta["classes"] == [str(k) for k in range(10)] and meta["mode"] == "quick"
    assert meta["models"]["classifier"]["inputs"] == {"image": [None, 1, 28, 28]}
    assert meta["models"]["classifier"]["outputs"]["probabilities"] == [None, 10]
    assert meta["device_description"].startswith("cpu") and meta["run_at"].endswith("Z")


def test_decoders_and_generators_export_as_pixels(tmp_path: Path, digits: Dataset) -> None:
    torch.manual_seed(0)
    vae, gan = VAE(image_shape=(1, 28, 28), base_channels=8, hidden_dim=32, latent_dim=2), DCGANGenerator(latent_dim=4, base_channels=8)
    conditional = ConditionalGenerator(latent_dim=4, num_classes=10, base_channels=8)
    autoencoder = ConvAutoencoder(image_shape=(1, 28, 28), base_channels=8, hidden_dim=32, latent_dim=4)
    cases = {
        "decoder": (Pixels(vae, "sigmoid", "decode"), {"code": torch.randn(3, 2)}),
        "generator": (Pixels(gan, "tanh"), {"noise": torch.randn(3, 4)}),
        "conditional": (Pixels(conditional, "tanh"), {"noise": torch.randn(3, 4), "label": torch.tensor([0, 5, 9])}),
        "autoencoder": (Pixels(autoencoder, "sigmoid"), {"image": digits.x_test[:3]}),
    }
    folder = export_demo("mixed", "vae", {name: DemoModel(module, {k: v[:2] for k, v in inputs.items()})
                                          for name, (module, inputs) in cases.items()},
                         title="several", data=digits, device="cpu", folder=tmp_path, extra={"latent_dim": 2})
    for name, (module, inputs) in cases.items():
        _outputs_match(folder, name, module, inputs)
        with torch.no_grad():
            pixels = module.eval()(*inputs.values())
        assert pixels.shape == (3, 1, 28, 28) and 0 <= float(pixels.min()) and float(pixels.max()) <= 1


def test_nothing_is_written_outside_a_build_and_bad_requests_are_refused(tmp_path: Path, digits: Dataset,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(export.DEMOS_ENV, raising=False)
    model = {"generator": DemoModel(Pixels(DCGANGenerator(latent_dim=4, base_channels=8), "tanh"), {"noise": torch.randn(2, 4)})}
    assert export_demo("dcgan", "generator", model, title="DCGAN", data=digits, device="cpu") is None
    with pytest.raises(ValueError, match="unknown demo kind 'painting'"):
        export_demo("dcgan", "painting", model, title="DCGAN", data=digits, device="cpu", folder=tmp_path)
    with pytest.raises(ValueError, match="output must be 'sigmoid' or 'tanh'"):
        Pixels(torch.nn.Identity(), "relu")


def test_a_file_that_differs_from_the_model_is_refused_and_leaves_nothing(tmp_path: Path, digits: Dataset,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(export, "TOLERANCE", -1.0)  # no file can be that close: the check must fire
    model = {"generator": DemoModel(Pixels(DCGANGenerator(latent_dim=4, base_channels=8), "tanh"), {"noise": torch.randn(2, 4)})}
    with pytest.raises(RuntimeError, match="differs from the PyTorch model"):
        export_demo("dcgan", "generator", model, title="DCGAN", data=digits, device="cpu", folder=tmp_path)
    assert list(tmp_path.iterdir()) == []

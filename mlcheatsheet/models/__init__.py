"""The architectures, one family per module, and the registry that names them.

Each name below is loaded from its family's module on first use, so
``from mlcheatsheet.models import CNN`` imports the CNN's module and nothing else (the docs
build re-runs an example only when a module it imported changed). The registry finds every
family when it is asked for a name (:func:`~mlcheatsheet.models.registry.available_models`).
The recurrent cells' builders ``rnn``, ``gru`` and ``lstm`` are imported from
:mod:`mlcheatsheet.models.rnn` (here ``rnn`` names that module).
"""

from __future__ import annotations

import importlib
from typing import Any

# Public name -> the module of this package that defines it.
_HOMES = {
    "MLP": "mlp",
    "CNN": "cnn",
    **dict.fromkeys(("ResNet", "BasicBlock", "Bottleneck", "PlainBlock", "resnet_small", "plain_small", "resnet18",
                     "resnet50"), "resnet"),
    "RecurrentClassifier": "rnn",
    **dict.fromkeys(("Autoencoder", "ConvAutoencoder", "ConvEncoder", "ConvDecoder"), "autoencoder"),
    "VAE": "vae",
    **dict.fromkeys(("Generator", "Discriminator"), "gan"),
    **dict.fromkeys(("DCGANGenerator", "DCGANDiscriminator", "UpsampleGenerator", "WGANCritic", "ConditionalGenerator",
                     "ConditionalDiscriminator"), "dcgan"),
    **dict.fromkeys(("MinibatchDiscrimination", "MinibatchDiscriminator"), "improved_gan"),
    **dict.fromkeys(("SAGANGenerator", "SAGANDiscriminator", "SelfAttention", "ConditionalBatchNorm2d",
                     "hinge_discriminator_loss", "hinge_generator_loss"), "sagan"),
    **dict.fromkeys(("UNet", "FlowSampler", "NoiseSchedule", "ddpm_loss", "ddpm_sample", "ddim_sample", "flow_matching_loss", "euler_sample",
                     "flow_evaluations", "flow_path", "flow_sample"),
                    "diffusion"),
    **dict.fromkeys(("ModelConfig", "available_models", "build_model", "get_builder", "model_config", "register_model"),
                    "registry"),
}

__all__ = sorted(_HOMES)


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_HOMES[name]}"), name)
    globals()[name] = value  # loaded once
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_HOMES})

"""The architectures, one family per module, and the registry that names them.

Importing this package registers every model, so :func:`~mlcheatsheet.models.registry.build_model` and
:func:`~mlcheatsheet.models.registry.available_models` see them all.
"""

from .dcgan import (
    ConditionalDiscriminator,
    ConditionalGenerator,
    DCGANDiscriminator,
    DCGANGenerator,
    UpsampleGenerator,
    WGANCritic,
)
from .gan import Discriminator, Generator
from .improved_gan import MinibatchDiscrimination, MinibatchDiscriminator
from .sagan import (
    ConditionalBatchNorm2d,
    SAGANDiscriminator,
    SAGANGenerator,
    SelfAttention,
    hinge_discriminator_loss,
    hinge_generator_loss,
)
from .autoencoder import Autoencoder, ConvAutoencoder, ConvDecoder, ConvEncoder
from .cnn import CNN
from .mlp import MLP
from .resnet import BasicBlock, Bottleneck, PlainBlock, ResNet, plain_small, resnet18, resnet50, resnet_small
from .registry import ModelConfig, available_models, build_model, get_builder, model_config, register_model
from .rnn import RecurrentClassifier, gru, lstm, rnn
from .vae import VAE

__all__ = [
    "CNN",
    "BasicBlock",
    "Bottleneck",
    "PlainBlock",
    "RecurrentClassifier",
    "ResNet",
    "gru",
    "lstm",
    "plain_small",
    "resnet18",
    "resnet50",
    "resnet_small",
    "rnn",
    "ConditionalDiscriminator",
    "ConditionalGenerator",
    "DCGANDiscriminator",
    "DCGANGenerator",
    "Discriminator",
    "Generator",
    "MinibatchDiscrimination",
    "MinibatchDiscriminator",
    "UpsampleGenerator",
    "WGANCritic",
    "ConditionalBatchNorm2d",
    "SAGANDiscriminator",
    "SAGANGenerator",
    "SelfAttention",
    "hinge_discriminator_loss",
    "hinge_generator_loss",
    "Autoencoder",
    "ConvAutoencoder",
    "ConvDecoder",
    "ConvEncoder",
    "VAE",
    "MLP", "ModelConfig", "available_models", "build_model", "get_builder", "model_config", "register_model"]

import torch
import torch.nn.functional as F


def vae_loss(x, logits, mean, logvar):
    """Negative ELBO per image: Bernoulli reconstruction + KL(q(z|x) || N(0, I)), in nats."""
    reconstruction = F.binary_cross_entropy_with_logits(logits, x, reduction="sum") / len(x)
    kl = -0.5 * torch.sum(1 + logvar - mean.pow(2) - logvar.exp()) / len(x)
    return reconstruction + kl


def reparameterize(mean, logvar):
    """z = mean + sigma * eps: a sample that gradients can flow through."""
    return mean + (0.5 * logvar).exp() * torch.randn_like(mean)

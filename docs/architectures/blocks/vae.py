import torch
import torch.nn.functional as F


def reparameterize(mean, logvar):
    """z = mean + sigma * eps: a sample that gradients flow through."""
    return mean + (0.5 * logvar).exp() * torch.randn_like(mean)


def vae_loss(x, logits, mean, logvar):
    """Negative ELBO per image in nats: reconstruction + KL to N(0, I)."""
    n = len(x)
    rec = F.binary_cross_entropy_with_logits(logits, x, reduction="sum")
    kl = -0.5 * torch.sum(1 + logvar - mean.pow(2) - logvar.exp())
    return (rec + kl) / n

import torch
import torch.nn.functional as F


def flow_matching_loss(model, x0):
    """Regress the velocity of the straight path from images x0 (in [-1, 1]) to noise."""
    t = torch.sigmoid(torch.randn(len(x0), 1, 1, 1))  # noise levels, most near the middle
    noise = torch.randn_like(x0)
    return F.mse_loss(model((1 - t) * x0 + t * noise, t.flatten()), noise - x0)


def sample(model, x, steps=10):
    """Euler steps from noise x (t = 1) to an image (t = 0); call it under torch.no_grad()."""
    for i in range(steps, 0, -1):
        x = x - model(x, torch.full((len(x),), i / steps)) / steps
    return x.clamp(-1, 1)

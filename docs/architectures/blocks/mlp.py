from torch import nn


def hidden(d_in: int, d_out: int) -> list[nn.Module]:
    """Linear -> BatchNorm -> ReLU -> Dropout (BatchNorm replaces the bias)."""
    return [nn.Linear(d_in, d_out, bias=False), nn.BatchNorm1d(d_out),
            nn.ReLU(), nn.Dropout(0.3)]


mlp = nn.Sequential(  # (N, 1, 28, 28) -> (N, 784) -> (N, 10) logits
    nn.Flatten(), *hidden(784, 1024), *hidden(1024, 512),
    nn.Linear(512, 10))

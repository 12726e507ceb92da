from torch import nn

# Generator: noise z (N, 16) -> image (N, 1, 28, 28); transposed convolutions double the size.
generator = nn.Sequential(
    nn.Linear(16, 64 * 7 * 7, bias=False), nn.BatchNorm1d(64 * 7 * 7), nn.ReLU(), nn.Unflatten(1, (64, 7, 7)),
    nn.ConvTranspose2d(64, 32, 4, 2, 1, bias=False), nn.BatchNorm2d(32), nn.ReLU(),   # -> (N, 32, 14, 14)
    nn.ConvTranspose2d(32, 1, 4, 2, 1), nn.Tanh(),                                    # -> (N, 1, 28, 28) in [-1, 1]
)
# Discriminator: strided convolutions halve the size; no pooling, LeakyReLU, one logit.
discriminator = nn.Sequential(
    nn.Conv2d(1, 32, 4, 2, 1), nn.LeakyReLU(0.2), nn.Conv2d(32, 64, 4, 2, 1), nn.LeakyReLU(0.2),  # -> (N, 64, 7, 7)
    nn.Flatten(), nn.Linear(64 * 7 * 7, 1),                                                     # -> (N, 1) logit
)

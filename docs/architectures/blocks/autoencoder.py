from torch import nn

# A 28x28 image through a 32-number code and back (train: MSE of sigmoid).
encoder = nn.Sequential(  # (N, 1, 28, 28) -> (N, 32, 7, 7) -> code (N, 32)
    nn.Conv2d(1, 16, 3, 2, 1), nn.ReLU(), nn.Conv2d(16, 32, 3, 2, 1),
    nn.ReLU(), nn.Flatten(), nn.Linear(32 * 7 * 7, 32))
decoder = nn.Sequential(  # code (N, 32) -> logits (N, 1, 28, 28)
    nn.Linear(32, 32 * 7 * 7), nn.ReLU(), nn.Unflatten(1, (32, 7, 7)),
    nn.ConvTranspose2d(32, 16, 4, 2, 1), nn.ReLU(),
    nn.ConvTranspose2d(16, 1, 4, 2, 1))
autoencoder = nn.Sequential(encoder, decoder)

from torch import nn

# Squeeze a 28x28 image through a 32-number code and rebuild it; train on MSE(sigmoid(logits), x).
encoder = nn.Sequential(nn.Conv2d(1, 16, 3, 2, 1), nn.ReLU(), nn.Conv2d(16, 32, 3, 2, 1), nn.ReLU(),  # -> (N, 32, 7, 7)
                        nn.Flatten(), nn.Linear(32 * 7 * 7, 32))                                      # -> code (N, 32)
decoder = nn.Sequential(nn.Linear(32, 32 * 7 * 7), nn.ReLU(), nn.Unflatten(1, (32, 7, 7)),
                        nn.ConvTranspose2d(32, 16, 4, 2, 1), nn.ReLU(),                               # -> (N, 16, 14, 14)
                        nn.ConvTranspose2d(16, 1, 4, 2, 1))                                           # -> logits (N, 1, 28, 28)
autoencoder = nn.Sequential(encoder, decoder)

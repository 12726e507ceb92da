import torch
import torch.nn.functional as F


def gan_step(G, D, opt_g, opt_d, real, latent_dim=64):
    """One round of the game: D learns to tell real from fake, then G learns to fool D."""
    fake = G(torch.randn(len(real), latent_dim))
    real_logits, fake_logits = D(real), D(fake.detach())
    d_loss = (F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))
              + F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits)))
    opt_d.zero_grad(); d_loss.backward(); opt_d.step()
    fake_logits = D(fake)                                         # non-saturating: maximise log D(G(z))
    g_loss = F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))
    opt_g.zero_grad(); g_loss.backward(); opt_g.step()

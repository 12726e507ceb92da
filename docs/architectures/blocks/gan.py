import torch
import torch.nn.functional as F

bce = F.binary_cross_entropy_with_logits


def gan_step(G, D, opt_g, opt_d, real, latent_dim=64):
    """One round: D learns to tell real from fake, then G to fool D."""
    fake = G(torch.randn(len(real), latent_dim))
    real_logit, fake_logit = D(real), D(fake.detach())
    d_loss = (bce(real_logit, torch.ones_like(real_logit))
              + bce(fake_logit, torch.zeros_like(fake_logit)))
    opt_d.zero_grad(); d_loss.backward(); opt_d.step()
    fake_logit = D(fake)  # non-saturating: G maximises log D(G(z))
    g_loss = bce(fake_logit, torch.ones_like(fake_logit))
    opt_g.zero_grad(); g_loss.backward(); opt_g.step()

"""
Diffusion: drawing images by undoing noise
==========================================

A GAN's generator learns from a discriminator's verdicts. A diffusion model learns
something simpler to state: shown an image buried in noise to a known level, which way
is the clean image? Ask that question over and over, starting from pure noise, and an
image appears. This example trains the package's :class:`~mlcheatsheet.models.diffusion.UNet`
by flow matching while the documentation is built, draws images with a few solver steps,
and judges them with the classifier, floor and held-out images of the GAN examples.
"""

# %%
# Device and data
# ---------------
# The images are loaded with pixels in :math:`[0, 1]`; the model works in :math:`[-1, 1]`,
# where the noise and the image are on one scale.
import torch

from mlcheatsheet.data import load_dataset
from mlcheatsheet.runtime import describe_device, get_device, seed_everything

# sphinx_gallery_thumbnail_number = 6
device = get_device()
print(f"Device: {describe_device(device)}")
data = load_dataset("mnist-5k", verbose=False)
# sphinx_gallery_start_ignore
from mlcheatsheet.site.budgets import build_data, build_length

data = build_data("diffusion", device, data)  # a quick build keeps fewer images; a GPU build may load others
# sphinx_gallery_end_ignore
print(data.describe())

# %%
# The path from an image to noise
# -------------------------------
# Flow matching joins each training image :math:`x_0` to a draw of Gaussian noise
# :math:`\varepsilon` by a straight line, :math:`x_t = (1 - t)\, x_0 + t\, \varepsilon`,
# :math:`t \in [0, 1]`. Four training images along it:
from mlcheatsheet.plotting import show_image_rows

times = torch.linspace(0, 1, 6)
x0 = data.x_train[:4] * 2 - 1
noise = torch.randn(x0.shape, generator=torch.Generator().manual_seed(0))
path = torch.stack([(1 - t) * x0 + t * noise for t in times], dim=1)  # (4, 6, C, H, W)
_ = show_image_rows(((path + 1) / 2).clamp(0, 1), col_labels=[f"t = {t:.1f}" for t in times.tolist()],
                    title="Training images on their way to noise")

# %%
# The model
# ---------
# The network :math:`v_\theta(x_t, t)` sees a noised image and its noise level and
# returns an image-sized velocity: a U-Net of residual blocks with GroupNorm, halving the
# resolution twice on the way down and doubling it back on the way up, where each level
# also receives the features saved on the way down at its resolution. The level
# :math:`t` enters every block through a sinusoidal embedding.
from mlcheatsheet.models import UNet
from mlcheatsheet.training import count_parameters

seed_everything(0)
network = UNet(image_shape=data.image_shape, base_channels=16, channel_mults=(1, 2, 2))
print(f"{count_parameters(network):,} trainable parameters")

# %%
# The objective and training
# --------------------------
# Along the straight path the velocity :math:`dx_t / dt` is :math:`\varepsilon - x_0`. The
# network regresses it at a random level of each image in the batch:
#
# .. math::
#    \mathcal{L}(\theta) = \mathbb{E}_{x_0, \varepsilon, t}\,
#    \big\lVert v_\theta\big((1 - t)\, x_0 + t\, \varepsilon,\ t\big) - (\varepsilon - x_0) \big\rVert^2 .
#
# The levels are drawn as :math:`t = \sigma(u)`, :math:`u \sim \mathcal{N}(0, 1)`
# (``"logit-normal"``, Esser et al. 2024), which spends more of the training near the middle
# of the path, where the velocity is hardest to tell; ``"uniform"`` is the original
# choice. The held-out loss uses the same noise every epoch, so its curve moves only
# with the network.
from mlcheatsheet.plotting import plot_history
from mlcheatsheet.training import TrainConfig, fit_diffusion

epochs = 48
# sphinx_gallery_start_ignore
epochs = build_length("diffusion", device, epochs=epochs)
# sphinx_gallery_end_ignore
config = TrainConfig(epochs=epochs, batch_size=64, lr=2e-3)
levels = "logit-normal"  # how the noise level of each training image is drawn
print(f"Recipe: {config.recipe()}; noise levels {levels}")
history = fit_diffusion(network, data, config, time_sampling=levels, device=device)
print(f"{history.steps:,} steps in {history.total_seconds:.1f} s; held-out loss {history['test_loss'][-1]:.4f}")
_ = plot_history(history, title=f"Flow matching on {data.name}")

# %%
# Drawing images: integrating the velocity
# ----------------------------------------
# A sample starts as pure noise at :math:`t = 1` and follows
# :math:`dx/dt = v_\theta(x, t)` back to :math:`t = 0`. Heun's method takes an Euler step,
# evaluates the velocity where it lands, and redoes the step with the average of the two:
# two network evaluations per step (one for the last, which ends at :math:`t = 0`). Six
# starting points, every step shown:
from mlcheatsheet.models import flow_path

steps = 10
# sphinx_gallery_start_ignore
steps = build_length("diffusion", device, sampling_steps=steps)
# sphinx_gallery_end_ignore
start = torch.randn(6, *data.image_shape, generator=torch.Generator().manual_seed(2)).to(device)
trajectory = flow_path(network, start, steps=steps, solver="heun")  # (steps + 1, 6, C, H, W)
_ = show_image_rows(((trajectory.transpose(0, 1).cpu() + 1) / 2),
                    col_labels=[f"{1 - k / steps:.1f}" for k in range(steps + 1)],
                    title=f"From noise (t = 1) to an image (t = 0) in {steps} Heun steps")

# %%
# How many steps?
# ---------------
# Each step costs network evaluations, and so time; too few steps cut the curved parts of
# the learned path. The same starting points, as many as the held-out images, are
# integrated with Heun's method and with Euler's at twice the steps (one evaluation more
# than Heun's), and each set is scored against the held-out images: FID in units of
# the floor (the score of a second set of real images), precision and recall, and the
# classifier's rarest class.
import time

from mlcheatsheet.models import FlowSampler
from mlcheatsheet.plotting import plot_sampling_cost
from mlcheatsheet.training import fid_scorer, sample_images

scorer = fid_scorer(data, device=device)
draws = 3
# sphinx_gallery_start_ignore
draws = build_length("diffusion", device, draws=draws)
# sphinx_gallery_end_ignore
rng = torch.Generator().manual_seed(1)
starts = [torch.randn(scorer.num_reference, data.x_train[0].numel(), generator=rng).to(device) for _ in range(draws)]  # flattened noise
costs, rows, row_labels = {"heun": [], "euler": []}, [], []
print(f"{'sampler':<9} {'evaluations':>11} {'FID/floor':>9} {'precision':>9} {'recall':>6} {'rarest':>6} {'s / 1,000':>9}")
for n in [n for n in (1, 2, 5) if n < steps] + [steps]:  # up to the sampler's own steps
    for solver, count in (("heun", n), ("euler", 2 * n)):
        sampler = FlowSampler(network, count, solver)
        began = time.perf_counter()
        images = sample_images(sampler, starts[0])
        seconds = (time.perf_counter() - began) * 1000 / len(images)
        quality = scorer.score(images.cpu())
        costs[solver].append((sampler.evaluations, quality.ratio, seconds))
        rows.append(images[:10].cpu())
        row_labels.append(f"{solver} {count}")
        print(f"{row_labels[-1]:<9} {sampler.evaluations:>11} {quality.ratio:>8.2f}x {quality.precision:>9.2f} {quality.recall:>6.2f} "
              f"{100 * quality.min_class_share:>5.1f}% {seconds:>9.1f}")
        if (solver, count) == ("heun", steps):  # the sampler of the results below
            first_draw, sampling_seconds = images.cpu(), seconds
_ = plot_sampling_cost(costs, reference=1.0, reference_label="a second set of real images (the floor)")

# %%
# The same ten starting points under each sampler, one row each:
_ = show_image_rows(torch.stack(rows), row_labels=row_labels, title="The same ten starting points under each sampler")

# %%
# Results
# -------
# The Heun sampler of the trajectory above, on independent sets of starting points (the
# first set is the one above): the FID is their mean, with its 95% interval,
# which covers these draws from one trained network, not retraining it with another
# seed; precision and recall are means over the sets, beside what one set of real images
# scores against the other; coverage pools all the sets.
from mlcheatsheet.findings import coverage_finding
from mlcheatsheet.plotting import plot_class_coverage, show_images

sampler = FlowSampler(network, steps, "heun")
others = [sample_images(sampler, z).cpu() for z in starts[1:]]
quality = scorer.score_draws([first_draw, *others])
print(quality.summary())
print(coverage_finding(quality.class_shares, data.classes))
_ = show_images(first_draw[:64], ncols=16, size=0.6,
                title=f"Flow-matching samples, {steps} Heun steps (FID {quality.fid:.2f}, floor {quality.floor:.2f})")

# %%
# Which classes does the model draw? Evenly covered classes would each hold an equal share
# of the samples (10% with ten classes).
# (The last lines printed below come from the site's build, which records this run's
# headline number and exports the network for the in-browser demo of the
# :doc:`diffusion page </architectures/diffusion>`.)
_ = plot_class_coverage(quality.class_shares, data.classes)
# sphinx_gallery_start_ignore
from mlcheatsheet.site.export import DemoModel, export_demo
from mlcheatsheet.site.report import report_result

_ = export_demo("diffusion", "diffusion",
                {"velocity": DemoModel(network, {"x": torch.randn(4, *data.image_shape), "t": torch.rand(4)}, outputs=("velocity",))},
                title="Flow-matching diffusion model", data=data, device=device, extra={"steps": steps, "solver": "heun"})

_ = report_result(
    "diffusion", title="Diffusion (flow matching)", data=data, device=device, recipe=f"{config.recipe()}; noise levels {levels}",
    model=sampler,
    histories=[history], metric="FID (classifier features)", value=quality.fid, interval=quality.fid_interval,
    higher_is_better=False,
    extra={**quality.record(), "sampling steps": steps, "network evaluations": sampler.evaluations,
           "seconds per 1,000 samples": sampling_seconds},
)
# sphinx_gallery_end_ignore

# %%
# Where to go next
# ----------------
# Train with ``time_sampling="uniform"`` to see what the logit-normal levels buy, or with
# ``objective="ddpm"`` for the noise-predicting model of Ho et al., sampled by
# :func:`~mlcheatsheet.models.diffusion.ddim_sample`. The
# :ref:`DCGAN example <sphx_glr_auto_examples_plot_dcgan.py>` draws images in one network
# evaluation each and is scored by the same judge.

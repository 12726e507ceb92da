"""Which lever helps a GAN trained on a few thousand images: each one measured at equal steps and seeds.

``python -m benchmarks.gan_levers --model dcgan --steps 2500 --seeds 0 1 2 --levers plain diffaugment r1``
trains the gallery example's networks and recipe once per lever and seed, on the embedded
mnist-5k, with one torch thread, and prints one row per run (FID / floor, rarest class,
precision, recall, for SAGAN the share drawn as asked, seconds) and then each lever's mean
and its spread over the seeds (min–max), beside the plain recipe's. A lever is a change of
the example's :class:`~mlcheatsheet.training.GanConfig` (:data:`LEVERS`); everything else,
the data, the networks, the seeds, the number of steps, is the same for all. A lever may
also change a network's arguments (its ``"generator"`` or ``"discriminator"`` entry), e.g.
SAGAN's spectral normalisation, which the example's generator leaves out.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from functools import partial
from typing import Any

import torch

from mlcheatsheet.data import load_dataset
from mlcheatsheet.models import DCGANDiscriminator, DCGANGenerator, SAGANDiscriminator, SAGANGenerator
from mlcheatsheet.training import GanConfig, GanVariant, fid_scorer, fit_gan_variants

__all__ = ["LEVERS", "main"]

#: The changes measured, each a set of GanConfig fields over the example's recipe.
LEVERS: dict[str, dict[str, Any]] = {
    "plain": {},
    "diffaugment": {"augment": ("translation", "cutout")},
    "translation": {"augment": ("translation",)},
    "r1": {"r1_gamma": 1.0},
    "r1-small": {"r1_gamma": 0.1},
    "diffaugment+r1": {"augment": ("translation", "cutout"), "r1_gamma": 1.0},
    "ttur": {"lr_generator": 1e-3, "lr_discriminator": 4e-3},
    "batch-32": {"batch_size": 32},  # half the images per step: compare at twice the steps for equal images
    # SAGAN only: the paper's spectral normalisation of every generator weight and of the class embedding
    "sn-generator": {"generator": {"spectral_norm": True}},
    "sn-embedding": {"discriminator": {"embedding_spectral_norm": True}},
    "sn-both": {"generator": {"spectral_norm": True}, "discriminator": {"embedding_spectral_norm": True}},
}


def _variant(model: str, image_shape: tuple[int, int, int], lever: str) -> GanVariant:
    """The example's two networks and a lever's changes, of their arguments and of the recipe."""
    settings = dict(LEVERS[lever])
    g_changes, d_changes = settings.pop("generator", {}), settings.pop("discriminator", {})
    if model == "dcgan":  # the DCGAN example's networks
        g = {"latent_dim": 16, "base_channels": 32, "image_shape": image_shape}
        d = {"image_shape": image_shape, "base_channels": 32, "batch_norm": False, "spectral_norm": True}
        return GanVariant(partial(DCGANGenerator, **{**g, **g_changes}), partial(DCGANDiscriminator, **{**d, **d_changes}),
                          settings)
    # the SAGAN example's
    g = {"image_shape": image_shape, "latent_dim": 32, "num_classes": 10, "base_channels": 32, "spectral_norm": False}
    d = {"image_shape": image_shape, "num_classes": 10, "base_channels": 32, "embedding_spectral_norm": False}
    return GanVariant(partial(SAGANGenerator, **{**g, **g_changes}), partial(SAGANDiscriminator, **{**d, **d_changes}), settings)


def _recipe(model: str, steps: int) -> GanConfig:
    """The example's recipe at ``steps`` (gallery/plot_dcgan.py, gallery/plot_sagan.py)."""
    if model == "dcgan":
        return GanConfig(steps=steps, batch_size=64, loss="hinge", lr_generator=2e-3, lr_discriminator=2e-3,
                         betas=(0.0, 0.999), ema=0.999, eval_every=max(steps // 10, 25), log_every=max(1, steps // 60))
    return GanConfig(steps=steps, batch_size=64, loss="hinge", lr_generator=1e-3, lr_discriminator=4e-3,
                     betas=(0.0, 0.9), ema=0.999, eval_every=max(steps // 8, 10), log_every=max(1, steps // 60))


def run(model: str, lever: str, seed: int, steps: int) -> dict[str, float]:
    data = load_dataset("mnist-5k", verbose=False)
    scorer = fid_scorer(data, device="cpu")
    variants = {lever: _variant(model, data.image_shape, lever)}
    trained = fit_gan_variants(variants, data, _recipe(model, steps), scorer=scorer, device="cpu", seed=seed, draws=5)[lever]
    quality, history = trained.quality, trained.history
    return {"ratio": quality.ratio, "rarest": quality.min_class_share,
            "precision": quality.precision, "recall": quality.recall, "asked": quality.conditional_accuracy,
            "seconds": history.total_seconds, "best step": history.best_step}


def _row(name: str, numbers: dict[str, float]) -> str:
    return (f"{name:<26}{numbers['ratio']:>9.2f}{100 * numbers['rarest']:>9.1f}{numbers['precision']:>10.3f}"
            f"{numbers['recall']:>8.3f}{100 * numbers['asked']:>8.1f}{numbers['seconds']:>9.1f}")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=("dcgan", "sagan"), default="dcgan")
    parser.add_argument("--steps", type=int, default=2500)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--levers", nargs="+", choices=tuple(LEVERS), default=["plain", "diffaugment", "r1"])
    args = parser.parse_args(argv)
    torch.set_num_threads(1)  # one thread per run, as each build worker trains
    print(f"{args.model}, {args.steps:,} steps, seeds {args.seeds}; FID / floor and rarest class over 5 draws")
    print(f"{'lever, seed':<26}{'FID/floor':>9}{'rarest %':>9}{'precision':>10}{'recall':>8}{'asked %':>8}{'seconds':>9}")
    results: dict[str, list[dict[str, float]]] = {}
    for lever in args.levers:
        for seed in args.seeds:
            numbers = run(args.model, lever, seed, args.steps)
            results.setdefault(lever, []).append(numbers)
            print(_row(f"{lever}, seed {seed}", numbers), flush=True)
    print("mean over seeds (FID/floor min–max)")
    for lever, runs in results.items():
        mean = {key: statistics.fmean(r[key] for r in runs) for key in runs[0]}
        ratios = [r["ratio"] for r in runs]
        print(_row(lever, mean) + f"   [{min(ratios):.2f}–{max(ratios):.2f}]")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""Training: the engine every loop runs on, the objectives of each model family, adversarial training.

- :mod:`~mlcheatsheet.training.engine`: ``TrainConfig``, ``History``, the run harness and
  ``fit``, which trains any model on any per-batch loss.
- :mod:`~mlcheatsheet.training.objectives`: ``fit_classifier``, ``fit_autoencoder``,
  ``fit_vae``, ``fit_diffusion`` and their ``evaluate_*`` functions.
- :mod:`~mlcheatsheet.training.adversarial`: ``fit_gan`` and the two updates it alternates,
  ``discriminator_step`` and ``generator_step``.
- :mod:`~mlcheatsheet.training.variants`: ``fit_gan_variants`` and ``fit_gan_seeds``, GAN variants trained on
  equal terms, from one seed or several, and compared paired by seed.
- :mod:`~mlcheatsheet.training.scorer`: ``fid_scorer``, the classifier behind FID.

The names below are re-exported here, where the gallery imports them from. Device, precision
and thread policy live in :mod:`mlcheatsheet.runtime`, new heads and frozen backbones in
:mod:`mlcheatsheet.transfer`, measurements in :mod:`mlcheatsheet.metrics`: import them there.
"""

from .adversarial import GanCollapseWarning, GanConfig, GanHistory, GanLoop, detect_collapse, fit_gan, sample_class_grid, sample_images, score_generator
from .engine import (
    History,
    TrainConfig,
    TrainingDivergedError,
    count_parameters,
    fit,
    make_optimizer,
    predict,
    training_steps_taken,
)
from .objectives import classified_correctly, evaluate_autoencoder, evaluate_classifier, evaluate_diffusion, evaluate_vae, fit_autoencoder, fit_classifier, fit_diffusion, fit_vae, negative_elbo_per_image, reconstruction_errors
from .scorer import fid_scorer
from .variants import (
    GanRun,
    GanVariant,
    collapse_line,
    compare_to_baseline,
    fit_gan_seeds,
    fit_gan_variants,
)

__all__ = [
    "GanCollapseWarning",
    "GanConfig",
    "GanHistory",
    "GanLoop",
    "GanRun",
    "GanVariant",
    "History",
    "TrainConfig",
    "TrainingDivergedError",
    "classified_correctly",
    "collapse_line",
    "compare_to_baseline",
    "count_parameters",
    "detect_collapse",
    "evaluate_autoencoder",
    "evaluate_classifier",
    "evaluate_diffusion",
    "evaluate_vae",
    "fid_scorer",
    "fit",
    "fit_autoencoder",
    "fit_classifier",
    "fit_diffusion",
    "fit_gan",
    "fit_gan_seeds",
    "fit_gan_variants",
    "fit_vae",
    "make_optimizer",
    "negative_elbo_per_image",
    "predict",
    "reconstruction_errors",
    "sample_class_grid",
    "sample_images",
    "score_generator",
    "training_steps_taken",
]

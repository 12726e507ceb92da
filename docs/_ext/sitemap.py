"""The site's map: the architecture pages in reading order, and which gallery examples belong to which.

No Sphinx here: :mod:`examplecache` orders its runs with it too.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["ARCHITECTURES", "FAMILIES", "GALLERY_ORDER", "RUN_FIRST", "SHORT_NAMES", "architecture_of", "architecture_page_exists", "example_label",
           "example_rank", "examples_of"]

#: The architecture pages, ``architectures/<key>.rst``, each with its example ``plot_<key>.py``,
#: in the order a reader learns them (the landing page's cards and table are written in
#: ``index.rst``, in this order).
ARCHITECTURES: tuple[str, ...] = ("mlp", "cnn", "resnet", "rnn", "autoencoder", "vae", "gan", "dcgan", "diffusion")

#: How a table names each architecture page in a few letters.
SHORT_NAMES: dict[str, str] = {"mlp": "MLP", "cnn": "CNN", "resnet": "ResNet", "rnn": "RNN", "autoencoder": "Autoencoder",
                               "vae": "VAE", "gan": "GAN", "dcgan": "DCGAN", "diffusion": "Diffusion"}


# The gallery and the results table follow the reading order of the architectures, each
# GAN variant after the DCGAN it builds on; a script not listed here comes last.
GALLERY_ORDER: tuple[str, ...] = (
    *ARCHITECTURES[:-1], "wgan_gp", "conditional_dcgan", "sagan", "gan_techniques", ARCHITECTURES[-1],
)


# Run before the others when the cache records no time for them (a fresh clone): the
# ablation trains every variant from several seeds, several times any other example, and
# the diffusion model pays for its samples in network evaluations; started last, either
# would run alone at the end of the build.
RUN_FIRST: tuple[str, ...] = ("gan_techniques", "diffusion")


# Examples that belong to another architecture's page: the GAN variants extend the DCGAN's.
_EXAMPLE_PAGES = {"wgan_gp": "dcgan", "conditional_dcgan": "dcgan", "sagan": "dcgan", "gan_techniques": "dcgan"}

# The gallery index groups its examples by family, each family a run of architectures.
FAMILIES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Classifiers", ("mlp", "cnn", "resnet", "rnn")),
    ("Autoencoders", ("autoencoder", "vae")),
    ("Generative adversarial networks", ("gan", "dcgan")),
    ("Diffusion models", ("diffusion",)),
)


def architecture_of(example: str) -> str | None:
    """The key of the architecture page that example ``"wgan_gp"`` (or ``"plot_wgan_gp"``) belongs to."""
    key = Path(example).stem.removeprefix("plot_")
    key = _EXAMPLE_PAGES.get(key, key)
    return key if key in ARCHITECTURES else None


def examples_of(architecture: str) -> list[str]:
    """The examples of one architecture page, in gallery order, e.g. ``["dcgan", "wgan_gp", ...]``."""
    return [e for e in GALLERY_ORDER if architecture_of(e) == architecture]


def example_rank(example: str) -> tuple[int, str]:
    """Sort key of an example name such as ``"cnn"``, ``"plot_cnn"`` or ``"plot_cnn.py"``."""
    key = Path(example).stem.removeprefix("plot_")
    return (GALLERY_ORDER.index(key) if key in GALLERY_ORDER else len(GALLERY_ORDER), key)


def example_label(gallery: str, example: str) -> str:
    """sphinx-gallery's reference label of an example page, e.g. ``sphx_glr_auto_examples_plot_mlp.py``."""
    return f"sphx_glr_{gallery}_plot_{example}.py".replace("/", "_").lower()


def architecture_page_exists(srcdir: str | Path, key: str) -> bool:
    """Whether the page ``architectures/<key>.rst`` exists in the sources."""
    return (Path(srcdir) / "architectures" / f"{key}.rst").exists()

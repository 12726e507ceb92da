"""The comparison of every generative model of a build: who is in it, and when it names a leader."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "docs" / "_ext"))

from families import entries, leader_sentence, seed_spread  # noqa: E402

from mlcheatsheet.site.report import Result  # noqa: E402


def _result(example: str, title: str, seconds: float, **extra: float) -> Result:
    return Result(example=example, title=title, dataset="mnist-5k", source="", device="cpu", parameters=1, train_seconds=seconds,
                  steps=1, metric="FID", value=extra.get("FID", 0.0), extra=extra)


def _scores(ratio: float, *, low: float, high: float, share: float = 0.08) -> dict[str, float]:
    return {"FID": ratio, "floor": 1.0, "ratio": ratio, "FID low": low, "FID high": high, "min class share": share,
            "precision": 0.7, "recall": 0.8}


def _build(diffusion: float, dcgan: float, seeds: tuple[float, float, float]) -> list[Result]:
    vae = _result("vae", "Convolutional VAE (16-D code)", 110.0, reconstruction=70.0,
                  **{f"prior samples {k}": v for k, v in _scores(40.0, low=39.0, high=41.0).items()})
    ablation = _result("gan_techniques", "GAN techniques (ablation)", 700.0, seeds=3, **{"steps per variant": 2500.0},
                       **{f"DCGAN: seed {k} ratio": r for k, r in enumerate(seeds)}, **{"DCGAN: FID": 9.0, "DCGAN: floor": 1.0})
    return [
        _result("mlp", "MLP", 10.0, accuracy=0.97),  # not generative
        vae,
        _result("dcgan", "DCGAN", 110.0, **_scores(dcgan, low=dcgan - 0.3, high=dcgan + 0.3)),
        _result("conditional_dcgan", "Conditional DCGAN", 40.0, **{**_scores(2.0, low=1.9, high=2.1), "conditional accuracy": 0.97}),
        ablation,
        _result("diffusion", "Diffusion (flow matching)", 350.0, **_scores(diffusion, low=diffusion - 0.3, high=diffusion + 0.3),
                **{"network evaluations": 19.0}),
    ]


def test_the_comparison_holds_the_generative_models_and_reads_the_vae_prior_samples() -> None:
    found = {e.name: e for e in entries(_build(6.0, 7.5, (8.0, 9.0, 10.0)))}
    assert sorted(found) == ["Conditional DCGAN", "Convolutional VAE, prior samples", "DCGAN", "Diffusion"]  # no classifier, no ablation
    assert found["Convolutional VAE, prior samples"].ratio == 40.0 and found["Convolutional VAE, prior samples"].family == "VAE"
    assert found["Conditional DCGAN"].conditional and not found["DCGAN"].conditional
    assert found["Diffusion"].evaluations == 19 and found["DCGAN"].evaluations == 1


def test_a_leader_is_named_only_beyond_the_spread_between_training_seeds() -> None:
    close = _build(6.0, 7.5, (8.0, 9.0, 10.0))  # a factor of 1.25 between the two; 1.25 between the seeds
    sentence = leader_sentence(entries(close), seed_spread(close))
    assert "the unconditional model with the lowest FID / floor is Diffusion (6.00×, 350 s of training)" in sentence
    assert "then DCGAN (7.50×, 110 s)" in sentence and "this build does not rank the two" in sentence
    assert "Conditional" not in sentence  # asked for every class: left out of the ranking

    apart = _build(4.0, 7.5, (8.0, 9.0, 10.0))  # a factor of 1.88, intervals apart
    sentence = leader_sentence(entries(apart), seed_spread(apart))
    assert "Diffusion is ahead of DCGAN here" in sentence and "wider than the factor of 1.25" in sentence

    overlapping = _build(4.0, 4.2, (8.0, 8.1, 8.2))  # beyond the seeds' tiny spread, but the draws overlap
    assert "the draw intervals overlap" in leader_sentence(entries(overlapping), seed_spread(overlapping))

    assert "ranks neither" in leader_sentence(entries(apart), None)  # no seeds measured: no winner

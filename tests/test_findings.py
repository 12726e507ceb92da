"""Findings: intervals and paired tests checked against hand computations, and wording that follows the numbers."""

from __future__ import annotations

import math

import pytest
import torch

from mlcheatsheet.findings import (Claim, Finding, Interval, accuracy_interval, compare_classifiers, conditional_coverage_finding,
                                   mean_interval)


def correct(n_right: int, n: int = 1000) -> torch.Tensor:
    return torch.arange(n) < n_right


def test_wilson_interval_matches_the_formula() -> None:
    k, n, z = 974, 1000, 1.959963984540054
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    interval = accuracy_interval(correct(k))
    assert interval.value == p and interval.n == n and interval.method == "Wilson"
    assert interval.low == pytest.approx(centre - half, abs=1e-9) and interval.high == pytest.approx(centre + half, abs=1e-9)
    assert 0.004 < (interval.high - interval.low) / 4 < 0.006  # about 0.5 points of standard error near 97%


def test_mcnemar_uses_only_the_discordant_images() -> None:
    first = correct(980)
    second = first.clone()
    second[:12] = False  # 12 images only the first gets right ...
    second[980:983] = True  # ... and 3 only the second
    comparison = compare_classifiers("A", first, "B", second)
    assert (comparison.only_first, comparison.only_second) == (12, 3)
    expected = 2 * sum(math.comb(15, i) for i in range(0, 4)) / 2**15  # two-sided exact binomial, p = 1/2
    assert comparison.p_value == pytest.approx(expected)
    assert comparison.p_value < 0.05 and comparison.winner == "A"
    assert "A is ahead of B by 0.9 points, significant at 5%" in comparison.sentence()


def test_a_difference_inside_the_noise_names_no_winner_whichever_way_it_goes() -> None:
    first = correct(975)
    second = correct(980)  # 5 more right, all discordant in one direction: p = 0.0625
    comparison = compare_classifiers("LSTM", first, "GRU", second)
    assert comparison.winner is None and comparison.p_value == pytest.approx(2 / 2**5)
    assert comparison.sentence().endswith("the 0.5-point difference is within the noise of 1,000 test images.")
    assert compare_classifiers("X", first, "Y", first).p_value == 1.0  # identical predictions
    with pytest.raises(ValueError, match="measured on 10 images and Y on 20: a paired test needs the same images"):
        compare_classifiers("X", correct(5, 10), "Y", correct(5, 20))


def test_mean_interval_is_a_t_interval() -> None:
    values = torch.tensor([1.0, 2.0, 3.0, 4.0])
    interval = mean_interval(values)
    half = 3.182446305284263 * values.std().item() / 2  # t(0.975, 3) * s / sqrt(4)
    assert interval.value == 2.5 and interval.low == pytest.approx(2.5 - half) and interval.high == pytest.approx(2.5 + half)


def test_interval_format_keeps_two_significant_digits_of_its_width() -> None:
    assert Interval(0.974, 0.963, 0.982, "Wilson", 1000).format("%") == "97.4% [96.3, 98.2]"
    assert Interval(104.48, 103.91, 105.07, "t", 1000).format("nats") == "104.5 nats [103.9, 105.1]"
    assert Interval(0.0090, 0.0085, 0.0095, "t", 1000).format() == "0.00900 [0.00850, 0.00950]"


def test_a_claim_says_whether_the_run_supports_it() -> None:
    assert "NOT supported by this run" in str(Claim("architectures/rnn", "gates help", False, "LSTM 97% vs RNN 96%"))
    assert str(Claim("p", "s", True, "e")) == "Claim of p (s): supported by this run. e"


def test_fid_comparison_names_a_winner_only_beyond_the_noise_of_the_draws() -> None:
    from mlcheatsheet.findings import compare_fids

    apart = compare_fids("a", [7.1, 7.5, 7.3, 7.0], "b", [6.1, 6.5, 6.3, 6.4])
    assert apart.winner == "b" and apart.p_value < 0.01
    assert apart.difference.low > 0 and apart.difference.value == pytest.approx(0.9)
    assert "b is better than a in this run, beyond the noise of the draws" in apart.sentence()
    close = compare_fids("a", [7.1, 7.5, 7.3, 7.0], "b", [7.0, 7.5, 7.3, 7.2])
    assert close.winner is None and "within the noise of the draws" in close.sentence()
    with pytest.raises(ValueError, match="at least two values of each, got 1 and 4"):
        compare_fids("a", [7.0], "b", [6.1, 6.5, 6.3, 6.4])


def test_a_neutral_measurement_says_which_is_lower_never_which_is_better() -> None:
    from mlcheatsheet.findings import compare_independent

    result = compare_independent("x", torch.tensor([5.0, 5.2, 4.9, 5.1]), "y", torch.tensor([1.0, 1.1, 0.9, 1.2]),
                                 what="power", lower_is_better=None, unit="images")
    assert result.winner is None and result.lower == "y"
    assert "y is lower than x in this run" in result.sentence() and "better" not in result.sentence()


def test_a_share_has_the_wilson_interval_of_its_count() -> None:
    from mlcheatsheet.findings import share_interval

    assert share_interval(30, 1000) == accuracy_interval(torch.arange(1000) < 30)
    with pytest.raises(ValueError, match="count=5, n=4"):
        share_interval(5, 4)


def test_an_ablation_record_lists_its_variants_and_a_plain_record_none() -> None:
    from mlcheatsheet.site.report import Result

    fields = {"example": "x", "title": "X", "dataset": "d", "source": "s", "device": "cpu", "parameters": 1,
              "train_seconds": 1.0, "steps": 1, "metric": "FID", "value": 2.0}
    ablation = Result(**fields, extra={"FID": 2.0, "plain: FID": 2.0, "plain: seconds": 3.0, "smoothed: FID": 2.5})
    assert ablation.variants() == {"plain": {"FID": 2.0, "seconds": 3.0}, "smoothed": {"FID": 2.5}}
    assert Result(**fields, extra={"FID": 2.0, "floor": 0.8}).variants() == {}


def test_a_finding_says_what_its_noise_covers() -> None:
    comparison = compare_classifiers("a", torch.tensor([True] * 60 + [False] * 40), "b", torch.tensor([True] * 55 + [False] * 45))
    finding = Finding("gates", comparison.sentence(), "the 100 test images; each model trained once")
    assert str(finding).startswith(comparison.sentence()) and "Noise covered: the 100 test images; each model trained once." in str(finding)
    assert finding.record() == {"name": "gates", "sentence": comparison.sentence(), "covers": "the 100 test images; each model trained once"}


def test_conditional_coverage_compares_the_shares_with_the_requests() -> None:
    """Uniform requests: the line names the lowest and highest share and the share drawn as asked."""
    shares = [0.15, 0.063, 0.076, 0.179, 0.046, 0.053, 0.1, 0.1, 0.12, 0.113]
    sentence = conditional_coverage_finding(shares, [str(k) for k in range(10)], accuracy_interval([True] * 681 + [False] * 319))
    assert "each class was asked for in 10.0% of the samples" in sentence
    assert "4.6% (4) to 17.9% (3)" in sentence and "68.1%" in sentence


def test_seeds_are_compared_paired_and_a_winner_needs_to_hold_across_them() -> None:
    from mlcheatsheet.findings import compare_means

    plain = [10.0, 14.0, 9.0]  # a wide spread between seeds ...
    steady = compare_means("B", [8.0, 12.1, 7.0], "A", plain, what="FID / floor", unit="training seeds")
    # ... but B is lower by about 2 on every seed: paired, that is beyond the spread
    assert steady.winner == "B" and steady.difference.n == 3
    assert "on the same 3 training seeds" in steady.sentence() and steady.sentence().endswith("B is better, significant at 5%.")
    mixed = compare_means("C", [6.0, 15.0, 9.5], "A", plain, what="FID / floor", unit="training seeds")
    assert mixed.winner is None  # lower on average, but not on every seed
    assert mixed.sentence().endswith("the difference is within the noise of 3 training seeds.")
    with pytest.raises(ValueError, match="measured on 2 training seeds and A on 3: a paired test needs the same training seeds"):
        compare_means("D", [1.0, 2.0], "A", plain, what="FID / floor", unit="training seeds")
    with pytest.raises(ValueError, match="needs at least two training seeds, got 1"):
        compare_means("D", [1.0], "A", [2.0], what="FID / floor", unit="training seeds")

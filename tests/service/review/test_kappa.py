"""Cohen's kappa against hand-computed values, and its degenerate cases."""

from __future__ import annotations

import pytest

from dvt_us.service.review.kappa import cohen_kappa


def _pairs(table: dict[tuple[str, str], int]) -> list[tuple[str, str]]:
    return [pair for pair, count in table.items() for _ in range(count)]


def test_two_by_two() -> None:
    # 50 items: A yes/B yes 20, yes/no 5, no/yes 10, no/no 15.
    # p_o = 35/50 = 0.7; p_e = (25/50)(30/50) + (25/50)(20/50) = 0.3 + 0.2 = 0.5; kappa = 0.2/0.5 = 0.4
    k = cohen_kappa(_pairs({("yes", "yes"): 20, ("yes", "no"): 5, ("no", "yes"): 10, ("no", "no"): 15}),
                    ["yes", "no"])
    assert k.confusion == ((20, 5), (10, 15))
    assert k.n == 50
    assert k.observed_agreement == pytest.approx(0.7)
    assert k.expected_agreement == pytest.approx(0.5)
    assert k.kappa == pytest.approx(0.4)


def test_three_categories() -> None:
    # rows A, columns B over (none, non-occlusive, occlusive): [[10, 2, 0], [1, 5, 2], [0, 1, 9]], n = 30
    # p_o = 24/30 = 0.8; row sums 12, 8, 10; column sums 11, 8, 11
    # p_e = (12*11 + 8*8 + 10*11) / 900 = 306/900 = 0.34; kappa = (0.8 - 0.34) / 0.66 = 0.69697
    cats = ["none", "non-occlusive", "occlusive"]
    matrix = [[10, 2, 0], [1, 5, 2], [0, 1, 9]]
    k = cohen_kappa(_pairs({(cats[i], cats[j]): matrix[i][j] for i in range(3) for j in range(3)}), cats)
    assert k.confusion == tuple(tuple(r) for r in matrix)
    assert k.expected_agreement == pytest.approx(0.34)
    assert k.kappa == pytest.approx(0.46 / 0.66)


def test_perfect_and_chance_level_agreement() -> None:
    assert cohen_kappa([("a", "a"), ("b", "b"), ("a", "a")]).kappa == pytest.approx(1.0)
    # A always says x; B says x half the time: p_o = 0.5 = p_e, kappa 0 (defined: B used two categories)
    k = cohen_kappa([("x", "x"), ("x", "y"), ("x", "x"), ("x", "y")])
    assert k.kappa == pytest.approx(0.0) and k.note is None
    assert cohen_kappa([("a", "b"), ("b", "a")]).kappa == pytest.approx(-1.0)


def test_degenerate_cases_say_why_kappa_is_undefined() -> None:
    one = cohen_kappa([("none", "none")] * 7, ["none", "occlusive"])
    assert one.kappa is None and one.observed_agreement == 1.0 and one.expected_agreement == pytest.approx(1.0)
    assert one.note is not None and "one category only (none)" in one.note
    assert one.confusion == ((7, 0), (0, 0))
    empty = cohen_kappa([])
    assert empty.kappa is None and empty.n == 0 and empty.note == "no paired ratings"


def test_unlisted_categories_are_appended_in_order() -> None:
    k = cohen_kappa([("b", "c"), ("a", "a")], ["a"])
    assert k.categories == ("a", "b", "c")

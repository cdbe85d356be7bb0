"""Cohen's kappa with its confusion matrix, and the degenerate cases said out loud (pure)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Kappa:
    """Agreement of two raters over ``n`` paired categorical ratings.

    ``confusion[i][j]`` counts items rater A put in ``categories[i]`` and rater B in ``categories[j]``.
    ``kappa`` is ``None`` when it is undefined, and ``note`` says why: no pairs, or a single category used by
    both raters (agreement is then perfect by construction and chance agreement is 1).
    """

    categories: tuple[str, ...]
    confusion: tuple[tuple[int, ...], ...]
    n: int
    observed_agreement: float | None
    expected_agreement: float | None
    kappa: float | None
    note: str | None = None


def cohen_kappa(pairs: Sequence[tuple[str, str]], categories: Sequence[str] = ()) -> Kappa:
    """Cohen's kappa, ``(p_o - p_e) / (1 - p_e)``, of (rater A, rater B) pairs.

    ``categories`` fixes the matrix's rows and columns (and their order); categories found in ``pairs`` but
    not listed are appended in sorted order.
    """
    seen = {c for pair in pairs for c in pair}
    cats = tuple(categories) + tuple(sorted(seen - set(categories)))
    index = {c: i for i, c in enumerate(cats)}
    matrix = [[0] * len(cats) for _ in cats]
    for a, b in pairs:
        matrix[index[a]][index[b]] += 1
    confusion = tuple(tuple(row) for row in matrix)
    n = len(pairs)
    if n == 0:
        return Kappa(cats, confusion, 0, None, None, None, "no paired ratings")
    observed = sum(matrix[i][i] for i in range(len(cats))) / n
    rows = [sum(row) / n for row in matrix]
    cols = [sum(matrix[i][j] for i in range(len(cats))) / n for j in range(len(cats))]
    expected = sum(r * c for r, c in zip(rows, cols, strict=True))
    if expected >= 1.0 - 1e-12:
        only = ", ".join(sorted(seen))
        return Kappa(cats, confusion, n, observed, expected, None,
                     f"one category only ({only}) for both raters: agreement is perfect, kappa is undefined")
    return Kappa(cats, confusion, n, observed, expected, (observed - expected) / (1.0 - expected))

"""The council dashboard's rating table and its spreadsheet: order, labels, German Excel CSV."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from flask_babel import format_decimal, gettext

from kldialog.priorities.models import Indicator


def is_rated(row: Mapping[str, Any]) -> bool:
    """Return whether any indicator of the row has enough ratings (shown, or too uniform)."""
    return any(
        summary.estimate is not None or summary.too_uniform for summary in row["ratings"].values()
    )


def _rated_key(row: Mapping[str, Any]) -> tuple[int, float, str]:
    """Sort key: most ratings first, then the higher benefit mean, then the title."""
    estimates = [s.estimate for s in row["ratings"].values() if s.estimate is not None]
    benefit = row["ratings"][Indicator.benefit].estimate
    return (
        -max((e.n for e in estimates), default=0),
        -(benefit.mean if benefit is not None else 0.0),
        row["project"].title,
    )


def order_rating_rows(
    rows: Sequence[Mapping[str, Any]],
) -> tuple[list[Mapping[str, Any]], list[Mapping[str, Any]]]:
    """Split rows into the rated ones (most ratings first) and the rest (in their order)."""
    rated = sorted((row for row in rows if is_rated(row)), key=_rated_key)
    rest = [row for row in rows if not is_rated(row)]
    return rated, rest


def ratings_csv_rows(
    rows: Sequence[Mapping[str, Any]],
    labels: Mapping[Indicator, Any],
    min_group: int,
    number: Callable[[float], str] | None = None,
) -> list[list[Any]]:
    """Return the rating spreadsheet in the reader's language: rated projects first.

    Numbers are text in the reader's locale (German: decimal comma), so German Excel reads
    them as numbers; below the minimum group size neither n nor mean is written, nor when the
    mean would pin more than n − k raters to one value (kernel.disclosure.mean_allowed).
    """
    fmt = number or (lambda value: format_decimal(value, "0.000"))
    header: list[Any] = [gettext("Project"), gettext("Category")]
    for indicator in Indicator:
        name = str(labels[indicator])
        header += [
            gettext("%(indicator)s: ratings", indicator=name),
            gettext("%(indicator)s: mean (1–5)", indicator=name),
            gettext("%(indicator)s: lower bound (95 %%)", indicator=name),
            gettext("%(indicator)s: upper bound (95 %%)", indicator=name),
        ]
    out: list[list[Any]] = [header]
    rated, rest = order_rating_rows(rows)
    hidden = gettext("fewer than %(k)d", k=min_group)
    uniform = gettext("too uniform to show")
    for row in [*rated, *rest]:
        line: list[Any] = [row["project"].title, row["project"].category.name]
        for indicator in Indicator:
            summary = row["ratings"][indicator]
            estimate = summary.estimate
            if estimate is None:  # neither n nor mean, only why it is hidden
                line += [uniform if summary.too_uniform else hidden, "", "", ""]
            else:
                line += [estimate.n, fmt(estimate.mean), fmt(estimate.low), fmt(estimate.high)]
        out.append(line)
    return out

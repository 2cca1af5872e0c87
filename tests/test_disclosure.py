"""The one disclosure rule: suppression, derived figures, and releases in steps of k."""

from __future__ import annotations

from flask import Flask

from kldialog.kernel import disclosure
from kldialog.kernel.db import db


def test_hidden_cells_never_leave_a_recoverable_group() -> None:
    assert disclosure.hidden_cells([10, 12, 8], 5) == [False, False, False]
    assert disclosure.hidden_cells([10, 3, 8], 5) == [False, True, True]
    # Two hidden cells summing to 2 would both be 1: a third is hidden until the sum reaches k.
    assert disclosure.hidden_cells([1, 1, 40], 5) == [True, True, True]
    assert disclosure.hidden_cells([10, 0, 8], 5) == [False, False, False]


def test_a_mean_is_never_shown_beside_a_hidden_cell() -> None:
    # n = 5 with every bar hidden: "mean 3 (1.6-4.4)" would pin down the distribution.
    assert not disclosure.derived_figures_allowed([1, 1, 1, 1, 1], 5)
    assert not disclosure.derived_figures_allowed([0, 0, 2, 3, 0], 5)
    assert disclosure.derived_figures_allowed([0, 0, 5, 5, 0], 5)
    assert not disclosure.derived_figures_allowed([0, 0, 0, 4, 0], 5)


def test_count_allowed() -> None:
    assert disclosure.count_allowed(0, 5)
    assert not disclosure.count_allowed(4, 5)
    assert disclosure.count_allowed(5, 5)


def test_releases_move_only_after_k_contributions(app: Flask) -> None:
    data = {"n": 0}

    def compute() -> tuple[int, dict[str, int]]:
        return data["n"], {"n": data["n"]}

    with app.app_context():
        for _ in range(4):
            data["n"] += 1
            release = disclosure.contribute("t:1", 5, compute)
        assert release.payload is None  # 4 people: nothing published yet
        data["n"] += 1
        release = disclosure.contribute("t:1", 5, compute)
        assert release.payload == {"n": 5}
        db.session.commit()
        # One more person must not move the published figure (differencing would show them).
        data["n"] += 1
        disclosure.contribute("t:1", 5, compute)
        db.session.commit()
        assert disclosure.release_of("t:1").payload == {"n": 5}
        for _ in range(4):
            data["n"] += 1
            disclosure.contribute("t:1", 5, compute)
        db.session.commit()
        assert disclosure.release_of("t:1").payload == {"n": 10}
        assert disclosure.release_of("t:1").pending == 0

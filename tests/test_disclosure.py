"""The one disclosure rule: suppression, derived figures, and releases in steps of k."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

from flask import Flask
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from kldialog.kernel import disclosure
from kldialog.kernel.db import db
from kldialog.kernel.stats import mean_interval


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
            release = disclosure.contribute("t:1", 5, compute, lag=False)
        assert release.payload is None  # 4 people: nothing published yet
        data["n"] += 1
        release = disclosure.contribute("t:1", 5, compute, lag=False)
        assert release.payload == {"n": 5}
        db.session.commit()
        # One more person must not move the published figure (differencing would show them).
        data["n"] += 1
        disclosure.contribute("t:1", 5, compute, lag=False)
        db.session.commit()
        assert disclosure.release_of("t:1").payload == {"n": 5}
        for _ in range(4):
            data["n"] += 1
            disclosure.contribute("t:1", 5, compute, lag=False)
        db.session.commit()
        assert disclosure.release_of("t:1").payload == {"n": 10}
        assert disclosure.release_of("t:1").pending == 0


def test_a_lagging_release_publishes_the_snapshot_one_step_later(app: Flask) -> None:
    data = {"n": 0}

    def compute() -> tuple[int, dict[str, int]]:
        return data["n"], {"n": data["n"]}

    with app.app_context():
        published = []
        for person in range(1, 23):
            data["n"] += 1
            release = disclosure.contribute("t:lag", 5, compute, contributor=person)
            published.append(release.n)
        # The snapshot of 5 appears at 10, of 10 at 15, …: never what the data says right now.
        assert published[8:11] == [None, 5, 5] and published[14] == 10 and published[21] == 15
        assert release.staged_n == 20 and release.pending == 2
        assert data["n"] - release.n >= 5


def test_one_person_changing_k_times_is_one_contributor(app: Flask) -> None:
    data = {"n": 7}

    def compute() -> tuple[int, dict[str, int]]:
        return data["n"], {"n": data["n"]}

    with app.app_context():
        for _ in range(5):  # the same account toggles its rating five times
            release = disclosure.contribute("t:same", 5, compute, contributor=42, lag=False)
        assert release.payload is None and release.pending == 1
        for person in range(4):
            release = disclosure.contribute("t:same", 5, compute, contributor=person, lag=False)
        assert release.payload == {"n": 7} and release.contributors is None
        # Digests are keyed per aggregate: the same person elsewhere gets another tag.
        assert disclosure.contributor_tag("a", 42) != disclosure.contributor_tag("b", 42)


# --- a mean shown without its distribution ------------------------------------------------------


def distributions(n: int) -> Iterator[dict[int, int]]:
    """Yield every distribution of n ratings over 1..5."""
    for head in itertools.product(range(n + 1), repeat=4):
        if sum(head) <= n:
            yield dict(zip(range(1, 6), (*head, n - sum(head)), strict=True))


def consistent(counts: dict[int, int]) -> list[dict[int, int]]:
    """Return every distribution with the same n, mean and interval as shown (three decimals)."""
    n = sum(counts.values())

    def shown(c: dict[int, int]) -> tuple[str, str, str]:
        estimate = mean_interval(c)
        return f"{estimate.mean:.3f}", f"{estimate.low:.3f}", f"{estimate.high:.3f}"

    target = shown(counts)
    return [c for c in distributions(n) if shown(c) == target]


def test_pinned_counts_are_exact_against_enumeration() -> None:
    for counts in [{5: 5}, {5: 4, 4: 1}, {1: 2, 3: 3, 5: 2}, {2: 1, 3: 3, 4: 4, 5: 2}]:
        n = sum(counts.values())
        s = sum(v * c for v, c in counts.items())
        q = sum(v * v * c for v, c in counts.items())
        same = [
            c
            for c in distributions(n)
            if sum(v * x for v, x in c.items()) == s and sum(v * v * x for v, x in c.items()) == q
        ]
        assert disclosure.pinned_counts(counts) == {v: min(c[v] for c in same) for v in range(1, 6)}
        fixed = {v: same[0][v] for v in range(1, 6) if len({c[v] for c in same}) == 1}
        assert disclosure.determined_counts(counts) == fixed


def test_a_mean_of_five_from_five_raters_is_not_shown() -> None:
    assert disclosure.pinned_counts({5: 5})[5] == 5
    assert not disclosure.mean_allowed({5: 5}, 5)
    assert not disclosure.mean_allowed({5: 4, 4: 1}, 5)  # 4.8 with n = 5: {5, 5, 5, 5, 4}
    assert not disclosure.mean_allowed({3: 10}, 5)  # 3.0 (3.0–3.0): all ten gave 3
    assert not disclosure.mean_allowed({5: 8, 4: 2}, 5)  # 4.8 with n = 10 pins eight to 5
    assert disclosure.mean_allowed({4: 5, 5: 5}, 5)  # 4.5: five and five, each group k
    assert disclosure.mean_allowed({2: 1, 3: 3, 4: 4, 5: 2}, 5)


def test_a_mean_that_solves_a_hidden_bar_is_not_shown() -> None:
    # 4.4 (with its interval) from ten raters has one distribution: five 5s, four 4s, one 3 —
    # the lone 3 is a bar below k that would be suppressed, so the mean is not shown either.
    assert disclosure.determined_counts({5: 5, 4: 4, 3: 1}) == {1: 0, 2: 0, 3: 1, 4: 4, 5: 5}
    assert not disclosure.mean_allowed({5: 5, 4: 4, 3: 1}, 5)
    assert disclosure.mean_allowed({5: 6, 4: 9}, 5)  # 4.4 from 15: both groups at least k


ratings = st.dictionaries(st.integers(1, 5), st.integers(0, 9), min_size=1).filter(
    lambda c: 5 <= sum(c.values()) <= 16
)


@settings(max_examples=60, deadline=None)
@given(ratings)
def test_every_published_mean_leaves_k_raters_unpinned(counts: dict[int, int]) -> None:
    n = sum(counts.values())
    k = 5
    assume(disclosure.mean_allowed(counts, k))
    others = consistent(counts)
    for value in range(1, 6):
        # Whatever the reader deduces from n, mean and interval, at least k may differ.
        assert min(c[value] for c in others) <= n - k, value
        # And no bar below k that would be hidden is solved by the mean and its interval.
        known = {c[value] for c in others}
        assert not (len(known) == 1 and 0 < known.pop() < k), value
    total = sum(v * c for v, c in counts.items())  # n · mean, exactly (no float rounding)
    assert total - 4 * n <= n - k  # the mean alone: forced to 5 at most n − k
    assert 2 * n - total <= n - k  # and to 1


def test_a_deleted_account_leaves_no_digest_but_still_counts_once(app: Flask) -> None:
    def compute() -> tuple[int, dict[str, int]]:
        return 9, {"n": 9}

    with app.app_context():
        disclosure.contribute("t:gone", 5, compute, contributor=42, lag=False)
        tag = disclosure.contributor_tag("t:gone", 42)
        assert disclosure.release_of("t:gone").contributors == [tag]
        # Their account is deleted in the same step: one person still, and no digest left.
        release = disclosure.contribute("t:gone", 5, compute, contributor=42, remember=False)
        assert (release.pending, release.contributors) == (1, None)
        release = disclosure.contribute("t:gone", 5, compute, contributor=43, remember=False)
        assert (release.pending, release.contributors) == (2, None)

"""The generic double entry of paper forms (kernel.double_entry), apart from any feature."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask

from kldialog.auth.models import Role
from kldialog.kernel import double_entry
from kldialog.kernel.db import db
from kldialog.kernel.double_entry import BatchState
from kldialog.kernel.errors import RuleViolation

SHEETS = [{"a": 1, "b": {"x": [1, 2]}}, {"a": 2}, {"a": 3}]


def test_entries_agree_on_content_not_on_key_order() -> None:
    assert double_entry.compare(SHEETS, [{"b": {"x": [1, 2]}, "a": 1}, {"a": 2}, {"a": 3}]) == []
    [found] = double_entry.compare(SHEETS, [SHEETS[0], {"a": 9}, SHEETS[2]])
    assert (found.index, found.first, found.second) == (1, {"a": 2}, {"a": 9})
    with pytest.raises(ValueError, match="same number"):
        double_entry.compare(SHEETS, SHEETS[:2])


def test_a_batch_needs_two_accounts_and_settles_exactly_its_differences(
    app: Flask, make_user: Any
) -> None:
    first, second = make_user(Role.staff), make_user(Role.staff)
    with app.app_context():
        batch = double_entry.start(first, "test", 1, "  Kasten   7 ", SHEETS)
        assert batch.label == "Kasten 7" and batch.sheets == 3
        assert not double_entry.may_enter_second(first, batch)
        with pytest.raises(RuleViolation, match="erste Eingabe"):
            double_entry.enter_second(first, batch, SHEETS)
        with pytest.raises(RuleViolation, match="3"):
            double_entry.enter_second(second, batch, SHEETS[:2])
        found = double_entry.enter_second(second, batch, [SHEETS[0], {"a": 9}, {"a": 8}])
        assert [m.index for m in found] == [1, 2] and batch.state == BatchState.mismatch
        with pytest.raises(RuleViolation, match="jeden Bogen"):
            double_entry.correct(batch, {1: {"a": 2}})  # sheet 3 left unsettled
        with pytest.raises(RuleViolation, match="noch nicht überein"):
            double_entry.agreed_sheets(batch)
        settled = double_entry.correct(batch, {1: {"a": 2}, 2: {"a": 8}})
        assert settled == [SHEETS[0], {"a": 2}, {"a": 8}] == double_entry.agreed_sheets(batch)
        double_entry.finish(batch, accepted=3, invalid=0)
        db.session.commit()
        assert (batch.first_entry, batch.second_entry, batch.state) == (None, None, "agreed")
        with pytest.raises(RuleViolation, match="zweimal"):
            double_entry.enter_second(second, batch, SHEETS)
        assert double_entry.batches_of("test", 1) == [batch]
        assert double_entry.batches_of("other", 1) == []


def test_labels_and_sizes_are_bounded(app: Flask, make_user: Any) -> None:
    staff = make_user(Role.staff)
    with app.app_context():
        with pytest.raises(RuleViolation):
            double_entry.start(staff, "test", 1, "   ", SHEETS)
        with pytest.raises(RuleViolation):
            double_entry.start(staff, "test", 1, "x", [])
        with pytest.raises(RuleViolation):
            double_entry.start(staff, "test", 1, "x", [{}] * (double_entry.BATCH_MAX_SHEETS + 1))

"""Paper ballots: round rules, printing codes, double entry, counting, closing and recount."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from sqlalchemy.exc import IntegrityError

from kldialog.auth.models import Role
from kldialog.kernel import double_entry
from kldialog.kernel.audit import AuditEntry
from kldialog.kernel.db import db
from kldialog.kernel.double_entry import BatchState, EntryBatch
from kldialog.kernel.errors import RuleViolation
from kldialog.priorities import paper, services
from kldialog.priorities.models import PaperBallot, PaperCode, PriorityRound, RoundResult
from kldialog.projects.models import Project

from .conftest import login
from .test_priorities import (
    NOW,
    _projects,
    end_round,
    make_round,
    projects,
    round_form,
    shared_app,
    vote_many,
)

__all__ = ["projects", "shared_app"]  # the fixtures, imported for pytest

CODE = re.compile(r'code-sheet__code-text">([A-Z0-9-]{14})<')


def paper_round(app: Flask, items: list[Any], **fields: Any) -> int:
    """Create an open approval round (at most 2 projects) that offers paper for 8 days."""
    fields.setdefault("paper_until", NOW + dt.timedelta(days=8))
    return make_round(app, items[:3], paper_offered=True, **fields)


def print_codes(client: Any, round_id: int, count: int = 3) -> list[str]:
    """Print `count` sheets through the page; return their codes."""
    page = client.get(f"/staff/rounds/{round_id}/paper").get_data(as_text=True)
    once = re.search(r'name="once" type="hidden" value="([^"]+)"', page).group(1)
    response = client.post(
        f"/staff/rounds/{round_id}/paper/print",
        data={"count": str(count), "language": "de", "once": once},
    )
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    assert "Stimmzettel: " in response.get_data(as_text=True)  # printed in German
    return CODE.findall(response.get_data(as_text=True))


def sheet_data(sheets: list[tuple[str, str, list[int]]]) -> dict[str, str]:
    """Return the form fields of an entry: (code, invalid reason, supported project ids)."""
    data: dict[str, str] = {}
    for index, (code, reason, marks) in enumerate(sheets):
        data[f"s{index}-code"] = code
        data[f"s{index}-invalid"] = reason
        for project_id in marks:
            data[f"s{index}-mark-{project_id}"] = "1"
    return data


def first_entry(client: Any, round_id: int, sheets: list[Any], label: str = "Kasten 1") -> Any:
    data = {"label": label, "sheets": str(len(sheets)), **sheet_data(sheets)}
    return client.post(f"/staff/rounds/{round_id}/paper/batches/new", data=data)


def only_batch(app: Flask) -> EntryBatch:
    with app.app_context():
        batch = db.session.scalars(sa.select(EntryBatch).order_by(EntryBatch.id.desc())).first()
        db.session.expunge(batch)
        return batch


def counts(app: Flask) -> tuple[int, int, int]:
    """Return (paper ballots, batches, codes) in the database."""
    with app.app_context():
        return tuple(
            db.session.scalar(sa.select(sa.func.count()).select_from(model))
            for model in (PaperBallot, EntryBatch, PaperCode)
        )


@pytest.fixture
def round_id(app: Flask, projects: list[Project]) -> int:
    """An open approval round over three projects that offers paper for 8 days."""
    return paper_round(app, projects)


@pytest.fixture
def staff_pair(client: Any, app: Flask, make_user: Any) -> tuple[Any, Any, Any]:
    """Two staff accounts and a second client (logged in as the second)."""
    first, second = make_user(Role.staff), make_user(Role.staff)
    other = app.test_client()
    login(client, first)
    login(other, second)
    return first, second, other


# --- the round's paper rules --------------------------------------------------------------


def test_staff_set_whether_paper_is_offered_and_until_when(
    app: Flask, client: Any, make_user: Any, projects: list[Project]
) -> None:
    login(client, make_user(Role.staff))
    until = (NOW + dt.timedelta(days=40)).strftime("%Y-%m-%dT%H:%M")
    missing = client.post("/staff/rounds/new", data=round_form(projects[:3], paper_offered="y"))
    assert missing.status_code == 400
    assert "bis wann Papierbögen angenommen werden" in missing.get_data(as_text=True)
    early = round_form(projects[:3], paper_offered="y", paper_until=NOW.strftime("%Y-%m-%dT%H:%M"))
    assert client.post("/staff/rounds/new", data=early).status_code == 400
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(PriorityRound)) == 0
    ok = client.post(
        "/staff/rounds/new", data=round_form(projects[:3], paper_offered="y", paper_until=until)
    )
    assert ok.status_code == 303
    with app.app_context():
        [round_] = db.session.scalars(sa.select(PriorityRound)).all()
        assert round_.paper_offered and round_.paper_until is not None
        round_id = round_.id
    page = client.get(f"/staff/rounds/{round_id}").get_data(as_text=True)
    assert f'value="{until}"' in page and f"/staff/rounds/{round_id}/paper" in page
    # Without paper, the deadline is dropped, and the paper pages do not exist.
    client.post(f"/staff/rounds/{round_id}", data=round_form(projects[:3], paper_until=until))
    with app.app_context():
        round_ = db.session.get(PriorityRound, round_id)
        assert (round_.paper_offered, round_.paper_until) == (False, None)
    assert client.get(f"/staff/rounds/{round_id}/paper").status_code == 404


def test_the_database_ties_the_deadline_to_the_offer(app: Flask, projects: list[Project]) -> None:
    round_id = make_round(app, projects[:3])
    with app.app_context(), pytest.raises(IntegrityError):
        db.session.execute(
            sa.update(PriorityRound).where(PriorityRound.id == round_id).values(paper_offered=True)
        )
        db.session.flush()


def test_only_staff_reach_the_paper_pages(
    app: Flask, client: Any, make_user: Any, round_id: int
) -> None:
    login(client, make_user(Role.council))
    for path in ("", "/batches/new?label=x&sheets=2", "/batches/1"):
        assert client.get(f"/staff/rounds/{round_id}/paper{path}").status_code == 403
    assert client.post(f"/staff/rounds/{round_id}/paper/print", data={}).status_code == 403


# --- printing -------------------------------------------------------------------------------


def test_printing_stores_only_keyed_hashes_and_shows_codes_once(
    app: Flask, client: Any, make_user: Any, projects: list[Project], round_id: int
) -> None:
    login(client, make_user(Role.staff))
    page = client.get(f"/staff/rounds/{round_id}/paper").get_data(as_text=True)
    once = re.search(r'name="once" type="hidden" value="([^"]+)"', page).group(1)
    data = {"count": "4", "language": "en", "once": once}
    response = client.post(f"/staff/rounds/{round_id}/paper/print", data=data)
    assert response.headers["Cache-Control"] == "no-store"
    text = response.get_data(as_text=True)
    codes = CODE.findall(text)
    assert len(codes) == 4 == len(set(codes))
    assert "Ballot paper" in text and "Mark up to 2 projects" in text  # the sheet's language
    assert all(p.title in text for p in projects[:3])
    with app.app_context():
        stored = set(db.session.scalars(sa.select(PaperCode.code_hash)))
        expected = {paper.paper_code_hash(round_id, c.replace("-", "")) for c in codes}
        assert stored == expected
        # Keyed: a plain hash of the code is not what is stored.
        assert not stored & {hashlib.sha256(c.replace("-", "").encode()).hexdigest() for c in codes}
        audit = db.session.scalars(
            sa.select(AuditEntry).where(AuditEntry.action == "paper.printed")
        )
        dumped = json.dumps([a.details for a in audit])
        assert '"sheets": 4' in dumped and not any(c.replace("-", "") in dumped for c in codes)
    # A reload sends the same one-time value: nothing more is printed.
    again = client.post(f"/staff/rounds/{round_id}/paper/print", data=data)
    assert again.status_code == 400 and not CODE.findall(again.get_data(as_text=True))
    assert counts(app)[2] == 4
    bad = client.get(f"/staff/rounds/{round_id}/paper").get_data(as_text=True)
    once = re.search(r'name="once" type="hidden" value="([^"]+)"', bad).group(1)
    refused = client.post(
        f"/staff/rounds/{round_id}/paper/print", data={"count": "0", "language": "de", "once": once}
    )
    assert refused.status_code == 400 and "1 bis 1.000" in refused.get_data(as_text=True)
    assert counts(app)[2] == 4


# --- double entry ---------------------------------------------------------------------------


def test_two_accounts_enter_a_batch_and_a_mismatch_is_settled(
    app: Flask, client: Any, staff_pair: Any, projects: list[Project], round_id: int
) -> None:
    first, second, other = staff_pair
    a, b, c = (p.id for p in projects[:3])
    codes = print_codes(client, round_id, 3)
    sheets = [(codes[0], "", [a]), (codes[1], "", [a, b]), ("", "no_code", [])]
    assert first_entry(client, round_id, sheets).status_code == 303
    batch = only_batch(app)
    assert batch.state == BatchState.first and batch.first_by_id == first.id
    path = f"/staff/rounds/{round_id}/paper/batches/{batch.id}"
    # The first account cannot confirm its own typing.
    own = client.get(path).get_data(as_text=True)
    assert "anderes Konto der Verwaltung" in own and "Zweite Eingabe speichern" not in own
    refused = client.post(path, data=sheet_data(sheets), follow_redirects=True)
    assert "Sie haben die erste Eingabe dieses Stapels gemacht" in refused.get_data(as_text=True)
    assert only_batch(app).second_by_id is None
    # The second account reads sheet 2 differently.
    second_sheets = [(codes[0], "", [a]), (codes[1], "", [a, c]), ("", "no_code", [])]
    assert other.post(path, data=sheet_data(second_sheets)).status_code == 303
    assert only_batch(app).state == BatchState.mismatch and counts(app)[0] == 0
    page = other.get(path).get_data(as_text=True)
    assert "Unterschiede zwischen den beiden Eingaben" in page
    table = page.split('<caption id="differences-caption"')[1].split("</table>")[0]
    assert projects[1].title in table and projects[2].title in table  # side by side
    assert 'id="s1"' in page and 'id="s0"' not in page  # only the differing sheet to settle
    # Settled as on the paper: sheet 2 supports a and b.
    settled = other.post(path, data={"s1-code": codes[1], "s1-mark-" + str(a): "1",
                                      "s1-mark-" + str(b): "1"})  # fmt: skip
    assert settled.status_code == 303, settled.get_data(as_text=True)
    batch = only_batch(app)
    assert batch.state == BatchState.agreed and (batch.accepted, batch.invalid) == (2, 1)
    assert batch.first_entry is None and batch.second_entry is None
    with app.app_context():
        stored = db.session.scalars(sa.select(PaperBallot).order_by(PaperBallot.id)).all()
        assert [s.choices for s in stored] == [{str(a): 1}, {str(a): 1, str(b): 1}, None]
        assert [s.invalid_reason for s in stored][2].value == "no_code"
        audit = db.session.scalars(
            sa.select(AuditEntry).where(AuditEntry.action.like("paper.%"))
        ).all()
        actions = [entry.action for entry in audit]
        assert actions == ["paper.printed", "paper.first_entry", "paper.second_entry",
                           "paper.corrected", "paper.counted"]  # fmt: skip
        dumped = json.dumps([entry.details for entry in audit])
        # No ballot content in the log: no codes, no project ids as choices.
        assert not any(code.replace("-", "") in dumped for code in codes)
        assert "choices" not in dumped and "mark" not in dumped
    overview = client.get(f"/staff/rounds/{round_id}/paper").get_data(as_text=True)
    assert "2 gültige und 1 ungültige" in overview


def test_agreeing_entries_count_at_once(
    app: Flask, client: Any, staff_pair: Any, projects: list[Project], round_id: int
) -> None:
    _first, _second, other = staff_pair
    a = projects[0].id
    codes = print_codes(client, round_id, 2)
    sheets = [(codes[0], "", [a]), (codes[1], "unclear", [a])]
    first_entry(client, round_id, sheets)
    batch = only_batch(app)
    response = other.post(f"/staff/rounds/{round_id}/paper/batches/{batch.id}",
                          data=sheet_data(sheets), follow_redirects=True)  # fmt: skip
    assert "Beide Eingaben stimmen überein" in response.get_data(as_text=True)
    assert only_batch(app).state == BatchState.agreed
    with app.app_context():
        assert paper.paper_counts(db.session.get(PriorityRound, round_id)) == (1, 1)


@pytest.mark.parametrize(
    ("make_sheets", "message"),
    [
        (lambda codes, a, b, c: [("ABCD-EFGH-JKMN", "", [a])], "nicht gedruckt"),
        (lambda codes, a, b, c: [(codes[0], "", [a]), (codes[0], "", [b])], "zweimal vor"),
        (lambda codes, a, b, c: [("ABC", "", [a])], "12 Zeichen"),
        (lambda codes, a, b, c: [("", "", [a])], "Code fehlt"),
        (lambda codes, a, b, c: [(codes[0], "", [a, b, c])], "höchstens 2 sind erlaubt"),
        (lambda codes, a, b, c: [(codes[0], "", [])], "ungültig"),
        (lambda codes, a, b, c: [(codes[0], "rumour", [])], "warum der Bogen ungültig"),
    ],
)
def test_bad_sheets_get_a_message_and_change_nothing(
    app: Flask,
    client: Any,
    make_user: Any,
    projects: list[Project],
    make_sheets: Any,
    message: str,
    round_id: int,
) -> None:
    login(client, make_user(Role.staff))
    codes = print_codes(client, round_id, 2)
    response = first_entry(client, round_id, make_sheets(codes, *(p.id for p in projects[:3])))
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert message in page and "Es wurde nichts gespeichert" in page
    assert codes[0] in page or "ABC" in page or " checked" in page  # typed input kept
    assert counts(app)[:2] == (0, 0)


def test_a_code_counts_once_across_batches(
    app: Flask, client: Any, staff_pair: Any, projects: list[Project], round_id: int
) -> None:
    _first, _second, other = staff_pair
    a = projects[0].id
    codes = print_codes(client, round_id, 1)
    first_entry(client, round_id, [(codes[0], "", [a])])
    batch = only_batch(app)
    other.post(f"/staff/rounds/{round_id}/paper/batches/{batch.id}",
               data=sheet_data([(codes[0], "", [a])]))  # fmt: skip
    assert counts(app)[0] == 1
    again = first_entry(client, round_id, [(codes[0], "", [a])], label="Kasten 2")
    assert again.status_code == 400 and "bereits gezählt" in again.get_data(as_text=True)
    assert counts(app)[:2] == (1, 1)
    # The database refuses a second ballot with the same code, whatever the code above does.
    with app.app_context():
        digest = paper.paper_code_hash(round_id, codes[0].replace("-", ""))
        db.session.add(PaperBallot(round_id=round_id, code_hash=digest, choices={str(a): 1}))
        with pytest.raises(IntegrityError):
            db.session.flush()


def test_the_database_refuses_one_account_making_both_entries(
    app: Flask, make_user: Any, round_id: int
) -> None:
    staff = make_user(Role.staff)
    with app.app_context():
        batch = double_entry.start(staff, "round", round_id, "x", [{"code": "", "invalid": "blank",
                                                                   "choices": {}}])  # fmt: skip
        batch.second_by_id = staff.id
        with pytest.raises(IntegrityError):
            db.session.flush()


def test_no_entries_after_the_paper_deadline(
    app: Flask, client: Any, staff_pair: Any, projects: list[Project], round_id: int
) -> None:
    _first, _second, other = staff_pair
    a = projects[0].id
    codes = print_codes(client, round_id, 1)
    first_entry(client, round_id, [(codes[0], "", [a])])
    batch = only_batch(app)
    with app.app_context():
        db.session.execute(sa.update(PriorityRound).where(PriorityRound.id == round_id)
                           .values(paper_until=NOW - dt.timedelta(minutes=1)))  # fmt: skip
        db.session.commit()
    late = other.post(f"/staff/rounds/{round_id}/paper/batches/{batch.id}",
                      data=sheet_data([(codes[0], "", [a])]), follow_redirects=True)  # fmt: skip
    assert "Frist für Papierbögen" in late.get_data(as_text=True)
    assert only_batch(app).state == BatchState.first and counts(app)[0] == 0
    new = first_entry(client, round_id, [(codes[0], "", [a])], label="spät")
    assert new.status_code == 303 and counts(app)[1] == 1  # flashed, nothing stored


# --- closing, results, recount -----------------------------------------------------------------


def enter_agreed(app: Flask, round_id: int, supported: list[list[int]], staff: list[Any]) -> None:
    """Print codes and count one agreed batch through the services (two staff accounts)."""
    from kldialog.auth.models import User

    with app.app_context():
        round_ = db.session.get(PriorityRound, round_id)
        a, b = (db.session.get(User, person.id) for person in staff)
        codes = paper.print_ballots(a, round_, len(supported))
        sheets = [
            paper.make_sheet(code, "", {pid: 1 for pid in marks})
            for code, marks in zip(codes, supported, strict=True)
        ]
        batch = paper.enter_first(a, round_, "Kasten", sheets)
        assert paper.enter_second(b, round_, batch.id, sheets) == []


def test_closing_counts_paper_with_its_channel_and_recounts(
    app: Flask,
    client: Any,
    make_user: Any,
    projects: list[Project],
    runner: Any,
    tmp_path: Path,
    round_id: int,
) -> None:
    staff = [make_user(Role.staff), make_user(Role.staff)]
    a, b, c = (p.id for p in projects[:3])
    vote_many(app, round_id, [{a: 1}] * 5 + [{b: 1}])
    enter_agreed(app, round_id, [[c]] * 3 + [[a, c]] * 2, staff)
    # The round's window has ended but the paper deadline has not: it does not close yet.
    end_round(app, round_id)
    with app.app_context():
        assert round_id not in [r.id for r in services.rounds_due()]
        round_ = db.session.get(PriorityRound, round_id)
        with pytest.raises(RuleViolation, match="Frist für Papierbögen"):
            services.close_ended_round(None, round_)
        round_.paper_until = NOW - dt.timedelta(seconds=1)
        db.session.commit()
        assert round_id in [r.id for r in services.rounds_due()]
        services.close_round(round_)
        result = db.session.get(RoundResult, round_id)
        text, digest = result.ballot_file, result.ballot_sha256
    assert counts(app) == (0, 1, 0)  # paper ballots and codes are gone with the close
    assert only_batch(app).first_entry is None
    document = json.loads(text)
    assert document["format"] == "kldialog-ballots-2"
    assert document["channels"] == {"online": 6, "paper": 5}
    assert sorted(b["channel"] for b in document["ballots"]) == ["online"] * 6 + ["paper"] * 5
    assert all(set(b) == {"channel", "choices"} for b in document["ballots"])
    page = client.get(f"/priorities/{round_id}/results").get_data(as_text=True)
    assert "n = 11 Stimmzettel" in page and "6 online und 5 auf Papier" in page
    exported = client.get(f"/priorities/{round_id}/results.json").get_json()
    by_title = {p["title"]: p for p in exported["projects"]}
    assert by_title[projects[2].title]["supporters"] == 5
    assert by_title[projects[0].title]["supporters"] == 7
    api = client.get(f"/api/v1/rounds/{round_id}").get_json()
    assert (api["ballots"], api["ballots_online"], api["ballots_paper"]) == (11, 6, 5)
    path = tmp_path / "ballots.json"
    path.write_bytes(client.get(f"/priorities/{round_id}/ballots.json").data)
    recount = runner.invoke(args=["rounds", "recount", str(path), "--expect", digest, "--json"])
    assert recount.exit_code == 0, recount.output
    assert json.loads(recount.output)["channels"] == {"online": 6, "paper": 5}
    table = runner.invoke(args=["rounds", "recount", str(path)])
    assert "channels: 6 online, 5 paper" in table.output


def test_few_paper_ballots_are_not_marked_one_by_one(
    app: Flask, make_user: Any, projects: list[Project], round_id: int
) -> None:
    staff = [make_user(Role.staff), make_user(Role.staff)]
    a, b = projects[0].id, projects[1].id
    vote_many(app, round_id, [{a: 1}] * 6)
    enter_agreed(app, round_id, [[b], [a, b]], staff)  # two paper ballots: fewer than k = 5
    end_round(app, round_id)
    with app.app_context():
        round_ = db.session.get(PriorityRound, round_id)
        round_.paper_until = NOW - dt.timedelta(seconds=1)
        db.session.commit()
        text = services.close_round(round_).ballot_file
    document = json.loads(text)
    assert document["channels"] == {"online": 6, "paper": 2}
    assert all(set(b) == {"choices"} for b in document["ballots"])
    assert services.compute_results(text)["channels"] == {"online": 6, "paper": 2}


@pytest.mark.parametrize(
    "change",
    [
        lambda d: d["channels"].update(paper=d["channels"]["paper"] + 1),
        lambda d: d["ballots"][0].update(channel="fax"),
        lambda d: d["ballots"][0].pop("channel"),
        lambda d: d.pop("channels"),
    ],
)
def test_recount_refuses_channel_files_that_do_not_add_up(change: Any) -> None:
    document = {
        "format": "kldialog-ballots-2",
        "round": {"method": "approval"},
        "projects": [{"key": "a", "title": "A", "category": "X"}],
        "channels": {"online": 1, "paper": 1},
        "ballots": [{"channel": "online", "choices": {"a": 1}},
                    {"channel": "paper", "choices": {"a": 1}}],
    }  # fmt: skip
    assert services.compute_results(json.dumps(document), min_group_size=1)["n"] == 2
    change(document)
    with pytest.raises(services.BallotFileError):
        services.read_ballot_file(json.dumps(document))


def test_unfinished_batches_lose_their_contents_at_close(
    app: Flask, client: Any, make_user: Any, projects: list[Project], round_id: int
) -> None:
    login(client, make_user(Role.staff))
    codes = print_codes(client, round_id, 1)
    first_entry(client, round_id, [(codes[0], "", [projects[0].id])])
    end_round(app, round_id)
    with app.app_context():
        round_ = db.session.get(PriorityRound, round_id)
        round_.paper_until = NOW - dt.timedelta(seconds=1)
        db.session.commit()
        services.close_round(round_)
    batch = only_batch(app)
    assert batch.state == BatchState.discarded and batch.first_entry is None
    assert "nicht gezählt" in client.get(
        f"/staff/rounds/{round_id}/paper/batches/{batch.id}"
    ).get_data(as_text=True)


def test_counting_checks_the_ballot_rules_again(
    app: Flask, make_user: Any, projects: list[Project], round_id: int
) -> None:
    # The entry checks run first; counting runs the same rules once more, in case a sheet
    # reached it another way (a batch settled against a changed round, say).
    staff = make_user(Role.staff)
    with app.app_context():
        round_ = db.session.get(PriorityRound, round_id)
        [code] = paper.print_ballots(staff, round_, 1)
        everything = {p.id: 1 for p in projects[:3]}  # three projects, two allowed
        sheet = paper.make_sheet(code, "", everything)
        batch = double_entry.start(staff, "round", round_id, "x", [sheet])
        with pytest.raises(services.BallotRejected):
            paper._count(staff, round_, batch, [sheet])


def test_a_finished_batch_keeps_no_contents(app: Flask, make_user: Any, round_id: int) -> None:
    staff = make_user(Role.staff)
    with app.app_context():
        sheet = {"code": "", "invalid": "blank", "choices": {}}
        batch = double_entry.start(staff, "round", round_id, "x", [sheet])
        batch.state = BatchState.agreed
        with pytest.raises(IntegrityError):
            db.session.flush()


def test_two_batches_with_one_code_agreeing_at_once_count_it_once(shared_app: Flask) -> None:
    """Both batches passed the entry checks; the unique code decides, the loser changes nothing."""
    import threading

    from kldialog.auth import services as accounts
    from kldialog.auth.models import User

    app = shared_app
    ids = _projects(app, 3)
    round_id = make_round(app, ids, paper_offered=True, paper_until=NOW + dt.timedelta(days=8))
    with app.app_context():
        first, second = (
            accounts.create_confirmed_user(
                email=f"zaehler{n}@example.org", password="correct horse battery staple",
                display_name=f"Zähler {n}", roles=[Role.staff],
            ).id
            for n in (1, 2)
        )  # fmt: skip
        round_ = db.session.get(PriorityRound, round_id)
        [code] = paper.print_ballots(db.session.get(User, first), round_, 1)
        sheet = paper.make_sheet(code, "", {ids[0]: 1})
        batches = [
            paper.enter_first(db.session.get(User, first), round_, f"Kasten {n}", [sheet]).id
            for n in (1, 2)
        ]
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def work(batch_id: int) -> None:
        barrier.wait(timeout=30)
        with app.app_context():
            try:
                paper.enter_second(
                    db.session.get(User, second),
                    db.session.get(PriorityRound, round_id),
                    batch_id,
                    [sheet],
                )
                outcomes.append("counted")
            except RuleViolation as error:
                outcomes.append(str(error.message))
            finally:
                db.session.remove()

    threads = [threading.Thread(target=work, args=(b,)) for b in batches]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(outcomes)[0] != "counted" and sorted(outcomes).count("counted") == 1, outcomes
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(PaperBallot)) == 1
        states = sorted(db.session.scalars(sa.select(EntryBatch.state)))
        assert states == [BatchState.agreed, BatchState.first]  # the loser waits, unchanged

"""Every route, for every role, with bad values in its ids, query parameters and form fields: no 5xx.

The data comes from scripts/bulkdata.py at a tiny scale, so every kind of object exists. For
each role the test first requests every rule once with real ids (a GET, or a POST with an empty
form) and reads the forms of every page it sees: their fields, default values and CSRF token
(CSRF is on, so bad values reach the forms' validation). Then it sends, with a fixed seed,
requests in which ids, query parameters and form fields are replaced by bad values: Unicode
digits, whitespace, huge numbers and strings, markup, repeated keys, missing fields. Any answer
of 500 or above, or an exception, fails the test with the request that caused it.

A new route is covered without a change here, as long as its URL variables have a known name
(`_candidates`); `test_every_rule_is_covered` fails otherwise.
"""

from __future__ import annotations

import os
import random
import time
import traceback
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from io import BytesIO
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import pytest
from flask import Flask
from flask.testing import EnvironBuilder as FlaskEnvironBuilder
from flask.testing import FlaskClient
from werkzeug.exceptions import HTTPException
from werkzeug.routing import Rule
from werkzeug.routing.exceptions import RequestRedirect

from kldialog.kernel.db import db

from . import crawl

ROOT = Path(__file__).resolve().parent.parent
# A fixed seed, so a failure repeats; KLDIALOG_FUZZ_SEED explores others (e.g. in a nightly run).
SEED = int(os.environ.get("KLDIALOG_FUZZ_SEED", "20261202"))
SCALE = 0.001  # the generator's floors: ~45 accounts, 8 projects, 65 comments, every kind
# "kiosk": an anonymous browser on a city counter device (the staff-set device cookie).
ROLES = ("anonymous", "resident", "moderator", "staff", "council", "admin", "kiosk")
BAD_IDS = ["0", "-1", str(2**31), str(2**63), str(10**20), "²", "%20", "٣", "1.0", "abc"]
HUGE = "9" * 100_000
# Bad values by kind: a request picks a kind first, so whitespace is as likely as markup.
BAD_VALUES = {
    "blank": ["", " ", "\t\n", "\u00a0"],
    "other digits": ["²", "٣", "1²", "１"],
    "numbers": ["-1", "0", "1", "99", "1.5", "1e3", str(2**31), str(2**63), str(10**20)],
    "huge": [HUGE, "x" * 100_000],
    "markup": ["<script>alert(1)</script>", '"><img src=x onerror=alert(1)>', "' OR 1=1 --"],
    "odd": ["\u202e\u200b", "\x00", "true", "null", "[]", '{"a": 1}', "../../etc/passwd"],
    "dates and links": [
        "2026-13-45",
        "2026-02-30T25:61",
        "https://evil.example/",
        "//evil.example",
    ],
}
# Parameters that views read from the query string or form without declaring them in HTML.
COMMON_NAMES = [
    "page",
    "sort",
    "status",
    "q",
    "filter",
    "section",
    "first",
    "second",
    "when",
    "next",
    "action",
    "ids",
    "project",
    "projects",
    "v",
    "visibility",
    "role",
    "category",
]
GET_FUZZ = {True: 2, False: 1}  # requests per (GET rule, role): reachable or not
POST_FUZZ = {True: 5, False: 1}  # requests per (POST rule, role): with a form shown or not
VISITS = 3  # real-id variants of a GET rule each role requests first


# --- forms in HTML -------------------------------------------------------------------------


@dataclass
class Form:
    """One <form> of a page: where it goes and its fields with their default values."""

    action: str
    method: str
    fields: list[tuple[str, str]] = field(default_factory=list)  # what a browser would send
    names: dict[str, list[str]] = field(default_factory=dict)  # name -> values it may take
    files: set[str] = field(default_factory=set)
    submits: list[tuple[str, str]] = field(default_factory=list)
    options: dict[str, list[str]] = field(default_factory=dict)  # radios, checkboxes, selects


class _FormParser(HTMLParser):
    """Collect the forms of a page with the values a browser would submit."""

    def __init__(self, page: str) -> None:
        super().__init__(convert_charrefs=True)
        self.page = page
        self.forms: list[Form] = []
        self.form: Form | None = None
        self.select: tuple[str, bool] | None = None
        self.options: list[tuple[str, bool]] = []
        self.textarea: str | None = None
        self.text: list[str] = []
        self.option_value: str | None = None
        self.option_text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {key: value or "" for key, value in attrs}
        if tag == "form":
            self.form = Form(a.get("action") or self.page, (a.get("method") or "get").upper())
            self.forms.append(self.form)
        form = self.form
        if form is None or (tag not in ("input", "select", "textarea", "button", "option")):
            return
        name = a.get("name", "")
        if tag == "option" and self.select is not None:
            self.option_value = a.get("value")
            self.option_text = []
            self.options.append((a.get("value") or "", "selected" in a))
            return
        if not name:
            return
        kind = a.get("type", "submit" if tag == "button" else "text").lower()
        value = a.get("value", "")
        values = form.names.setdefault(name, [])
        if tag == "select":
            self.select = (name, "multiple" in a)
            self.options = []
        elif tag == "textarea":
            self.textarea = name
            self.text = []
        elif kind in ("submit", "image"):
            form.submits.append((name, value))
            values.append(value)
        elif kind == "file":
            form.files.add(name)
        elif kind in ("checkbox", "radio"):
            values.append(value or "on")
            form.options.setdefault(name, []).append(value or "on")
            if "checked" in a:
                form.fields.append((name, value or "on"))
        else:
            values.append(value)
            form.fields.append((name, value))

    def handle_data(self, data: str) -> None:
        if self.textarea is not None:
            self.text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self.form = None
        elif tag == "textarea" and self.textarea is not None and self.form is not None:
            text = "".join(self.text).removeprefix("\n")
            self.form.fields.append((self.textarea, text))
            self.form.names[self.textarea].append(text)
            self.textarea = None
        elif tag == "select" and self.select is not None and self.form is not None:
            name, multiple = self.select
            self.form.names[name].extend(value for value, _selected in self.options)
            self.form.options.setdefault(name, []).extend(v for v, _s in self.options)
            chosen = [value for value, selected in self.options if selected]
            if not chosen and not multiple and self.options:
                chosen = [self.options[0][0]]
            self.form.fields.extend((name, value) for value in chosen)
            self.select = None


def _forms(page: str, html: str) -> list[Form]:
    parser = _FormParser(page)
    parser.feed(html)
    return parser.forms


# --- the world: data, clients, real URLs ---------------------------------------------------


@dataclass
class World:
    """The app, its data's facts and the values that make real URLs for every rule."""

    app: Flask
    facts: Any
    candidates: dict[str, list[dict[str, str]]]  # rule key -> URL variable sets
    rules: list[Rule]
    # Filled while crawling: forms by the rule they post to, and query names by GET rule.
    forms: dict[str, list[tuple[str, Form]]] = field(default_factory=dict)
    requests: int = 0
    failures: list[tuple[str, str]] = field(default_factory=list)  # (endpoint, what happened)
    covered: set[str] = field(default_factory=set)
    statuses: Counter[int] = field(default_factory=Counter)
    seconds: float = 0.0
    cpu_seconds: float = 0.0  # of this process: the app and the test, not the database server


def _key(rule: Rule, method: str) -> str:
    return f"{method} {rule.rule} {rule.endpoint}"


def _rule_keys(rules: list[Rule]) -> set[str]:
    return {
        _key(rule, method)
        for rule in rules
        for method in ("GET", "POST")
        if method in (rule.methods or ())
    }


@dataclass
class Session:
    """One role's test client and its current CSRF token."""

    role: str
    client: FlaskClient
    token: str = ""


def _login(world: World, session: Session) -> None:
    """Log in as the session's role (anonymous and kiosk only fetch a CSRF token)."""
    session.client, session.token = crawl.login(world.app, world.facts, session.role)


def _logged_in(session: Session) -> bool:
    with session.client.session_transaction() as stored:
        return "_user_id" in stored


def _send(
    world: World,
    session: Session,
    method: str,
    path: str,
    query: list[tuple[str, str]] | None = None,
    data: list[tuple[str, Any]] | None = None,
    files: dict[str, Any] | None = None,
) -> Any:
    """Send one request; record a 5xx or an exception as a failure."""
    url = path + ("?" + urlencode(query) if query else "")
    world.requests += 1
    adapter = world.app.url_map.bind("localhost")
    endpoint = ""
    try:
        rule, _args = adapter.match(urlsplit(path).path, method=method, return_rule=True)
        world.covered.add(_key(rule, method))
        endpoint = rule.endpoint
    except (HTTPException, RequestRedirect):
        pass
    body: Any = None
    if method == "POST":
        from werkzeug.datastructures import MultiDict

        body = MultiDict(data or [])
        for name, content in (files or {}).items():
            body.add(name, (BytesIO(content), "upload.json"))
    try:
        if method == "GET":
            response = session.client.get(url)
        else:
            # Built here so its body can be closed: werkzeug spools a body over 500 KB (the
            # huge values) to a temporary file that the test client never closes.
            builder = FlaskEnvironBuilder(
                world.app, path=url, method="POST", data=body, content_type="multipart/form-data"
            )
            environ = builder.get_environ()
            try:
                response = session.client.open(environ)
            finally:
                environ["wsgi.input"].close()
                builder.close()
        response.close()
    except Exception as error:
        where = traceback.extract_tb(error.__traceback__)
        own = [f for f in where if "/kldialog/" in f.filename] or where
        world.failures.append(
            (
                endpoint,
                f"{session.role} {method} {url[:200]} {_short(data)}: {type(error).__name__}: "
                f"{str(error)[:200]} at {own[-1].filename}:{own[-1].lineno}",
            )
        )
        with world.app.app_context():
            db.session.rollback()
        return None
    world.statuses[response.status_code] += 1
    if response.status_code >= 500:
        world.failures.append(
            (endpoint, f"{session.role} {method} {url[:200]} {_short(data)}: 5xx")
        )
    if method == "POST" and session.role == "kiosk" and response.status_code == 303:
        _login(world, session)  # a kiosk's session may have ended: a fresh device session
    elif method == "POST" and session.role != "anonymous" and not _logged_in(session):
        _login(world, session)  # logged out (or deleted) by this request: go on as the role
    return response


def _short(data: list[tuple[str, Any]] | None) -> str:
    return repr([(k, str(v)[:30]) for k, v in (data or [])])[:300]


def _bad_id(rng: random.Random) -> str:
    return rng.choice(BAD_IDS)


def _bad_value(rng: random.Random, known: list[str]) -> str:
    """Return a bad value of a random kind, or one of the field's own values made bad."""
    if known and rng.random() < 0.25:
        value = rng.choice(known)
        return rng.choice([" " + value + " ", value + "²", value + "\x0b", value * 2])
    return rng.choice(BAD_VALUES[rng.choice(sorted(BAD_VALUES))])


def _mutate(
    rng: random.Random,
    fields: list[tuple[str, str]],
    names: dict[str, list[str]],
    *,
    everything: bool = True,
) -> list[tuple[str, str]]:
    """Return the fields with all of them bad, or one to three bad, missing or repeated."""
    result = [pair for pair in fields if pair[0] != "csrf_token"]
    pool = [name for name in names if name != "csrf_token"] + rng.sample(COMMON_NAMES, 3)
    chosen = (
        pool
        if everything and rng.random() < 0.4
        else [rng.choice(pool) for _ in range(rng.randint(1, 3))]
    )
    for name in chosen:
        how = rng.random()
        if how < 0.15:  # missing
            result = [pair for pair in result if pair[0] != name]
        elif how < 0.3:  # repeated with two values
            result += [(name, _bad_value(rng, names.get(name, []))), (name, rng.choice(["1", ""]))]
        else:
            result = [pair for pair in result if pair[0] != name]
            result.append((name, _bad_value(rng, names.get(name, []))))
    return result


def _visit(world: World, session: Session, rule: Rule, path: str) -> bool:
    """GET a page with real ids, keep its forms; return whether the role may see it."""
    response = _send(world, session, "GET", path)
    if response is None:
        return False
    if response.status_code == 200 and "html" in (response.content_type or ""):
        adapter = world.app.url_map.bind("localhost")
        for form in _forms(path, response.get_data(as_text=True)):
            if form.method != "POST":
                world.forms.setdefault(f"GET {rule.rule} {rule.endpoint}", []).append((path, form))
                continue
            target = urlsplit(form.action)
            try:
                matched, _args = adapter.match(target.path, method="POST", return_rule=True)
            except (HTTPException, RequestRedirect):
                continue
            world.forms.setdefault(f"POST {matched.rule} {matched.endpoint}", []).append(
                (session.role + " " + form.action, form)
            )
        token = crawl.token_in(response.get_data(as_text=True))
        session.token = token or session.token
    return _reachable(response)


def _reachable(response: Any) -> bool:
    location = response.headers.get("Location", "")
    return response.status_code not in (401, 403, 404, 405) and "/login" not in location


def _fuzz_get(world: World, session: Session, rule: Rule, rng: random.Random, count: int) -> None:
    choices = world.candidates[rule.rule + " " + rule.endpoint]
    declared = {
        name: values
        for _page, form in world.forms.get(f"GET {rule.rule} {rule.endpoint}", [])
        for name, values in form.names.items()
    }
    for _ in range(count):
        values = dict(rng.choice(choices))
        if values and rng.random() < 0.3:
            values[rng.choice(sorted(values))] = _bad_id(rng)
        query = _mutate(rng, [], declared)
        _send(world, session, "GET", crawl.path(rule, values), query=query)


def _filled(rng: random.Random, form: Form) -> list[tuple[str, str]]:
    """Return the form as a person would fill it: one of the offered options for every choice."""
    fields = [(name, value) for name, value in form.fields if name not in form.options]
    for name, offered in form.options.items():
        fields.append((name, rng.choice(offered)))
    return fields


def _next_step(
    world: World, session: Session, rng: random.Random, path: str, response: Any
) -> None:
    """Send the form a POST answered with again (the next page of a survey), filled in."""
    if response is None or "html" not in (response.content_type or ""):
        return
    forms = [
        f
        for f in _forms(path, response.get_data(as_text=True))
        if f.method == "POST" and urlsplit(f.action).path == path
    ]
    if not forms:
        return
    form = rng.choice(forms)
    data = [pair for pair in _filled(rng, form) if pair[0] != "csrf_token"]
    if form.submits and rng.random() < 0.7:  # else: no button, as a script might send it
        data.append(rng.choice(form.submits))
    if rng.random() < 0.5:
        data = _mutate(rng, data, form.names, everything=False)
    data.append(("csrf_token", session.token))
    _send(world, session, "POST", path, data=data)


def _fuzz_post(world: World, session: Session, rule: Rule, rng: random.Random, count: int) -> None:
    choices = world.candidates[rule.rule + " " + rule.endpoint]
    known = [
        (page.split(" ", 1)[1], form)
        for page, form in world.forms.get(f"POST {rule.rule} {rule.endpoint}", [])
        if page.startswith(session.role + " ")
    ]
    for _ in range(count):
        if known and rng.random() < 0.8:
            action, form = rng.choice(known)
            path = urlsplit(action).path
            fields, names, files = form.fields, form.names, form.files
            if form.options and rng.random() < 0.5:
                fields = _filled(rng, form)
            if form.submits:
                fields = [*fields, rng.choice(form.submits)]
        else:
            values = dict(rng.choice(choices))
            path = crawl.path(rule, values)
            fields, names, files = [], {}, set()
        if rng.random() < 0.2:  # a bad id in a URL that would otherwise work
            values = dict(rng.choice(choices))
            if values:
                values[rng.choice(sorted(values))] = _bad_id(rng)
                path = crawl.path(rule, values)
        data = _mutate(rng, fields, names)
        token = session.token if rng.random() < 0.95 else rng.choice(["", "²", HUGE[:200]])
        data.append(("csrf_token", token))
        upload = {name: rng.choice([b"\xff\xfe\x00", b"{}", b"[1, 2", b""]) for name in files}
        response = _send(world, session, "POST", path, data=data, files=upload)
        if response is not None and response.status_code in (200, 422) and rng.random() < 0.5:
            _next_step(world, session, rng, path, response)


# --- the run --------------------------------------------------------------------------------


def _order(rule: Rule) -> tuple[int, str]:
    """Crawl pages that change the session (logout, delete) last for each role."""
    last = any(word in rule.endpoint for word in ("logout", "delete_account"))
    return (1 if last else 0, rule.rule + rule.endpoint)


@pytest.fixture(scope="module")
def world(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """Generate the data, then crawl and fuzz every rule for every role."""
    started, cpu = time.perf_counter(), time.process_time()
    app = crawl.build(database_url, tmp_path_factory.mktemp("outbox"))
    rules = sorted(
        (r for r in app.url_map.iter_rules() if {"GET", "POST"} & (r.methods or set())),
        key=_order,
    )
    with app.app_context():
        facts = crawl.bulkdata.generate(SCALE, seed=SEED % 1000)
        candidates = crawl.candidates(app, facts, rules)
        db.session.remove()
    world = World(app, facts, candidates, rules)
    rng = random.Random(SEED)  # noqa: S311 - a repeatable sample, not a secret
    for role in ROLES:
        session = Session(role, app.test_client())
        _login(world, session)
        reachable: dict[str, bool] = {}
        for rule in rules:  # with real ids: what the role may see, and the forms it is shown
            if "GET" in (rule.methods or ()):
                for values in world.candidates[rule.rule + " " + rule.endpoint][:VISITS]:
                    seen = _visit(world, session, rule, crawl.path(rule, values))
                    reachable[rule.rule] = reachable.get(rule.rule, False) or seen
        for rule in rules:
            if "GET" in (rule.methods or ()):
                _fuzz_get(world, session, rule, rng, GET_FUZZ[reachable.get(rule.rule, False)])
            if "POST" in (rule.methods or ()):
                has_form = any(
                    page.startswith(role + " ")
                    for page, _form in world.forms.get(f"POST {rule.rule} {rule.endpoint}", [])
                )
                _fuzz_post(world, session, rule, rng, POST_FUZZ[has_form])
    world.seconds = time.perf_counter() - started
    world.cpu_seconds = time.process_time() - cpu
    yield world
    with app.app_context():
        db.session.remove()
        if db.engine.dialect.name != "postgresql":
            db.drop_all()
        db.engine.dispose()


def _report(world: World, failures: list[tuple[str, str]]) -> str:
    return f"{len(failures)} of {world.requests}:\n" + "\n".join(m for _e, m in failures[:60])


def test_no_request_answers_5xx(world: World) -> None:
    print(
        f"\n{world.requests} requests in {world.seconds:.1f} s ({world.cpu_seconds:.1f} s CPU), "
        "by status: " + ", ".join(f"{code}: {n}" for code, n in sorted(world.statuses.items()))
    )
    assert not world.failures, _report(world, world.failures)


def test_every_rule_is_covered(world: World) -> None:
    assert _rule_keys(world.rules) == world.covered


def test_every_post_form_was_fuzzed_with_its_fields(world: World) -> None:
    """The crawl found a form for most POST rules, so fields were fuzzed, not only names."""
    posts = {key for key in _rule_keys(world.rules) if key.startswith("POST ")}
    with_forms = posts & set(world.forms)
    assert len(with_forms) >= 0.8 * len(posts), sorted(posts - with_forms)


def test_the_form_parser_reads_what_a_browser_sends() -> None:
    html = """<form method="post" action="/x"><input type="hidden" name="csrf_token" value="t">
    <input name="a" value="1"><input type="checkbox" name="b" value="on">
    <input type="radio" name="c" value="p" checked><input type="radio" name="c" value="q">
    <select name="d"><option value="u">U</option><option value="v" selected>V</option></select>
    <textarea name="e">
text</textarea><button name="action" value="send">Send</button></form>"""
    (form,) = _forms("/page", html)
    assert (form.action, form.method) == ("/x", "POST")
    assert form.fields == [("csrf_token", "t"), ("a", "1"), ("c", "p"), ("d", "v"), ("e", "text")]
    assert form.names["b"] == ["on"]
    assert form.names["d"] == ["u", "v"]
    assert form.submits == [("action", "send")]
    assert form.options == {"b": ["on"], "c": ["p", "q"], "d": ["u", "v"]}

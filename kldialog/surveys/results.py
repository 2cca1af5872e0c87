"""Survey results: counts with suppression, and their stored releases (interim and final).

Every figure follows kernel.disclosure: cells below k are hidden with complementary
suppression, a mean or place distribution appears only beside a fully shown distribution,
and what is shown is a stored release, never a live count:

- Interim results (staff, while open) are released when someone looks and at least k answer
  sets arrived since the last release, so two releases always differ by at least k.
- At close, the whole answer set is rewritten (storage.rewrite_answer_set) and the final
  release is made in the same transaction. If an interim release exists and fewer than k
  answer sets arrived after it, those are *withheld*: the final figures are the last interim
  ones, and the page says how many answer sets are not shown and why (comparing the two
  releases would otherwise give the last few people's answers away).
- With differential privacy on, nothing is released while the survey is open; the final
  release is noisy (surveys.noise), and its ε is recorded (Release.epsilon_spent).

Free-text lists are not part of a release: they change when staff review a text, not when
someone answers, and are shown only when at least k texts of a question are published.
"""

from __future__ import annotations

import copy
from collections import defaultdict
from typing import Any

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from kldialog.kernel.db import db
from kldialog.kernel.disclosure import (
    Release,
    contribute,
    derived_figures_allowed,
    hidden_cells,
    release_now,
    release_of,
)
from kldialog.kernel.stats import mean_interval, randomised_response_estimate, wilson_interval
from kldialog.kernel.time import utcnow
from kldialog.surveys import storage
from kldialog.surveys.models import (
    TEXT_KINDS,
    Channel,
    Question,
    QuestionKind,
    Survey,
    SurveyAnswer,
    SurveyResponse,
    TextReview,
)
from kldialog.surveys.noise import Noise
from kldialog.surveys.settings import dp_budget, dp_epsilon, min_group_size

# Randomised response: the browser answers truthfully with this probability, else by a fair coin.
RR_TRUTH_PROBABILITY = 0.5

Bucket = dict[tuple[Any, ...], int]


def results_key(survey_id: int) -> str:
    """Return the release key of a survey's results."""
    return f"survey:{survey_id}:results"


def release_prefix(survey_id: int) -> str:
    """Return the key prefix of every release of a survey (results and cross-tabs)."""
    return f"survey:{survey_id}:"


def epsilon_spent(survey_id: int) -> float:
    """Return the ε all releases of this survey have spent together (one query)."""
    return float(
        db.session.scalar(
            sa.select(sa.func.coalesce(sa.func.sum(Release.epsilon_spent), 0.0)).where(
                Release.key.startswith(release_prefix(survey_id), autoescape=True)
            )
        )
        or 0.0
    )


# --- counting -----------------------------------------------------------------------------------


def category_keys(question: Question) -> list[tuple[Any, str]]:
    """Return the (key, label) categories of a question that has categories."""
    if question.kind in (QuestionKind.single, QuestionKind.multiple):
        keys: list[tuple[Any, str]] = [(("o", o.id), o.label) for o in question.options]
        if question.has_other:
            keys.append((("o", None), str(_l("Other"))))
        return keys
    if question.kind == QuestionKind.scale:
        return [(("n", value), str(value)) for value in range(1, 6)]
    if question.kind == QuestionKind.yes_no:
        return [(("n", 1), str(_l("Yes"))), (("n", 0), str(_l("No")))]
    return []


def _tally(survey: Survey) -> tuple[dict[Channel, int], dict[int, Bucket], dict[int, int]]:
    """Return the answer sets by channel, counts by question and respondents (three queries)."""
    by_channel = storage.answer_sets_by_channel(survey.id)
    of_survey = (
        sa.select(SurveyAnswer)
        .join(SurveyResponse, SurveyResponse.id == SurveyAnswer.response_id)
        .where(SurveyResponse.survey_id == survey.id)
        .subquery()
    )
    grouped = db.session.execute(
        sa.select(
            of_survey.c.question_id, of_survey.c.option_id, of_survey.c.number, sa.func.count()
        ).group_by(of_survey.c.question_id, of_survey.c.option_id, of_survey.c.number)
    ).all()
    respondents: dict[int, int] = {
        question_id: number
        for question_id, number in db.session.execute(
            sa.select(
                of_survey.c.question_id, sa.func.count(sa.distinct(of_survey.c.response_id))
            ).group_by(of_survey.c.question_id)
        ).all()
    }
    counts: dict[int, Bucket] = defaultdict(lambda: defaultdict(int))
    for question_id, option_id, number, count in grouped:
        bucket = counts[question_id]
        if option_id is not None:
            bucket[("o", option_id)] += count
            if number is not None:
                bucket[("rank", option_id, number)] += count
        elif number is not None:
            bucket[("n", number)] += count
        else:
            bucket[("o", None)] += count  # "other" with text
    return by_channel, counts, {int(q): int(n) for q, n in respondents.items()}


def _row(label: str, count: int | None, n: int, hidden: bool) -> dict[str, Any]:
    if hidden or count is None or n <= 0:
        return {"label": label, "count": None, "share": None, "low": None, "high": None}
    successes = min(count, n)  # noisy counts (DP) may exceed a noisy total
    low, high = wilson_interval(successes, n)
    return {"label": label, "count": count, "share": successes / n, "low": low, "high": high}


def _ranking_entry(entry: dict[str, Any], question: Question, bucket: Bucket, k: int) -> None:
    """Fill mean places, only when no place of any option is hidden (they would be solvable)."""
    places = len(question.options)
    distributions = [
        [bucket.get(("rank", option.id, place), 0) for place in range(1, places + 1)]
        for option in question.options
    ]
    if not all(derived_figures_allowed(counts, k) for counts in distributions):
        entry["withheld"] = "small_groups"
        return
    rows = []
    for option, counts in zip(question.options, distributions, strict=True):
        estimate = mean_interval(dict(enumerate(counts, start=1)), 1, places)
        rows.append(
            {
                "label": option.label,
                "label_en": option.label_en,
                "option": True,
                "mean": estimate.mean,
                "low": estimate.low,
                "high": estimate.high,
                "places": places,
            }
        )
    entry["rows"] = sorted(rows, key=lambda row: row["mean"])


def _category_entry(
    entry: dict[str, Any], question: Question, values: list[int], n: int, k: int
) -> None:
    """Fill counts and shares, hidden below k; a scale's mean only beside a full distribution."""
    keys = category_keys(question)
    if question.kind == QuestionKind.multiple:
        # Each option is its own yes/no count over n: no partition to subtract from.
        hidden = [0 < value < k for value in values]
    else:
        hidden = hidden_cells(values, k)
    if question.kind == QuestionKind.scale and derived_figures_allowed(values, k):
        estimate = mean_interval(dict(enumerate(values, start=1)))
        entry["mean"] = {"mean": estimate.mean, "low": estimate.low, "high": estimate.high}
    entry["rows"] = [
        _row(label, value, n, flag)
        for (_key, label), value, flag in zip(keys, values, hidden, strict=True)
    ]
    _mark_option_rows(entry["rows"], [key for key, _label in keys], question)


def question_texts_en(survey: Survey) -> dict[int, str | None]:
    """Return today's English text of each question (releases keep only the German one)."""
    return {question.id: question.text_en for question in survey.questions()}


def _mark_option_rows(rows: list[dict[str, Any]], keys: list[Any], question: Question) -> None:
    """Give rows that show an option's own text its English text (`label_en`, maybe None).

    Only those are staff's German texts; numbers and words like "Yes" or "Other" are already in
    the page's language, so the results page marks only option rows lang="de" on fallback.
    """
    english = {option.id: option.label_en for option in question.options}
    for row, key in zip(rows, keys, strict=True):
        if key[0] == "o" and key[1] is not None:
            row["option"] = True
            row["label_en"] = english.get(key[1])


def _counts_of(
    question: Question, bucket: Bucket, respondents: int, noise: Noise | None
) -> tuple[int, list[int]]:
    """Return a question's respondents and category counts, noisy when noise is given."""
    values = [bucket.get(key, 0) for key, _label in category_keys(question)]
    if noise is None:
        return respondents, values
    if question.kind == QuestionKind.multiple:
        chosen = question.max_choices or len(values)
        return noise.count(respondents), noise.counts(values, chosen)
    if values:  # a partition: every respondent is in one cell, so n is their sum
        noisy = noise.histogram(values)
        return sum(noisy), noisy
    return noise.count(respondents), []


def _question_entry(
    question: Question, bucket: Bucket, respondents: int, k: int, noise: Noise | None
) -> dict[str, Any]:
    """Return the publishable entry of one question (texts are added when shown)."""
    n, values = _counts_of(question, bucket, respondents, noise)
    entry: dict[str, Any] = {
        "id": question.id,
        "text": question.text,
        "kind": question.kind.value,
        "randomised": question.is_randomised,
        "n": n if n >= k else None,
        "rows": [],
        "mean": None,
        "rr": None,
        "texts": [] if question.kind in TEXT_KINDS or question.has_other else None,
        "suppressed": n < k,
    }
    if n < k:
        return entry
    if question.kind == QuestionKind.yes_no and question.is_randomised:
        share, low, high = randomised_response_estimate(values[0], n, RR_TRUTH_PROBABILITY)
        entry["rr"] = {"share": share, "low": low, "high": high}
    elif question.kind == QuestionKind.ranking:
        if noise is not None:
            entry["withheld"] = "dp"  # mean places are not noised: not released under DP
        else:
            _ranking_entry(entry, question, bucket, k)
    elif values:
        _category_entry(entry, question, values, n, k)
    return entry


def _channel_split(by_channel: dict[Channel, int], k: int) -> dict[str, int | None] | None:
    """Return the answer sets online and on paper, None where a count must stay hidden.

    None at all when nothing came on paper (there is no split to tell). The two counts are a
    partition of the published n, so one below k hides the other too (`hidden_cells`).
    """
    online, paper = by_channel[Channel.online], by_channel[Channel.paper]
    if paper == 0:
        return None
    hidden = hidden_cells([online, paper], k)
    return {"online": None if hidden[0] else online, "paper": None if hidden[1] else paper}


def compute_results(survey: Survey, noise: Noise | None = None) -> dict[str, Any]:
    """Return the publishable results from the answer tables (three queries).

    With `noise`, every count is replaced by a noisy one *before* any suppression decision,
    and the split by channel (online, paper) is not released: it would need noise of its own.
    The result is plain JSON data, so it can be stored as a release and as the snapshot that
    outlives the raw answers. Labels are in the survey's language; the view adds sentences.
    """
    k = min_group_size()
    by_channel, counts, respondents = _tally(survey)
    n_total = sum(by_channel.values())
    channels = _channel_split(by_channel, k) if noise is None else None
    if noise is not None:
        n_total = noise.count(n_total)
    questions = [
        _question_entry(q, counts.get(q.id, {}), respondents.get(q.id, 0), k, noise)
        for q in survey.questions()
    ]
    return {
        "n": n_total if n_total >= k else None,
        "k": k,
        "suppressed": n_total < k,
        "channels": channels if n_total >= k else None,
        "questions": questions,
        "dp_epsilon": noise.epsilon if noise is not None else None,
    }


def published_texts(survey: Survey) -> dict[int, list[str]]:
    """Return the published free texts by question, only where at least k are (one query)."""
    texts: dict[int, list[str]] = defaultdict(list)
    for question_id, text in db.session.execute(
        sa.select(SurveyAnswer.question_id, SurveyAnswer.text)
        .join(SurveyResponse, SurveyResponse.id == SurveyAnswer.response_id)
        .where(SurveyResponse.survey_id == survey.id, SurveyAnswer.review == TextReview.published)
    ):
        if text is not None:  # a text answer row always has its text; the column may be NULL
            texts[question_id].append(text)
    k = min_group_size()
    return {q: sorted(t, key=str.casefold) for q, t in texts.items() if len(t) >= k}


# --- releases -----------------------------------------------------------------------------------


def _release_payload(survey: Survey) -> tuple[dict[str, Any], float]:
    """Compute a release's payload and the ε it spends (noisy with differential privacy on)."""
    epsilon = dp_epsilon()
    noise = Noise(epsilon) if epsilon else None
    payload = compute_results(survey, noise)
    return payload, noise.spent if noise is not None else 0.0


def interim_release(survey: Survey) -> Release | None:
    """Bring the interim release up to date (only after k new answer sets) and return it.

    Nothing is released while the survey is open with differential privacy on.
    """
    if dp_epsilon():
        return release_of(results_key(survey.id))
    key = results_key(survey.id)
    k = min_group_size()
    n_now = storage.answer_set_count(survey.id)
    release = release_of(key)
    if release is None and n_now < k:
        return None
    published = release.n if release is not None and release.n is not None else 0
    pending = release.pending if release is not None else 0
    released_before = release.n if release is not None else None
    release = contribute(
        key,
        k,
        lambda: (n_now, _release_payload(survey)[0]),
        count=max(0, n_now - published - pending),
        lag=False,  # no lag: the final release withholds a remainder below k (_final_release)
    )
    if release.n != released_before:
        db.session.commit()
    return release


def _final_release(survey: Survey) -> None:
    """Make the final release in the closing transaction (after the whole-set rewrite)."""
    key = results_key(survey.id)
    k = min_group_size()
    n_now = storage.answer_set_count(survey.id)
    release = db.session.get(Release, key, with_for_update=True)
    last = release.n if release is not None and release.payload is not None else None
    if (
        release is not None
        and release.payload is not None
        and last is not None
        and (0 < n_now - last < k)
    ):
        release.payload = {**release.payload, "final": True, "withheld": n_now - last}
        release.released_on = utcnow().date()
        return
    payload, cost = _release_payload(survey)
    if cost and epsilon_spent(survey.id) + cost > dp_budget():
        payload = {
            "n": None,
            "k": k,
            "suppressed": True,
            "questions": [],
            "dp_epsilon": dp_epsilon(),
            "budget_exhausted": True,
        }
        cost = 0.0
    payload.update(final=True, withheld=0)
    release_now(key, lambda: (n_now, payload), epsilon=cost)


def is_final(release: Release | None) -> bool:
    """Return whether a release is a survey's final one."""
    return release is not None and bool((release.payload or {}).get("final"))


def close_survey(survey: Survey) -> Release | None:
    """After the window: rewrite the whole answer set and make the final release (once)."""
    key = results_key(survey.id)
    if not is_final(release_of(key)):
        storage.rewrite_answer_set(
            survey.id,
            unless=lambda: is_final(db.session.get(Release, key, populate_existing=True)),
            before_commit=lambda: _final_release(survey),
        )
    return release_of(key)


def is_preparing(survey: Survey) -> bool:
    """Return whether an ended survey waits to be closed (by cron or a staff member)."""
    return survey.has_ended() and not is_final(release_of(results_key(survey.id)))


def _release_for_view(survey: Survey) -> Release | None:
    """Return the release to show now: interim while open; after the end the final one only.

    Closing (the whole-set rewrite) never runs on a visitor's request: `flask surveys flush`
    (cron) or a staff member's close does it. Until then there is no release to show (None)
    and the page says the results are being prepared.
    """
    if not survey.has_ended():
        return interim_release(survey)
    release = release_of(results_key(survey.id))
    return release if is_final(release) else None


def _empty(k: int) -> dict[str, Any]:
    return {"n": None, "k": k, "suppressed": True, "questions": [], "dp_epsilon": dp_epsilon()}


def survey_results(survey: Survey) -> dict[str, Any]:
    """Return the results to show: the snapshot after purge, else the current release.

    Adds the live free-text lists and what the page must say about the release: whether it
    is final, how many answer sets it withholds or does not contain yet, and the ε spent.
    """
    if survey.results_snapshot is not None:
        return survey.results_snapshot
    k = min_group_size()
    release = _release_for_view(survey)
    data = copy.deepcopy(release.payload) if release and release.payload else _empty(k)
    texts = published_texts(survey)
    for entry in data["questions"]:
        if entry["texts"] is not None:
            entry["texts"] = texts.get(entry["id"], [])
    released = (release.n or 0) if release is not None and release.payload is not None else 0
    data["withheld"] = data.get("withheld", 0)
    data["unreleased"] = (
        0
        if survey.has_ended()
        else max(
            0, storage.answer_set_count(survey.id) + storage.staged_count(survey.id) - released
        )
    )
    data["dp_pending"] = bool(dp_epsilon()) and not survey.has_ended()
    data["preparing"] = survey.has_ended() and release is None
    data["epsilon_spent"] = epsilon_spent(survey.id) if dp_epsilon() else None
    data["epsilon_budget"] = dp_budget() if dp_epsilon() else None
    return data


def final_channels(surveys: list[Survey]) -> dict[int, dict[str, int | None]]:
    """Return the published split by channel of closed surveys that had paper (one query)."""
    splits = {s.id: s.results_snapshot.get("channels") for s in surveys if s.results_snapshot}
    keys = {results_key(s.id): s.id for s in surveys if not s.results_snapshot}
    for key, payload in db.session.execute(
        sa.select(Release.key, Release.payload).where(Release.key.in_(list(keys)))
    ):
        if payload and payload.get("final"):
            splits[keys[key]] = payload.get("channels")
    return {survey_id: split for survey_id, split in splits.items() if split}


def current_population(survey: Survey) -> tuple[Release | None, int]:
    """Return the current results release and how many answer sets the tables hold now.

    A breakdown (cross-tab, CSV) may be made only when both agree: otherwise it would describe
    answer sets the release leaves out, and comparing the two would reveal them.
    """
    return _release_for_view(survey), storage.answer_set_count(survey.id)

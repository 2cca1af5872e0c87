"""The published ballot file and the results computed from it alone (also by a recount)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Mapping
from typing import Any

import numpy as np
import sqlalchemy as sa

from kldialog.kernel.db import db
from kldialog.kernel.stats import (
    tiers_from_rank_intervals,
    wilson_interval,
)
from kldialog.priorities.models import (
    Method,
    PriorityRound,
    RoundProject,
    RoundResult,
)
from kldialog.projects.models import Category, Project

BALLOT_FORMAT = "kldialog-ballots-1"  # online ballots only
CHANNEL_FORMAT = "kldialog-ballots-2"  # a round that offers paper: ballots carry their channel
CHANNELS = ("online", "paper")


def ballot_file_text(
    round_: PriorityRound,
    entries: list[RoundProject],
    ballots: list[dict[str, int]],
    channels: list[str] | None = None,
    *,
    mark_channels: bool = True,
) -> str:
    """Return the published ballot file: rules, projects, then one anonymous ballot per line.

    No ids, no times, no order that means anything: the ballots were shuffled by the caller.
    Everything a recount needs is in the file itself. With `channels` (a round that offers
    paper) the file says how many ballots came by each channel and, when `mark_channels`,
    which channel each ballot came by; nothing else about them.
    """
    header: dict[str, Any] = {
        "format": BALLOT_FORMAT if channels is None else CHANNEL_FORMAT,
        "round": {
            "title": round_.title,
            "method": round_.method.value,
            "max_choices": round_.max_choices,
            "budget": round_.budget,
            "max_per_project": round_.max_per_project,
            "closes_at": round_.closes_at.replace(tzinfo=round_.closes_at.tzinfo or dt.UTC)
            .astimezone(dt.UTC)
            .isoformat(timespec="minutes"),
        },
        "projects": [
            {
                "key": entry.project.slug,
                "title": entry.project.title,
                "category": entry.project.category.name,
            }
            for entry in sorted(entries, key=lambda entry: entry.project.slug)
        ],
    }
    items: list[Any] = list(ballots)
    if channels is not None:
        header["channels"] = {name: channels.count(name) for name in CHANNELS}
        items = [
            {"channel": channel, "choices": b} if mark_channels else {"choices": b}
            for channel, b in zip(channels, ballots, strict=True)
        ]
    head = json.dumps(header, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    lines = [json.dumps(b, sort_keys=True, separators=(",", ":")) for b in items]
    body = ",\n".join(lines)
    return head[:-1] + ',"ballots":[\n' + body + ("\n" if lines else "") + "]}\n"


class BallotFileError(ValueError):
    """The ballot file is not one KL.dialog published (or was changed)."""


def _read_channels(document: dict[str, Any]) -> dict[str, int]:
    """Check a channel file's counts and marks; leave plain {project: points} ballots behind."""
    ballots = document["ballots"]
    if document["format"] == BALLOT_FORMAT:
        return {"online": len(ballots), "paper": 0}
    counts = document.get("channels")
    if (
        not isinstance(counts, dict)
        or set(counts) != set(CHANNELS)
        or not all(
            isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in counts.values()
        )
        or sum(counts.values()) != len(ballots)
    ):
        raise BallotFileError("'channels' must count the ballots of each channel")
    marks: list[Any] = []
    for number, item in enumerate(ballots, start=1):
        if (
            not isinstance(item, dict)
            or set(item) - {"channel", "choices"}
            or "choices" not in item
        ):
            raise BallotFileError(f"ballot {number} needs 'choices' (and at most a 'channel')")
        marks.append(item.get("channel"))
    if any(mark is not None for mark in marks):
        found = {name: marks.count(name) for name in CHANNELS}
        if None in marks or sum(found.values()) != len(marks) or found != counts:
            raise BallotFileError("the ballots' channels do not match the counts")
    document["ballots"] = [item["choices"] for item in ballots]
    return dict(counts)


def read_ballot_file(text: str) -> dict[str, Any]:
    """Parse and check a ballot file; raise BallotFileError saying what is wrong."""
    try:
        document = json.loads(text)
    except ValueError as error:
        raise BallotFileError(f"not JSON: {error}") from None
    if not isinstance(document, dict) or document.get("format") not in {
        BALLOT_FORMAT,
        CHANNEL_FORMAT,
    }:
        raise BallotFileError(f"not a {BALLOT_FORMAT} file")
    rules = document.get("round")
    projects = document.get("projects")
    ballots = document.get("ballots")
    if (
        not isinstance(rules, dict)
        or not isinstance(projects, list)
        or not isinstance(ballots, list)
    ):
        raise BallotFileError("the file needs 'round', 'projects' and 'ballots'")
    if rules.get("method") not in {m.value for m in Method}:
        raise BallotFileError("unknown method")
    document["channels"] = _read_channels(document)
    ballots = document["ballots"]
    keys = [p.get("key") for p in projects if isinstance(p, dict)]
    if len(keys) != len(projects) or len(set(keys)) != len(keys):
        raise BallotFileError("projects need unique keys")
    known = set(keys)
    for number, ballot in enumerate(ballots, start=1):
        if not isinstance(ballot, dict) or not ballot:
            raise BallotFileError(f"ballot {number} is empty or not an object")
        for key, points in ballot.items():
            if key not in known:
                raise BallotFileError(f"ballot {number} names unknown project {key!r}")
            if not isinstance(points, int) or isinstance(points, bool) or points < 1:
                raise BallotFileError(f"ballot {number} gives {points!r} to {key!r}")
    return document


def compute_results(text: str, *, samples: int = 200, min_group_size: int = 5) -> dict[str, Any]:
    """Compute a round's published results from its ballot file alone (also used to recount).

    Shares get Wilson 95 % intervals. Ranks get bootstrap 95 % intervals: the ballots are
    resampled with Poisson(1) weights `samples` times, with a random generator seeded from the
    file's SHA-256, so anyone recounting the same file gets exactly the same tiers.
    """
    document = read_ballot_file(text)
    method = Method(document["round"]["method"])
    projects = document["projects"]
    ballots = document["ballots"]
    index = {project["key"]: i for i, project in enumerate(projects)}
    n, p = len(ballots), len(projects)
    matrix = np.zeros((n, p), dtype=np.float64)
    for row, ballot in enumerate(ballots):
        for key, points in ballot.items():
            matrix[row, index[key]] = points
    supporters = (matrix > 0).sum(axis=0).astype(int)
    points = matrix.sum(axis=0).astype(int)
    metric = supporters if method == Method.approval else points
    summary: dict[str, Any] = {
        "format": document["format"],
        "method": method.value,
        "n": n,
        "channels": document["channels"],
        "min_group_size": min_group_size,
        "suppressed": n < min_group_size,
        "bootstrap_samples": samples,
        "projects": [],
        "categories": [],
    }
    if n < min_group_size:
        # With so few ballots, shares would tell who chose what; publish the count only.
        return summary
    ranks = 1 + (metric[None, :] > metric[:, None]).sum(axis=1)
    low, high = _bootstrap_rank_intervals(matrix, method, samples, text)
    order = sorted(range(p), key=lambda j: (-metric[j], projects[j]["title"], projects[j]["key"]))
    tiers = tiers_from_rank_intervals([(int(low[j]), int(high[j])) for j in order])
    for position, j in enumerate(order):
        share_low, share_high = wilson_interval(int(supporters[j]), n)
        summary["projects"].append(
            {
                "key": projects[j]["key"],
                "title": projects[j]["title"],
                "category": projects[j]["category"],
                "supporters": int(supporters[j]),
                "points": int(points[j]),
                "share": round(int(supporters[j]) / n, 6),
                "share_low": round(share_low, 6),
                "share_high": round(share_high, 6),
                "rank": int(ranks[j]),
                "rank_low": int(low[j]),
                "rank_high": int(high[j]),
                "tier": tiers[position],
            }
        )
    summary["categories"] = _category_rows(matrix, projects, supporters, points)
    return summary


def _category_rows(
    matrix: np.ndarray, projects: list[dict[str, Any]], supporters: np.ndarray, points: np.ndarray
) -> list[dict[str, Any]]:
    """Per category: ballots supporting at least one of its projects, with a Wilson interval."""
    n = matrix.shape[0]
    categories: dict[str, list[int]] = {}
    for j, project in enumerate(projects):
        categories.setdefault(project["category"], []).append(j)
    rows = []
    for name, columns in categories.items():
        reached = int((matrix[:, columns] > 0).any(axis=1).sum())
        share_low, share_high = wilson_interval(reached, n)
        rows.append(
            {
                "category": name,
                "ballots": reached,
                "points": int(points[columns].sum()),
                "supporters": int(supporters[columns].sum()),
                "share": round(reached / n, 6),
                "share_low": round(share_low, 6),
                "share_high": round(share_high, 6),
            }
        )
    return sorted(rows, key=lambda c: (-c["ballots"], c["category"]))


def _bootstrap_rank_intervals(
    matrix: np.ndarray, method: Method, samples: int, text: str
) -> tuple[np.ndarray, np.ndarray]:
    """Return the 2.5 % and 97.5 % bootstrap quantiles of every project's rank."""
    n, p = matrix.shape
    values = (matrix > 0).astype(np.float64) if method == Method.approval else matrix
    seed = int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "big")
    generator = np.random.Generator(np.random.PCG64(seed))
    rank_samples = np.empty((samples, p), dtype=np.int32)
    chunk = max(1, min(samples, 2_000_000 // max(n, 1)))  # keep the weight matrix small
    done = 0
    while done < samples:
        size = min(chunk, samples - done)
        weights = generator.poisson(1.0, size=(size, n)).astype(np.float64)
        totals = weights @ values  # (size, p): each project's total in each resample
        rank_samples[done : done + size] = 1 + (totals[:, None, :] > totals[:, :, None]).sum(axis=2)
        done += size
    low = np.quantile(rank_samples, 0.025, axis=0, method="lower")
    high = np.quantile(rank_samples, 0.975, axis=0, method="higher")
    return low, high


def round_result_data(result: RoundResult) -> dict[str, Any]:
    """Return the stored results and participation of a closed round."""
    data = json.loads(result.results)
    data["participation"] = json.loads(result.participation)
    return data


def add_english_names(results: list[dict[str, Any]], language: str) -> None:
    """Add today's English titles and category names to frozen results, for English pages.

    The frozen record (and its downloads) stays German. One query however many rounds, none
    for German pages (they show the record as it is).
    """
    if language != "en" or not results:
        return
    titles: dict[str, str] = {}
    names: dict[str, str] = {}
    for slug, title_en, name, name_en in db.session.execute(
        sa.select(Project.slug, Project.title_en, Category.name, Category.name_en)
        .join(Category, Project.category_id == Category.id)
        .where(sa.or_(Project.title_en.is_not(None), Category.name_en.is_not(None)))
    ):
        if title_en:
            titles[slug] = title_en
        if name_en:
            names[name] = name_en
    for data in results:
        for project in data.get("projects", []):
            project["title_en"] = titles.get(project["key"])
            project["category_en"] = names.get(project["category"])
        for category in data.get("categories", []):
            category["category_en"] = names.get(category["category"])


def results_csv_rows(data: Mapping[str, Any]) -> list[list[Any]]:
    """Return the aggregated results as CSV rows (header first)."""
    rows: list[list[Any]] = [
        [
            "tier",
            "rank_low",
            "rank_high",
            "project",
            "category",
            "supporters",
            "points",
            "share",
            "share_low_95",
            "share_high_95",
            "n",
        ]
    ]
    for project in data["projects"]:
        rows.append(
            [
                project["tier"],
                project["rank_low"],
                project["rank_high"],
                project["title"],
                project["category"],
                project["supporters"],
                project["points"],
                project["share"],
                project["share_low"],
                project["share_high"],
                data["n"],
            ]
        )
    return rows


def tier_groups(
    projects: list[dict[str, Any]], method: str = Method.approval.value
) -> list[tuple[int, list[dict[str, Any]]]]:
    """Group the results' projects by tier, each with the bar value that ranked it (`bar`).

    An approval round ranks by supporters, so its bars show the share of ballots; a points round
    ranks by points, so its bars show the share of all points given — otherwise a bar in a lower
    group could be longer than one above it. Within a group, longest bar first.
    """
    total_points = sum(int(p["points"]) for p in projects) if method == Method.points.value else 0
    groups: dict[int, list[dict[str, Any]]] = {}
    for project in projects:
        bar = project["points"] / total_points if total_points else project["share"]
        groups.setdefault(int(project["tier"]), []).append({**project, "bar": bar})
    return [
        (tier, sorted(members, key=lambda p: (-p["bar"], p["title"])))
        for tier, members in sorted(groups.items())
    ]

"""Priority round use cases, one module per topic; this module gathers them for callers.

Privacy: while a round is open a ballot row names its person (needed for "one ballot per
person" and "change until close"). Closing writes the ballot contents, shuffled and without
ids or times, into the published ballot file and deletes the ballot rows in the same
transaction, then rewrites the tables so no dead row keeps the link; from then on nothing
links a person to what they chose.

Topics: rounds (reading), staff (managing), ballots (casting; the ballot rules), totals
(released running totals), closing, results (ballot file, computation, recount), ratings,
releases (shared release rows). Import from here or from the topic module; never the other
way round (no topic module imports this one).
"""

from __future__ import annotations

from kldialog.priorities.ballots import (
    BallotRejected,
    ballots_of,
    cast_ballot,
    check_ballot,
    withdraw_ballot,
    withdraw_open_ballots,
)
from kldialog.priorities.closing import (
    CLOSE_REWRITES,
    close_ended_round,
    close_round,
    erase_dead_ballots,
    publish_result,
    result_of,
    rounds_due,
)
from kldialog.priorities.ratings import (
    RatingSummary,
    erase_ratings,
    my_ratings,
    rate_project,
    rating_key,
    rating_summaries,
    ratings_of,
)
from kldialog.priorities.releases import (
    ensure_release_row,
    insert_ignore,
)
from kldialog.priorities.results import (
    BALLOT_FORMAT,
    BallotFileError,
    add_english_names,
    ballot_file_text,
    compute_results,
    read_ballot_file,
    results_csv_rows,
    round_result_data,
)
from kldialog.priorities.rounds import (
    BallotGroup,
    all_rounds,
    ballot_groups,
    current_choices,
    get_round,
    open_rounds_for_project,
    public_rounds,
    round_entries,
)
from kldialog.priorities.staff import (
    RoundFields,
    ballot_candidates,
    create_round,
    default_project_ids,
    is_frozen,
    publish_round,
    update_round,
)
from kldialog.priorities.totals import (
    RunningTotals,
    TotalsRow,
    count_ballot_change,
    running_totals,
    totals_key,
)

__all__ = [
    "BALLOT_FORMAT",
    "BallotFileError",
    "BallotGroup",
    "BallotRejected",
    "CLOSE_REWRITES",
    "RatingSummary",
    "RoundFields",
    "RunningTotals",
    "TotalsRow",
    "all_rounds",
    "ballot_candidates",
    "ballot_file_text",
    "ballot_groups",
    "ballots_of",
    "cast_ballot",
    "check_ballot",
    "close_ended_round",
    "close_round",
    "compute_results",
    "count_ballot_change",
    "create_round",
    "current_choices",
    "default_project_ids",
    "ensure_release_row",
    "erase_dead_ballots",
    "erase_ratings",
    "get_round",
    "insert_ignore",
    "is_frozen",
    "my_ratings",
    "open_rounds_for_project",
    "public_rounds",
    "publish_result",
    "publish_round",
    "rate_project",
    "rating_key",
    "rating_summaries",
    "ratings_of",
    "read_ballot_file",
    "result_of",
    "results_csv_rows",
    "round_entries",
    "add_english_names",
    "round_result_data",
    "rounds_due",
    "running_totals",
    "totals_key",
    "update_round",
    "withdraw_ballot",
    "withdraw_open_ballots",
]

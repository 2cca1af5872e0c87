"""Links between the pages of an API list."""

from __future__ import annotations

from flask import url_for

from kldialog.api import schemas


def page_links(endpoint: str, params: dict[str, str], page: int, pages: int) -> schemas.PageLinks:
    """Return self/first/last/next/prev links that repeat the understood parameters."""

    def link(number: int) -> str:
        return url_for(endpoint, **{**params, "page": str(number)}, _external=True)

    return schemas.PageLinks(
        self=link(page),
        first=link(1),
        last=link(pages),
        next=link(page + 1) if page < pages else None,
        prev=link(page - 1) if page > 1 else None,
    )

"""The staff console's categories: list with counts, create, rename, reorder, delete."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from flask_babel import lazy_ngettext
from sqlalchemy.exc import IntegrityError

from kldialog.auth.models import User
from kldialog.kernel.audit import audit
from kldialog.kernel.db import db
from kldialog.kernel.errors import RuleViolation
from kldialog.projects.models import (
    Category,
    Project,
    search_key,
)
from kldialog.projects.reading import all_categories
from kldialog.projects.rules import LOST_RACE, MAX_ID, clean_line, limited, slugify


def categories_with_counts() -> list[tuple[Category, int]]:
    """Return every category in roadmap order with its number of projects (all visibilities)."""
    rows = db.session.execute(
        sa.select(Category, sa.func.count(Project.id))
        .outerjoin(Project, Project.category_id == Category.id)
        .group_by(Category.id)
        .order_by(Category.position, Category.name, Category.id)
    ).all()
    return [(category, count) for category, count in rows]


def get_category(category_id: int) -> Category | None:
    """Return a category by id, or None, also for absurd ids."""
    if not 0 < category_id <= MAX_ID:
        return None
    return db.session.get(Category, category_id)


def _category_name(name: str, current: Category | None) -> str:
    """Clean a category name and refuse one that exists already (ignoring case and accents)."""
    name = limited("name", clean_line(name))
    if not name:
        raise RuleViolation(_l("Please enter a name."), field="name")
    folded = search_key(name)
    for other in db.session.scalars(sa.select(Category)):
        if other is not current and search_key(other.name) == folded:
            raise RuleViolation(
                _l("A category called “%(name)s” already exists.", name=other.name), field="name"
            )
    return name


def _category_taken(name: str) -> RuleViolation:
    db.session.rollback()
    return RuleViolation(
        _l("A category called “%(name)s” already exists.", name=name), field="name"
    )


def _english_name(name_en: str) -> str | None:
    """Clean an optional English name; empty means "not translated" (None)."""
    return limited("name", clean_line(name_en), "name_en") or None


def create_category(actor: User, name: str, name_en: str = "") -> Category:
    """Add a category at the end of the roadmap order (with an optional English name)."""
    name = _category_name(name, None)
    english = _english_name(name_en)
    taken = set(db.session.scalars(sa.select(Category.slug)))
    slug = base = slugify(name, 80) or "kategorie"
    counter = 2
    while slug in taken:
        slug, counter = f"{base}-{counter}", counter + 1
    last = db.session.scalar(sa.select(sa.func.max(Category.position)))
    category = Category(
        name=name, name_en=english, slug=slug, position=0 if last is None else last + 1
    )
    db.session.add(category)
    try:
        db.session.flush()
        audit(
            actor, "category.create", "category", category.id, name=name, name_en=english, slug=slug
        )
        db.session.commit()
    except IntegrityError as error:
        raise _category_taken(name) from error
    return category


def rename_category(actor: User, category: Category, name: str, name_en: str | None = None) -> bool:
    """Rename a category (its address stays, so links keep working); False if unchanged.

    `name_en` None keeps the English name; "" removes it.
    """
    name = _category_name(name, category)
    english = category.name_en if name_en is None else _english_name(name_en)
    if name == category.name and english == category.name_en:
        return False
    old, old_en = category.name, category.name_en
    category.name, category.name_en = name, english
    details: dict[str, Any] = {"old": old, "new": name}
    if english != old_en:
        details |= {"old_en": old_en, "new_en": english}
    audit(actor, "category.rename", "category", category.id, **details)
    try:
        db.session.commit()
    except IntegrityError as error:
        raise _category_taken(name) from error
    return True


def move_category(actor: User, category: Category, offset: int) -> bool:
    """Move a category up (-1) or down (+1) in the roadmap order; False at either end."""
    ordered = all_categories()
    index = next(i for i, item in enumerate(ordered) if item.id == category.id)
    target = index + offset
    if offset not in (-1, 1) or not 0 <= target < len(ordered):
        return False
    ordered[index], ordered[target] = ordered[target], ordered[index]
    for position, item in enumerate(ordered):
        if item.position != position:
            item.position = position
    audit(actor, "category.move", "category", category.id, position=target + 1)
    db.session.commit()
    return True


def delete_category(actor: User, category: Category) -> None:
    """Delete a category that has no projects; refuse with a message otherwise."""
    count = (
        db.session.scalar(
            sa.select(sa.func.count(Project.id)).where(Project.category_id == category.id)
        )
        or 0
    )
    if count:
        raise RuleViolation(
            lazy_ngettext(
                "The category “%(name)s” still contains %(num)d project. "
                "Move it to another category first.",
                "The category “%(name)s” still contains %(num)d projects. "
                "Move them to other categories first.",
                count,
                name=category.name,
            )
        )
    audit(actor, "category.delete", "category", category.id, name=category.name)
    db.session.delete(category)
    try:
        db.session.commit()
    except IntegrityError as error:
        db.session.rollback()
        raise RuleViolation(LOST_RACE) from error

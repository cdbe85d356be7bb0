"""The review domain's handle on the service database: its transactions, configuration and rules.

Every review function takes a :class:`ReviewStore` first and the clock (``now``, timezone-aware) last, and
runs as one short transaction that also appends its audit entry, so an action and its record commit together.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from dvt_us.service.config import ReviewConfig
from dvt_us.service.db import Database
from dvt_us.service.db.engine import READ_ONLY
from dvt_us.service.review.discordance import DiscordanceRules
from dvt_us.service.review.passwords import PasswordHasher


def aware(now: datetime) -> datetime:
    """``now`` itself; a ValueError for a naive datetime (no local time is ever guessed)."""
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError(f"naive datetime {now.isoformat()}: pass a timezone-aware (UTC) datetime")
    return now


class ReviewStore:
    """Reader review on a migrated service :class:`~dvt_us.service.db.Database` (SQLite or PostgreSQL).

    Parameters
    ----------
    database
        Upgraded to head (revision 0002 or later creates the review tables).
    config
        The ``review:`` section of the service configuration.
    """

    def __init__(self, database: Database, config: ReviewConfig | None = None) -> None:
        self.database = database
        self.config = config or ReviewConfig()
        self.rules = DiscordanceRules.from_config(self.config)
        self.passwords = PasswordHasher(self.config.password_hash, self.config.min_password_length)
        self._read_sessions = sessionmaker(database.engine.execution_options(**{READ_ONLY: True}),
                                           expire_on_commit=False)

    def __repr__(self) -> str:
        return f"ReviewStore({self.database!r})"

    @property
    def dialect(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self.database.engine.dialect.name

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A writing transaction (SQLite: ``BEGIN IMMEDIATE``), committed on success."""
        with self.database.sessions() as session, session.begin():
            yield session

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A read-only transaction (SQLite: a deferred ``BEGIN``; never waits for writers)."""
        with self._read_sessions() as session, session.begin():
            yield session

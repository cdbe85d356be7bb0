"""Password hashing with argon2id (argon2-cffi): hash, verify, and whether a stored hash needs rehashing."""

from __future__ import annotations

import argon2
from argon2.exceptions import InvalidHashError, VerificationError

from dvt_us.service.config import PasswordHashConfig


class PasswordHasher:
    """argon2id under the configured parameters; a stored hash made under others :meth:`needs_rehash`."""

    def __init__(self, config: PasswordHashConfig, min_length: int = 12) -> None:
        self.min_length = min_length
        self._hasher = argon2.PasswordHasher(time_cost=config.time_cost, memory_cost=config.memory_kib,
                                             parallelism=config.parallelism, type=argon2.Type.ID)
        self._dummy = self._hasher.hash("dvt-us: no such user")

    def check_policy(self, password: str) -> None:
        """Raise ValueError when ``password`` is too short or blank."""
        if len(password) < self.min_length or not password.strip():
            raise ValueError(f"a password has at least {self.min_length} characters")

    def hash(self, password: str) -> str:
        """The PHC string (``$argon2id$v=19$m=...``) of a password that meets the policy."""
        self.check_policy(password)
        return self._hasher.hash(password)

    def verify(self, stored_hash: str | None, password: str) -> bool:
        """Whether ``password`` matches ``stored_hash``; ``None`` (unknown user) costs the same time and is False."""
        try:
            return self._hasher.verify(stored_hash or self._dummy, password) and stored_hash is not None
        except (VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, stored_hash: str) -> bool:
        """The hash was made under other parameters (or another argon2 variant)."""
        return self._hasher.check_needs_rehash(stored_hash)

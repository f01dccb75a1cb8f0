"""Op ids: unique, non-zero 64-bit numbers.

An op id is `prefix << 24 | counter`: a 40-bit prefix drawn from the
operating system's CSPRNG (`secrets`), never 0, and a 24-bit counter that
counts up from 0. When the counter wraps (after 16,777,216 ids) the
generator draws a fresh prefix.

Why this is safe:

* Within one block (one prefix), ids are distinct by construction: the
  counter never repeats.
* Two blocks collide only if their prefixes are equal. With B blocks ever
  drawn by all clients of one ledger within the op-id retention, the chance
  that any two prefixes are equal is at most B² / 2⁴¹ (birthday bound).
  A billion ops a day (B ≈ 60 blocks) gives about 2·10⁻⁹; even 10,000
  client processes each starting a block a day (B = 10⁴) give 5·10⁻⁵.
  Fully random 64-bit ids would give n² / 2⁶⁵, i.e. 3% for a billion ids.
* No clock is involved, so clock steps and restarts cannot repeat an id;
  a restarted process draws a new prefix.
* The prefix is never 0, so the id is never 0 (op_id_zero).

A retry must reuse the op id of the call it retries: keep the id (and the
call's issued_ns) beside the operation until its answer is known.
"""

from __future__ import annotations

import secrets
import threading

__all__ = ["OpIdGenerator", "new_op_id"]

_COUNTER_BITS = 24
_PREFIX_BITS = 64 - _COUNTER_BITS


class OpIdGenerator:
    """Thread-safe source of unique non-zero op ids."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._prefix = self._draw()
        self._counter = 0

    @staticmethod
    def _draw() -> int:
        while True:
            p = secrets.randbits(_PREFIX_BITS)
            if p:
                return p

    def __call__(self) -> int:
        return self.next()

    def next(self) -> int:
        with self._lock:
            if self._counter >> _COUNTER_BITS:
                self._prefix = self._draw()
                self._counter = 0
            n = self._counter
            self._counter = n + 1
            return (self._prefix << _COUNTER_BITS) | n

    def take(self, n: int) -> list[int]:
        """n fresh ids."""
        return [self.next() for _ in range(n)]


_default = OpIdGenerator()


def new_op_id() -> int:
    """A fresh op id from the process-wide generator."""
    return _default.next()

"""Builders for every op kind, and linked chains.

Each builder returns an `Op`. `op_id=None` (the default) takes a fresh id
from the process-wide generator (coffer.opid); pass an explicit id to retry
an op. `currency` on an op other than create_account is a guard: 0, or the
currency the account must have (else `currency_mismatch`).
"""

from __future__ import annotations

from collections.abc import Iterable

from .opid import new_op_id
from .protocol import (ACCOUNT_FLAG_CAP, ACCOUNT_FLAG_OVERDRAFT, OP_FLAG_LINKED,
                       Op, OpKind)

__all__ = ["create_account", "credit", "debit", "transfer", "hold", "capture",
           "release", "chain"]


def _id(op_id: int | None) -> int:
    return new_op_id() if op_id is None else op_id


def create_account(account_id: int, currency: int, *,
                   overdraft_limit: int | None = None,
                   balance_cap: int | None = None, op_id: int | None = None,
                   reason: int = 0, user_data: int = 0) -> Op:
    """A new account in `currency` (non-zero). `overdraft_limit`: the
    balance may go down to -limit (sets account flag bit 0). `balance_cap`:
    credits above it are refused (bit 1)."""
    flags = 0
    amount = aux = 0
    if overdraft_limit is not None:
        flags |= ACCOUNT_FLAG_OVERDRAFT
        amount = overdraft_limit
    if balance_cap is not None:
        flags |= ACCOUNT_FLAG_CAP
        aux = balance_cap
    return Op(OpKind.CREATE_ACCOUNT, _id(op_id), account_id, amount=amount,
              aux=aux, user_data=user_data, reason=reason, currency=currency,
              account_flags=flags)


def credit(account_id: int, amount: int, *, op_id: int | None = None,
           currency: int = 0, reason: int = 0, user_data: int = 0) -> Op:
    return Op(OpKind.CREDIT, _id(op_id), account_id, amount=amount,
              user_data=user_data, reason=reason, currency=currency)


def debit(account_id: int, amount: int, *, op_id: int | None = None,
          currency: int = 0, reason: int = 0, user_data: int = 0) -> Op:
    return Op(OpKind.DEBIT, _id(op_id), account_id, amount=amount,
              user_data=user_data, reason=reason, currency=currency)


def transfer(from_account: int, to_account: int, amount: int, *,
             op_id: int | None = None, currency: int = 0, reason: int = 0,
             user_data: int = 0) -> Op:
    return Op(OpKind.TRANSFER, _id(op_id), from_account, to_account,
              amount=amount, user_data=user_data, reason=reason,
              currency=currency)


def hold(account_id: int, amount: int, *, timeout_ms: int = 0,
         op_id: int | None = None, currency: int = 0, reason: int = 0,
         user_data: int = 0) -> Op:
    """Reserve `amount`; the hold's id is this op's op_id. `timeout_ms` 0:
    never expires."""
    return Op(OpKind.HOLD, _id(op_id), account_id, amount=amount,
              aux=timeout_ms, user_data=user_data, reason=reason,
              currency=currency)


def capture(account_id: int, hold_id: int, to_account: int, amount: int = 0, *,
            op_id: int | None = None, currency: int = 0, reason: int = 0,
            user_data: int = 0) -> Op:
    """Move `amount` (0: all of the hold) of hold `hold_id` on `account_id`
    to `to_account`; closes the hold."""
    return Op(OpKind.CAPTURE, _id(op_id), account_id, to_account, amount=amount,
              aux=hold_id, user_data=user_data, reason=reason,
              currency=currency)


def release(account_id: int, hold_id: int, *, op_id: int | None = None,
            currency: int = 0, reason: int = 0, user_data: int = 0) -> Op:
    return Op(OpKind.RELEASE, _id(op_id), account_id, aux=hold_id,
              user_data=user_data, reason=reason, currency=currency)


def chain(ops: Iterable[Op]) -> list[Op]:
    """The ops as one linked chain (all or nothing): the linked flag on every
    op but the last, cleared on the last. Returns new Op objects."""
    out = [Op(o.kind, o.op_id, o.account_id, o.other_account_id, o.amount,
              o.aux, o.user_data, o.reason, o.currency, o.account_flags,
              o.flags | OP_FLAG_LINKED, o.reserved) for o in ops]
    if out:
        out[-1].flags &= ~OP_FLAG_LINKED
    return out

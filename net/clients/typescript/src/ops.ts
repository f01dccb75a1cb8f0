// Builders for every op kind (PROTOCOL.md "Operations"), and op ids.

import { randomBytes } from "node:crypto";
import type { Op } from "./codec";
import { ACCOUNT_FLAG_CAP, ACCOUNT_FLAG_OVERDRAFT, OP_FLAG_LINKED, OpKind } from "./protocol";

/** Fields every builder takes: your references, the currency guard, chaining. */
export interface Common {
  opId: bigint;
  userData?: bigint;
  reason?: number;
  /** 0 (default): no guard; else the currency the account(s) must have (else currency_mismatch). */
  currency?: number;
  /** Chain with the next op (all or nothing). */
  linked?: boolean;
}

function base(kind: OpKind, c: Common, accountId: bigint): Op {
  return {
    opId: c.opId,
    accountId,
    kind,
    userData: c.userData ?? 0n,
    reason: c.reason ?? 0,
    currency: c.currency ?? 0,
    flags: c.linked ? OP_FLAG_LINKED : 0,
  };
}

export interface CreateAccountArgs extends Omit<Common, "currency"> {
  accountId: bigint;
  /** The account's currency (non-zero). */
  currency: number;
  /** The balance may go down to -overdraftLimit (sets the overdraft flag). */
  overdraftLimit?: bigint;
  /** A credit above this is refused (sets the cap flag). */
  balanceCap?: bigint;
}

export function createAccount(a: CreateAccountArgs): Op {
  const op = base(OpKind.CreateAccount, { ...a, currency: a.currency }, a.accountId);
  let flags = 0;
  if (a.overdraftLimit !== undefined) {
    flags |= ACCOUNT_FLAG_OVERDRAFT;
    op.amount = a.overdraftLimit;
  }
  if (a.balanceCap !== undefined) {
    flags |= ACCOUNT_FLAG_CAP;
    op.aux = a.balanceCap;
  }
  op.accountFlags = flags;
  return op;
}

export interface AmountArgs extends Common {
  accountId: bigint;
  amount: bigint;
}

export function credit(a: AmountArgs): Op {
  return { ...base(OpKind.Credit, a, a.accountId), amount: a.amount };
}

export function debit(a: AmountArgs): Op {
  return { ...base(OpKind.Debit, a, a.accountId), amount: a.amount };
}

export interface TransferArgs extends Common {
  /** Debited. */
  from: bigint;
  /** Credited. */
  to: bigint;
  amount: bigint;
}

export function transfer(a: TransferArgs): Op {
  return { ...base(OpKind.Transfer, a, a.from), otherAccountId: a.to, amount: a.amount };
}

export interface HoldArgs extends AmountArgs {
  /** The hold expires this long after the hold op; 0 or absent: never. */
  timeoutMs?: bigint;
}

/** Reserves `amount`; the hold's id is this op's opId. */
export function hold(a: HoldArgs): Op {
  return { ...base(OpKind.Hold, a, a.accountId), amount: a.amount, aux: a.timeoutMs ?? 0n };
}

export interface CaptureArgs extends Common {
  /** The held account. */
  accountId: bigint;
  holdId: bigint;
  destination: bigint;
  /** 0 or absent: all of the hold. */
  amount?: bigint;
}

export function capture(a: CaptureArgs): Op {
  return {
    ...base(OpKind.Capture, a, a.accountId),
    otherAccountId: a.destination,
    amount: a.amount ?? 0n,
    aux: a.holdId,
  };
}

export interface ReleaseArgs extends Common {
  accountId: bigint;
  holdId: bigint;
}

export function release(a: ReleaseArgs): Op {
  return { ...base(OpKind.Release, a, a.accountId), aux: a.holdId };
}

/** The ops given, each linked to the next except the last: one all-or-nothing chain. */
export function chain(ops: Op[]): Op[] {
  return ops.map((op, i) => ({
    ...op,
    flags: i < ops.length - 1 ? (op.flags ?? 0) | OP_FLAG_LINKED : (op.flags ?? 0) & ~OP_FLAG_LINKED,
  }));
}

const U64 = (1n << 64n) - 1n;

/**
 * Makes op ids: a random 64-bit starting point per generator (from the
 * system's CSPRNG), then consecutive values (skipping 0).
 *
 * Why this is safe: the ledger needs an op id to be unique among the ops it
 * remembers (op-id retention, 24 h by default). One generator never repeats
 * an id until it has made 2^64 of them. Two generators collide only if
 * their ranges overlap: for k generators that make n ids each, the chance is
 * about k^2 * n / 2^64 (linear in n, unlike ids drawn at random one by one,
 * where it grows as (k*n)^2 / 2^65): 1,000 processes making 10^9 ids each
 * within one retention period collide with probability about 5 * 10^-5.
 * A process that restarts makes a new generator, so it never reuses the
 * previous run's ids by counting from the same place. A retry must reuse
 * the op's id, so keep the id with the op you may retry; never make a new
 * one for a retry.
 */
export class OpIds {
  private next_: bigint;

  /** `start`: the first id (tests); default random. */
  constructor(start?: bigint) {
    this.next_ = start ?? randomBytes(8).readBigUInt64LE(0);
  }

  next(): bigint {
    let id = this.next_;
    if (id === 0n) id = 1n;
    this.next_ = (id + 1n) & U64;
    return id;
  }
}

const defaultIds = new OpIds();

/** A fresh op id from this process's generator (see OpIds). */
export function newOpId(): bigint {
  return defaultIds.next();
}

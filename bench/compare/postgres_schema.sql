-- PostgreSQL peer of the coffer-bench comparison (bench/load/postgres_target.cc
-- runs this file on every CreateAccounts; it must stay idempotent).
--
-- What a careful Django/Laravel service does for a guarded debit, in one
-- transaction: claim the op id in an idempotency table (a retry finds it and
-- returns the stored answer), the guarded UPDATE, a history row, the answer
-- stored on the idempotency row, COMMIT. The steps live in plpgsql functions
-- so one round trip carries a whole op: the same statements an ORM would send
-- one by one, without the round trips between them (the peer's best setting).
--
-- Result codes are Coffer's (engine/types.h): 0 ok, 12 account not found,
-- 16 insufficient funds (10 same account, for a transfer to itself).

CREATE TABLE IF NOT EXISTS accounts (
  id bigint PRIMARY KEY,
  balance bigint NOT NULL CHECK (balance >= 0)
);

-- One row per op id ever applied. code is NULL only inside the transaction
-- that claimed it (other transactions wait on the key until it commits).
CREATE TABLE IF NOT EXISTS idempotency_keys (
  op_id bigint PRIMARY KEY,
  code smallint,
  created_at timestamptz NOT NULL DEFAULT now()
);

-- Append-only account history; the index is what a service needs to list an
-- account's recent entries.
CREATE TABLE IF NOT EXISTS history (
  id bigserial PRIMARY KEY,
  account_id bigint NOT NULL,
  op_id bigint NOT NULL,
  amount bigint NOT NULL,  -- negative: debit
  balance_after bigint NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS history_account_idx ON history (account_id, id);

-- Guarded debit. Returns (code, duplicate).
CREATE OR REPLACE FUNCTION ledger_debit(p_op_id bigint, p_account bigint,
                                        p_amount bigint,
                                        OUT code smallint,
                                        OUT duplicate boolean)
LANGUAGE plpgsql AS $$
DECLARE
  new_balance bigint;
BEGIN
  INSERT INTO idempotency_keys (op_id) VALUES (p_op_id)
    ON CONFLICT (op_id) DO NOTHING;
  IF NOT FOUND THEN
    SELECT k.code INTO code FROM idempotency_keys k WHERE k.op_id = p_op_id;
    duplicate := true;
    RETURN;
  END IF;
  duplicate := false;
  UPDATE accounts SET balance = balance - p_amount
    WHERE id = p_account AND balance >= p_amount
    RETURNING balance INTO new_balance;
  IF FOUND THEN
    INSERT INTO history (account_id, op_id, amount, balance_after)
      VALUES (p_account, p_op_id, -p_amount, new_balance);
    code := 0;
  ELSIF EXISTS (SELECT 1 FROM accounts WHERE id = p_account) THEN
    code := 16;
  ELSE
    code := 12;
  END IF;
  UPDATE idempotency_keys SET code = ledger_debit.code
    WHERE op_id = p_op_id;
END;
$$;

-- Guarded transfer: both rows locked in id order (no deadlock between two
-- transfers in opposite directions), then debit and credit.
CREATE OR REPLACE FUNCTION ledger_transfer(p_op_id bigint, p_from bigint,
                                           p_to bigint, p_amount bigint,
                                           OUT code smallint,
                                           OUT duplicate boolean)
LANGUAGE plpgsql AS $$
DECLARE
  from_balance bigint;
  locked integer;
BEGIN
  INSERT INTO idempotency_keys (op_id) VALUES (p_op_id)
    ON CONFLICT (op_id) DO NOTHING;
  IF NOT FOUND THEN
    SELECT k.code INTO code FROM idempotency_keys k WHERE k.op_id = p_op_id;
    duplicate := true;
    RETURN;
  END IF;
  duplicate := false;
  PERFORM 1 FROM accounts WHERE id IN (p_from, p_to) ORDER BY id FOR UPDATE;
  GET DIAGNOSTICS locked = ROW_COUNT;
  SELECT balance INTO from_balance FROM accounts WHERE id = p_from;
  IF p_from = p_to THEN
    code := 10;  -- same account
  ELSIF locked < 2 THEN
    code := 12;
  ELSIF from_balance < p_amount THEN
    code := 16;
  ELSE
    UPDATE accounts SET balance = balance - p_amount WHERE id = p_from;
    UPDATE accounts SET balance = balance + p_amount WHERE id = p_to;
    INSERT INTO history (account_id, op_id, amount, balance_after)
      VALUES (p_from, p_op_id, -p_amount, from_balance - p_amount),
             (p_to, p_op_id, p_amount,
              (SELECT balance FROM accounts WHERE id = p_to));
    code := 0;
  END IF;
  UPDATE idempotency_keys SET code = ledger_transfer.code
    WHERE op_id = p_op_id;
END;
$$;

#!lua name=coffer_ledger
-- Redis peer of the coffer-bench comparison (bench/load/redis_target.cc
-- loads it with FUNCTION LOAD REPLACE on every CreateAccounts).
--
-- What a careful Redis service does for a guarded debit, atomically in one
-- function: look up the op id's idempotency key (a retry gets the stored
-- answer back as a duplicate), the guarded debit, an entry in the account's
-- capped history list, the answer stored under the op id. Run with
-- appendonly yes and appendfsync always, Redis writes and fsyncs the AOF
-- before it sends the replies of an event-loop pass (group commit).
--
-- Keys: a:<id> balance (an integer string), h:<id> history (newest first,
-- the last HISTORY_MAX entries), k:<op id> stored result code.
-- Result codes are Coffer's (engine/types.h): 0 ok, 10 same account,
-- 12 account not found, 16 insufficient funds.
--
-- ledger_apply: one call carries a request of one or more ops.
--   ARGV, 3 per op: kind ('d' debit, 't' transfer, 'l' lookup), op id, amount
--   KEYS, per op:   d: a:<id> k:<op> h:<id>
--                   t: a:<from> a:<to> k:<op> h:<from> h:<to>
--                   l: a:<id>
--   Reply, 3 per op: code, duplicate (0/1), balance (lookups: the balance as
--   a string, else 0).

local HISTORY_MAX = 1000
local KEY_TTL_S = 7 * 24 * 3600

local function remember(key, code)
  redis.call('SET', key, code, 'EX', KEY_TTL_S)
end

local function append_history(key, entry)
  redis.call('LPUSH', key, entry)
  redis.call('LTRIM', key, 0, HISTORY_MAX - 1)
end

local function debit(account, op_key, history, op_id, amount_text)
  local stored = redis.call('GET', op_key)
  if stored then return tonumber(stored), 1 end
  local balance = redis.call('GET', account)
  local code
  if not balance then
    code = 12
  elseif tonumber(balance) < tonumber(amount_text) then
    code = 16
  else
    local after = redis.call('DECRBY', account, amount_text)
    append_history(history, op_id .. ' -' .. amount_text .. ' ' .. after)
    code = 0
  end
  remember(op_key, code)
  return code, 0
end

local function transfer(from, to, op_key, history_from, history_to, op_id,
                        amount_text)
  local stored = redis.call('GET', op_key)
  if stored then return tonumber(stored), 1 end
  local code
  if from == to then
    code = 10
  else
    local from_balance = redis.call('GET', from)
    local to_balance = redis.call('GET', to)
    if not from_balance or not to_balance then
      code = 12
    elseif tonumber(from_balance) < tonumber(amount_text) then
      code = 16
    else
      local from_after = redis.call('DECRBY', from, amount_text)
      local to_after = redis.call('INCRBY', to, amount_text)
      append_history(history_from,
                     op_id .. ' -' .. amount_text .. ' ' .. from_after)
      append_history(history_to,
                     op_id .. ' +' .. amount_text .. ' ' .. to_after)
      code = 0
    end
  end
  remember(op_key, code)
  return code, 0
end

local function apply(keys, args)
  local reply = {}
  local k = 1
  for i = 1, #args, 3 do
    local kind, op_id, amount_text = args[i], args[i + 1], args[i + 2]
    local code, duplicate, balance = 0, 0, '0'
    if kind == 'd' then
      code, duplicate = debit(keys[k], keys[k + 1], keys[k + 2], op_id,
                              amount_text)
      k = k + 3
    elseif kind == 't' then
      code, duplicate = transfer(keys[k], keys[k + 1], keys[k + 2],
                                 keys[k + 3], keys[k + 4], op_id, amount_text)
      k = k + 5
    elseif kind == 'l' then
      local value = redis.call('GET', keys[k])
      if value then balance = value else code = 12 end
      k = k + 1
    else
      return redis.error_reply('ledger_apply: unknown op kind ' .. kind)
    end
    reply[#reply + 1] = code
    reply[#reply + 1] = duplicate
    reply[#reply + 1] = balance
  end
  return reply
end

redis.register_function('ledger_apply', apply)

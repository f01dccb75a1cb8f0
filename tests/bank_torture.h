// The bank workload and its checker, shared by the fail-stop and torture
// tests that drive a real cofferd over TCP (tests/cofferd_process.h).
//
// Every request a client sends is recorded with its answer, or as unknown
// when the connection died first. After a restart the checker
//   1. resends every unknown request: each op either applied before the
//      crash (answered duplicate, with its original result) or applies now,
//      so afterwards every op ever sent has exactly one known outcome;
//   2. resends every known request: each ordered op must come back
//      duplicate with the same code, seq and balance_after (an acknowledged
//      op that was lost would apply again instead, and be reported);
//   3. recomputes the whole ledger from those outcomes (balances, holds,
//      history counts, totals per currency) and compares it with the
//      server's: an op applied twice, or lost, or half applied shows up as a
//      difference; and checks every account against its floor.
// Header-only: tests/*_test.cc are globbed into one binary.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "engine/partition.h"
#include "engine/types.h"
#include "gtest/gtest.h"
#include "net/client.h"

namespace coffer::testing {

struct BankAccount {
  uint64_t id = 0;
  uint32_t currency = 0;
  uint64_t overdraft_limit = 0;  // house accounts mint: they may go negative
  uint64_t funding = 0;          // credited at set-up
};

// Two currencies, each with `per_currency` ordinary accounts (funded
// modestly, so that insufficient_funds happens) and one house account with
// an overdraft.
inline std::vector<BankAccount> BankAccounts(uint32_t per_currency = 32) {
  std::vector<BankAccount> accounts;
  for (uint32_t currency : {1u, 2u}) {
    const uint64_t base = currency * 1000;
    for (uint32_t i = 1; i <= per_currency; ++i) {
      accounts.push_back({base + i, currency, 0, 20'000});
    }
    accounts.push_back({base + 999, currency, 1'000'000'000, 0});
  }
  return accounts;
}

// One request as a client sent it, and its outcome once known.
struct SentRequest {
  std::vector<Op> ops;
  std::vector<OpResult> results;  // one per op once known
  bool known = false;             // answered, during the load or on resend
};

// The set-up request: every account created and funded.
inline SentRequest BankSetUpRequest(const std::vector<BankAccount>& accounts,
                                    uint64_t* next_op_id) {
  SentRequest r;
  for (const BankAccount& a : accounts) {
    Op op;
    op.op_id = (*next_op_id)++;
    op.kind = OpKind::kCreateAccount;
    op.account_id = a.id;
    op.currency = a.currency;
    if (a.overdraft_limit != 0) {
      op.account_flags = kAccountFlagOverdraft;
      op.amount = a.overdraft_limit;
    }
    r.ops.push_back(op);
  }
  for (const BankAccount& a : accounts) {
    if (a.funding == 0) continue;
    Op op;
    op.op_id = (*next_op_id)++;
    op.kind = OpKind::kCredit;
    op.account_id = a.id;
    op.amount = a.funding;
    r.ops.push_back(op);
  }
  return r;
}

// Random requests for one client: transfers within a shard and across
// shards, linked chains across shards, credits, debits, holds, captures,
// releases, and the odd currency mismatch.
class BankWorkload {
 public:
  BankWorkload(const std::vector<BankAccount>* accounts, uint32_t shard_count,
               uint64_t seed, std::atomic<uint64_t>* next_op_id)
      : accounts_(accounts),
        shard_count_(shard_count),
        rng_(seed),
        next_op_id_(next_op_id) {}

  std::vector<Op> Next() {
    const uint32_t pick = Uniform(100);
    std::vector<Op> ops;
    if (pick < 22) {
      ops.push_back(TransferOp(/*cross_shard=*/false));
    } else if (pick < 44) {
      ops.push_back(TransferOp(/*cross_shard=*/true));
    } else if (pick < 52) {
      // A linked chain across shards: all or nothing.
      const uint32_t n = 2 + Uniform(2);
      for (uint32_t i = 0; i < n; ++i) {
        Op op = TransferOp(/*cross_shard=*/i % 2 == 0);
        if (i + 1 < n) op.flags |= kOpFlagLinked;
        ops.push_back(op);
      }
    } else if (pick < 58) {
      // Independent ops in one request.
      const uint32_t n = 2 + Uniform(3);
      for (uint32_t i = 0; i < n; ++i) ops.push_back(TransferOp(Uniform(2)));
    } else if (pick < 63) {
      ops.push_back(Simple(OpKind::kCredit, Any(), 1 + Uniform(1000)));
    } else if (pick < 71) {
      ops.push_back(Simple(OpKind::kDebit, Any(), 1 + Uniform(2000)));
    } else if (pick < 80) {
      Op op = Simple(OpKind::kHold, Any(), 1 + Uniform(3000));
      ops.push_back(op);
    } else if (pick < 90 && !open_holds_.empty()) {
      ops.push_back(CloseHold(/*capture=*/true));
    } else if (pick < 95 && !open_holds_.empty()) {
      ops.push_back(CloseHold(/*capture=*/false));
    } else if (pick < 97) {
      // Across currencies: refused with currency_mismatch.
      const BankAccount& from = Any();
      const BankAccount& to = AnyOf(from.currency == 1 ? 2 : 1);
      ops.push_back(Pair(OpKind::kTransfer, from.id, to.id, 1 + Uniform(10)));
    } else {
      ops.push_back(TransferOp(/*cross_shard=*/true));
    }
    return ops;
  }

  // Tells the workload the outcome of a request it generated (holds that
  // were placed become candidates for capture and release).
  void Answered(const std::vector<Op>& ops,
                const std::vector<OpResult>& results) {
    for (size_t i = 0; i < ops.size() && i < results.size(); ++i) {
      if (ops[i].kind == OpKind::kHold && results[i].ok()) {
        open_holds_.push_back({ops[i].account_id, ops[i].op_id});
      }
    }
  }

  const BankAccount& Any() { return (*accounts_)[Uniform(accounts_->size())]; }

 private:
  uint32_t Uniform(uint64_t n) { return static_cast<uint32_t>(rng_() % n); }

  const BankAccount& AnyOf(uint32_t currency) {
    for (;;) {
      const BankAccount& a = Any();
      if (a.currency == currency) return a;
    }
  }

  // Another account of `from`'s currency, on the same shard or another one
  // when there is one (bounded search; falls back to any other account).
  const BankAccount& Partner(const BankAccount& from, bool cross_shard) {
    const uint32_t from_shard = ShardOf(from.id, shard_count_);
    const BankAccount* fallback = nullptr;
    for (int tries = 0; tries < 64; ++tries) {
      const BankAccount& to = AnyOf(from.currency);
      if (to.id == from.id) continue;
      fallback = &to;
      const bool other = ShardOf(to.id, shard_count_) != from_shard;
      if (other == cross_shard) return to;
    }
    if (fallback != nullptr) return *fallback;
    for (const BankAccount& to : *accounts_) {
      if (to.id != from.id && to.currency == from.currency) return to;
    }
    return from;  // unreachable with BankAccounts()
  }

  Op TransferOp(bool cross_shard) {
    const BankAccount& from = Any();
    const BankAccount& to = Partner(from, cross_shard);
    Op op = Pair(OpKind::kTransfer, from.id, to.id, 1 + Uniform(3000));
    if (Uniform(4) == 0) op.currency = from.currency;  // the guard, satisfied
    return op;
  }

  Op CloseHold(bool capture) {
    const size_t i = Uniform(open_holds_.size());
    const auto [account, hold_id] = open_holds_[i];
    open_holds_[i] = open_holds_.back();
    open_holds_.pop_back();
    const BankAccount* held = nullptr;
    for (const BankAccount& a : *accounts_) {
      if (a.id == account) held = &a;
    }
    Op op;
    op.op_id = next_op_id_->fetch_add(1);
    op.account_id = account;
    op.aux = hold_id;
    if (capture) {
      op.kind = OpKind::kCapture;
      op.other_account_id = Partner(*held, Uniform(2) == 0).id;
      op.amount = Uniform(3) == 0 ? 0 : 1 + Uniform(1500);  // 0: all of it
    } else {
      op.kind = OpKind::kRelease;
    }
    return op;
  }

  Op Simple(OpKind kind, const BankAccount& account, uint64_t amount) {
    Op op;
    op.op_id = next_op_id_->fetch_add(1);
    op.kind = kind;
    op.account_id = account.id;
    op.amount = amount;
    return op;
  }

  Op Pair(OpKind kind, uint64_t from, uint64_t to, uint64_t amount) {
    Op op;
    op.op_id = next_op_id_->fetch_add(1);
    op.kind = kind;
    op.account_id = from;
    op.other_account_id = to;
    op.amount = amount;
    return op;
  }

  const std::vector<BankAccount>* accounts_;
  const uint32_t shard_count_;
  std::mt19937_64 rng_;
  std::atomic<uint64_t>* next_op_id_;
  std::vector<std::pair<uint64_t, uint64_t>> open_holds_;  // account, hold id
};

inline net::ClientOptions BankClientOptions(uint16_t port) {
  net::ClientOptions o;
  o.port = port;
  // A dead server is the point of these tests: give up at once, the
  // request's outcome becomes unknown and the checker resolves it.
  o.reconnect_attempts = 0;
  o.call_timeout_ms = 30'000;
  return o;
}

// Client threads running BankWorkload against one server until told to
// stop or until their connection fails (the server was killed or stopped).
class BankLoad {
 public:
  BankLoad(const std::vector<BankAccount>* accounts, uint16_t port,
           uint32_t shard_count, int threads, uint64_t seed,
           std::atomic<uint64_t>* next_op_id)
      : accounts_(accounts), running_(threads) {
    per_thread_.resize(threads);
    for (int t = 0; t < threads; ++t) {
      threads_.emplace_back([this, t, port, shard_count, seed, next_op_id] {
        Run(t, port, shard_count, seed * 1000 + t, next_op_id);
      });
    }
  }
  ~BankLoad() { StopAndJoin(); }

  // Waits until `acks` requests were acknowledged in all, or every thread
  // has ended, or `timeout_ms` passed. True if the count was reached.
  bool WaitForAcks(uint64_t acks, uint32_t timeout_ms) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, std::chrono::milliseconds(timeout_ms),
                 [&] { return acked_ >= acks || running_ == 0; });
    return acked_ >= acks;
  }
  // Waits until every thread has ended (they end on their first failed
  // request), up to `timeout_ms`. True if they all did.
  bool WaitForAllEnded(uint32_t timeout_ms) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, std::chrono::milliseconds(timeout_ms),
                        [&] { return running_ == 0; });
  }

  void StopAndJoin() {
    stop_.store(true);
    for (std::thread& t : threads_) {
      if (t.joinable()) t.join();
    }
  }

  // After StopAndJoin: every request sent, in each thread's order.
  std::vector<SentRequest> TakeRequests() {
    std::vector<SentRequest> all;
    for (auto& v : per_thread_) {
      for (SentRequest& r : v) all.push_back(std::move(r));
      v.clear();
    }
    return all;
  }

  uint64_t acked() {
    std::lock_guard<std::mutex> lock(mu_);
    return acked_;
  }
  uint64_t reads() const { return reads_.load(); }
  // Problems seen by the periodic reads (an account below its floor).
  std::vector<std::string> read_violations() {
    std::lock_guard<std::mutex> lock(mu_);
    return violations_;
  }

 private:
  void Run(int t, uint16_t port, uint32_t shard_count, uint64_t seed,
           std::atomic<uint64_t>* next_op_id) {
    BankWorkload workload(accounts_, shard_count, seed, next_op_id);
    std::vector<SentRequest>& mine = per_thread_[t];
    auto client = net::Client::Connect(BankClientOptions(port));
    for (uint64_t i = 0; client.ok() && !stop_.load(); ++i) {
      if (i % 16 == 15) {
        // A periodic read: every balance seen must respect its floor.
        std::vector<uint64_t> ids;
        for (int k = 0; k < 4; ++k) ids.push_back(workload.Any().id);
        absl::StatusOr<net::LookupReply> r = (*client)->Lookup(ids);
        if (!r.ok()) break;
        reads_.fetch_add(1);
        for (const AccountInfo& a : r->accounts) CheckFloor(a);
        continue;
      }
      SentRequest sent;
      sent.ops = workload.Next();
      mine.push_back(sent);
      absl::StatusOr<std::vector<OpResult>> results =
          (*client)->Apply(sent.ops);
      if (!results.ok()) break;  // outcome unknown: resolved after restart
      mine.back().results = *results;
      mine.back().known = true;
      workload.Answered(sent.ops, *results);
      {
        std::lock_guard<std::mutex> lock(mu_);
        ++acked_;
      }
      cv_.notify_all();
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      --running_;
    }
    cv_.notify_all();
  }

  void CheckFloor(const AccountInfo& a) {
    for (const BankAccount& b : *accounts_) {
      if (b.id != a.id) continue;
      if (a.available() < -static_cast<int64_t>(b.overdraft_limit)) {
        std::lock_guard<std::mutex> lock(mu_);
        violations_.push_back(
            absl::StrCat("account ", a.id, " balance ", a.balance, " held ",
                         a.held, " below floor -", b.overdraft_limit));
      }
    }
  }

  const std::vector<BankAccount>* accounts_;
  std::vector<std::vector<SentRequest>> per_thread_;
  std::vector<std::thread> threads_;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> reads_{0};
  std::mutex mu_;
  std::condition_variable cv_;
  uint64_t acked_ = 0;  // guarded by mu_
  int running_;         // guarded by mu_: threads not yet ended
  std::vector<std::string> violations_;  // guarded by mu_
};

// Concatenates requests into batches of at most ~`batch_ops` ops (a request
// is never split, so chains stay whole) and applies each batch; `each` gets
// every request with the results of its ops.
template <typename Each>
absl::Status ResendInBatches(net::Client& client,
                             std::vector<SentRequest*> requests, Each&& each,
                             size_t batch_ops = 1000) {
  for (size_t i = 0; i < requests.size();) {
    std::vector<Op> ops;
    size_t j = i;
    while (j < requests.size() &&
           (ops.empty() || ops.size() + requests[j]->ops.size() <= batch_ops)) {
      ops.insert(ops.end(), requests[j]->ops.begin(), requests[j]->ops.end());
      ++j;
    }
    absl::StatusOr<std::vector<OpResult>> results = client.Apply(ops);
    if (!results.ok()) return results.status();
    if (results->size() != ops.size()) {
      return absl::InternalError("resend: wrong number of results");
    }
    size_t at = 0;
    for (size_t k = i; k < j; ++k) {
      const size_t n = requests[k]->ops.size();
      each(*requests[k], std::vector<OpResult>(results->begin() + at,
                                               results->begin() + at + n));
      at += n;
    }
    i = j;
  }
  return absl::OkStatus();
}

inline std::string DescribeResult(const OpResult& r) {
  return absl::StrCat(std::string(ResultCodeName(r.code)),
                      r.duplicate() ? " (dup)" : "", " seq=", r.seq,
                      " balance_after=", r.balance_after);
}

// Step 1: every request whose outcome is unknown is sent again; its
// results (original ones for ops that had applied) become its outcome.
// Returns how many of those ops had applied before the crash.
inline uint64_t ResolveUnknown(net::Client& client,
                               std::vector<SentRequest>& requests) {
  std::vector<SentRequest*> unknown;
  for (SentRequest& r : requests) {
    if (!r.known) unknown.push_back(&r);
  }
  uint64_t had_applied = 0;
  absl::Status s = ResendInBatches(
      client, unknown, [&](SentRequest& r, std::vector<OpResult> results) {
        for (const OpResult& x : results) had_applied += x.duplicate();
        r.results = std::move(results);
        r.known = true;
      });
  EXPECT_TRUE(s.ok()) << "resolving unknown requests: " << s;
  return had_applied;
}

// Step 2: every known op that was ordered must come back as a duplicate
// with its original answer. Returns the number of ops checked.
inline uint64_t ExpectAllPresent(net::Client& client,
                                 std::vector<SentRequest>& requests) {
  std::vector<SentRequest*> known;
  for (SentRequest& r : requests) {
    if (r.known) known.push_back(&r);
  }
  uint64_t checked = 0;
  int failures = 0;
  absl::Status s = ResendInBatches(
      client, known, [&](SentRequest& r, std::vector<OpResult> again) {
        for (size_t k = 0; k < r.ops.size(); ++k) {
          ++checked;
          const OpResult& before = r.results[k];
          if (before.seq == 0) continue;  // refused before ordering
          const bool same = again[k].duplicate() &&
                            again[k].code == before.code &&
                            again[k].seq == before.seq &&
                            again[k].balance_after == before.balance_after;
          if (!same && ++failures <= 20) {
            ADD_FAILURE() << "op " << r.ops[k].op_id << " ("
                          << OpKindName(r.ops[k].kind) << " account "
                          << r.ops[k].account_id << ") was answered "
                          << DescribeResult(before)
                          << (again[k].duplicate()
                                  ? "; its retry now answers "
                                  : "; LOST: its retry applied it again: ")
                          << DescribeResult(again[k]);
          }
        }
      });
  EXPECT_TRUE(s.ok()) << "resending known requests: " << s;
  return checked;
}

struct ExpectedAccount {
  int64_t balance = 0;
  int64_t held = 0;
  uint32_t history = 0;
};

// Step 3: the ledger recomputed from every outcome, compared with the
// server's accounts and per-currency totals; floors checked.
inline void ExpectLedgerMatches(net::Client& client,
                                const std::vector<BankAccount>& accounts,
                                const std::vector<SentRequest>& requests) {
  absl::flat_hash_map<uint64_t, ExpectedAccount> want;
  absl::flat_hash_map<uint64_t, uint64_t> hold_amount;  // open or closed
  absl::flat_hash_set<uint64_t> closed_holds;
  for (const SentRequest& r : requests) {
    ASSERT_TRUE(r.known) << "unresolved request";
    for (size_t k = 0; k < r.ops.size(); ++k) {
      if (r.ops[k].kind == OpKind::kHold && r.results[k].ok()) {
        hold_amount[r.ops[k].op_id] = r.ops[k].amount;
      }
    }
  }
  for (const SentRequest& r : requests) {
    for (size_t k = 0; k < r.ops.size(); ++k) {
      const Op& op = r.ops[k];
      if (!r.results[k].ok()) continue;
      const int64_t amount = static_cast<int64_t>(op.amount);
      switch (op.kind) {
        case OpKind::kCreateAccount:
          want[op.account_id].history += 1;
          break;
        case OpKind::kCredit:
          want[op.account_id].balance += amount;
          want[op.account_id].history += 1;
          break;
        case OpKind::kDebit:
          want[op.account_id].balance -= amount;
          want[op.account_id].history += 1;
          break;
        case OpKind::kTransfer:
          want[op.account_id].balance -= amount;
          want[op.other_account_id].balance += amount;
          want[op.account_id].history += 1;
          want[op.other_account_id].history += 1;
          break;
        case OpKind::kHold:
          want[op.account_id].held += amount;
          want[op.account_id].history += 1;
          break;
        case OpKind::kCapture:
        case OpKind::kRelease: {
          auto it = hold_amount.find(op.aux);
          ASSERT_NE(it, hold_amount.end())
              << OpKindName(op.kind) << " " << op.op_id << " of hold " << op.aux
              << " succeeded, but that hold never did";
          ASSERT_TRUE(closed_holds.insert(op.aux).second)
              << "hold " << op.aux << " closed twice (op " << op.op_id << ")";
          const int64_t held = static_cast<int64_t>(it->second);
          want[op.account_id].held -= held;
          want[op.account_id].history += 1;
          if (op.kind == OpKind::kCapture) {
            const int64_t taken = op.amount == 0 ? held : amount;
            want[op.account_id].balance -= taken;
            want[op.other_account_id].balance += taken;
            want[op.other_account_id].history += 1;
          }
          break;
        }
      }
    }
  }

  std::vector<uint64_t> ids;
  for (const BankAccount& a : accounts) ids.push_back(a.id);
  absl::StatusOr<net::LookupReply> got = client.Lookup(ids);
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_EQ(got->accounts.size(), accounts.size());
  std::map<uint32_t, __int128> want_total, got_total;
  int failures = 0;
  for (size_t i = 0; i < accounts.size(); ++i) {
    const BankAccount& b = accounts[i];
    const AccountInfo& a = got->accounts[i];
    const ExpectedAccount& w = want[b.id];
    ASSERT_EQ(a.id, b.id) << "account " << b.id << " missing";
    EXPECT_GE(a.available(), -static_cast<int64_t>(b.overdraft_limit))
        << "account " << b.id << " below its floor";
    if ((a.balance != w.balance || static_cast<int64_t>(a.held) != w.held ||
         a.history_count != w.history) &&
        ++failures <= 20) {
      ADD_FAILURE() << "account " << b.id << ": server balance " << a.balance
                    << " held " << a.held << " history " << a.history_count
                    << "; the acknowledged ops give balance " << w.balance
                    << " held " << w.held << " history " << w.history;
    }
    want_total[b.currency] += w.balance;
    got_total[b.currency] += a.balance;
  }
  absl::StatusOr<net::DigestReply> digest = client.Digest();
  ASSERT_TRUE(digest.ok()) << digest.status();
  for (const CurrencyTotal& t : digest->totals) {
    EXPECT_TRUE(t.balance == want_total[t.currency])
        << "currency " << t.currency << ": total balance "
        << static_cast<int64_t>(t.balance) << ", credits minus debits give "
        << static_cast<int64_t>(want_total[t.currency]);
    EXPECT_TRUE(t.balance == got_total[t.currency]) << "digest vs lookups";
  }
  EXPECT_EQ(digest->totals.size(), want_total.size());
}

// Every history entry of every account, from memory and the history
// store: no op id twice on one account, and every entry number from the
// account's history count down to 1, once each.
inline void ExpectNoOpAppliedTwice(net::Client& client,
                                   const std::vector<BankAccount>& accounts) {
  for (const BankAccount& b : accounts) {
    absl::StatusOr<net::LookupReply> a = client.Lookup({b.id});
    ASSERT_TRUE(a.ok()) << a.status();
    absl::flat_hash_set<uint64_t> seen;
    uint32_t before = 0;
    uint64_t entries = 0;
    uint32_t number = a->accounts[0].history_count;
    for (int page = 0; page < 100'000; ++page) {
      absl::StatusOr<net::HistoryReply> h = client.History(b.id, before, 1000);
      ASSERT_TRUE(h.ok()) << h.status();
      for (const HistoryEntry& e : h->entries) {
        ++entries;
        ASSERT_EQ(e.number, number--) << "account " << b.id;
        ASSERT_TRUE(seen.insert(e.op_id).second)
            << "op " << e.op_id << " appears twice in the history of account "
            << b.id;
      }
      if (h->next_before == 0) break;
      before = h->next_before;
    }
    EXPECT_EQ(entries, a->accounts[0].history_count) << "account " << b.id;
  }
}

// Steps 1 to 3 after a restart.
inline void CheckBank(net::Client& client,
                      const std::vector<BankAccount>& accounts,
                      std::vector<SentRequest>& requests) {
  ResolveUnknown(client, requests);
  ExpectAllPresent(client, requests);
  ExpectLedgerMatches(client, accounts, requests);
}

}  // namespace coffer::testing

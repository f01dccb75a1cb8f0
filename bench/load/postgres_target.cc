// LoadTarget "postgres": PostgreSQL 15 doing what a careful Django/Laravel
// service does for a guarded debit, at the peer's best settings.
//
// Per op one plpgsql call (bench/compare/postgres_schema.sql): claim the op
// id in idempotency_keys (INSERT ... ON CONFLICT DO NOTHING; a retry gets the
// stored answer back as a duplicate), the guarded UPDATE, a history row, the
// answer stored on the key row. The function carries the same statements an
// ORM would send one by one, minus the round trips between them.
//
// Pipelining: libpq pipeline mode on a non-blocking connection, prepared
// statements. A request of B ops is B prepared calls followed by one Sync:
// the extended protocol runs everything up to a Sync as one implicit
// transaction, so a request is one transaction and one commit (B = 1: a
// transaction per op). A request of several ops that write first locks every
// account it writes, in id order, with one SELECT ... FOR UPDATE (what a
// careful service does before a multi-row transaction: no deadlock between
// two batches), and its calls follow in the order of the lowest account id
// they touch. A transaction still chosen as a deadlock victim (two batches
// retrying each other's op ids) or failed by a serialization error rolled
// back whole and is resent; the requests behind it are held back so answers
// stay in send order, and the target counts the resends (stderr at the end).
#include <fcntl.h>
#include <libpq-fe.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <fstream>
#include <memory>
#include <numeric>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "bench/load/target.h"

namespace coffer::bench {
namespace {

// A request of B ops is one transaction; bounded so one request's locks and
// one pipeline segment stay modest.
constexpr uint32_t kMaxBatchOps = 1000;
// Deadlock victims are resent; a request that keeps losing is an error.
constexpr int kRetryAttemptsMax = 50;
constexpr uint16_t kDefaultPort = 5432;

constexpr char kDebitStatement[] = "coffer_debit";
constexpr char kTransferStatement[] = "coffer_transfer";
constexpr char kLookupStatement[] = "coffer_lookup";
constexpr char kLockStatement[] = "coffer_lock";

struct PgConnDeleter {
  void operator()(PGconn* conn) const { PQfinish(conn); }
};
using PgConnPtr = std::unique_ptr<PGconn, PgConnDeleter>;
struct PgResultDeleter {
  void operator()(PGresult* result) const { PQclear(result); }
};
using PgResultPtr = std::unique_ptr<PGresult, PgResultDeleter>;

std::string TrimmedError(const PGconn* conn) {
  std::string message = PQerrorMessage(conn);
  while (!message.empty() && (message.back() == '\n' || message.back() == ' '))
    message.pop_back();
  return message;
}

std::string ResultError(const PGresult* result) {
  std::string message = PQresultErrorMessage(result);
  while (!message.empty() && (message.back() == '\n' || message.back() == ' '))
    message.pop_back();
  return message;
}

absl::StatusOr<PgConnPtr> ConnectBlocking(const TargetOptions& options) {
  const std::string port =
      std::to_string(options.port == 0 ? kDefaultPort : options.port);
  std::string user = options.user;
  if (user.empty()) {
    const char* env = std::getenv("PGUSER");
    user = env != nullptr ? env : "postgres";
  }
  std::string database = options.database;
  if (database.empty()) {
    const char* env = std::getenv("PGDATABASE");
    database = env != nullptr ? env : "postgres";
  }
  // client_min_messages: no NOTICEs ("already exists, skipping") from the
  // idempotent schema on stderr.
  const char* keys[] = {"host",    "port", "dbname", "user", "application_name",
                        "options", nullptr};
  const char* values[] = {options.host.c_str(),
                          port.c_str(),
                          database.c_str(),
                          user.c_str(),
                          "coffer-bench",
                          "-c client_min_messages=warning",
                          nullptr};
  PgConnPtr conn(PQconnectdbParams(keys, values, /*expand_dbname=*/0));
  if (conn == nullptr) return absl::ResourceExhaustedError("PQconnectdbParams");
  if (PQstatus(conn.get()) != CONNECTION_OK) {
    return absl::UnavailableError(
        absl::StrCat("postgres: connect to ", options.host, ":", port, " db ",
                     database, " as ", user, ": ", TrimmedError(conn.get())));
  }
  return conn;
}

// Runs `sql` (one or more statements) with the simple protocol; blocking.
absl::Status Exec(PGconn* conn, const std::string& sql) {
  PgResultPtr result(PQexec(conn, sql.c_str()));
  const ExecStatusType status = PQresultStatus(result.get());
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
    return absl::InternalError(absl::StrCat("postgres: ", sql.substr(0, 60),
                                            ": ", ResultError(result.get())));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> Show(PGconn* conn, const std::string& name) {
  PgResultPtr result(PQexec(conn, ("SHOW " + name).c_str()));
  if (PQresultStatus(result.get()) != PGRES_TUPLES_OK ||
      PQntuples(result.get()) != 1) {
    return absl::InternalError(
        absl::StrCat("postgres: SHOW ", name, ": ", ResultError(result.get())));
  }
  return std::string(PQgetvalue(result.get(), 0, 0));
}

absl::StatusOr<std::string> ReadWholeFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::NotFoundError(absl::StrCat(
        "postgres: cannot read ", path,
        " (the schema; set the peer directory, TargetOptions::peer_dir)"));
  }
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

absl::Status Prepare(PGconn* conn) {
  struct Statement {
    const char* name;
    const char* sql;
    int params;
  };
  const Statement statements[] = {
      {kDebitStatement,
       "SELECT code, duplicate FROM ledger_debit($1::bigint, $2::bigint, "
       "$3::bigint)",
       3},
      {kTransferStatement,
       "SELECT code, duplicate FROM ledger_transfer($1::bigint, $2::bigint, "
       "$3::bigint, $4::bigint)",
       4},
      {kLookupStatement, "SELECT balance FROM accounts WHERE id = $1::bigint",
       1},
      {kLockStatement,
       "SELECT id FROM accounts WHERE id = ANY($1::bigint[]) ORDER BY id "
       "FOR UPDATE",
       1},
  };
  for (const Statement& s : statements) {
    PgResultPtr result(PQprepare(conn, s.name, s.sql, s.params, nullptr));
    if (PQresultStatus(result.get()) != PGRES_COMMAND_OK) {
      return absl::FailedPreconditionError(absl::StrCat(
          "postgres: prepare ", s.name, ": ", ResultError(result.get()),
          " (has the schema been created? CreateAccounts runs "
          "bench/compare/postgres_schema.sql)"));
    }
  }
  return absl::OkStatus();
}

// The account whose row lock an op takes first: the order of calls within a
// request, so concurrent transactions lock rows in a common order.
uint64_t LockKey(const LoadOp& op) {
  return op.kind == LoadOpKind::kTransfer
             ? std::min(op.account_id, op.to_account_id)
             : op.account_id;
}

absl::StatusOr<ResultCode> CodeFromText(const char* text) {
  int code = 0;
  if (!absl::SimpleAtoi(text, &code)) {
    return absl::InternalError(absl::StrCat("postgres: code '", text, "'"));
  }
  switch (code) {
    case static_cast<int>(ResultCode::kOk):
    case static_cast<int>(ResultCode::kSameAccount):
    case static_cast<int>(ResultCode::kAccountNotFound):
    case static_cast<int>(ResultCode::kInsufficientFunds):
      return static_cast<ResultCode>(code);
    default:
      return absl::InternalError(absl::StrCat("postgres: unknown code ", code));
  }
}

class PostgresConnection final : public LoadConnection {
 public:
  PostgresConnection(PgConnPtr conn,
                     std::shared_ptr<std::atomic<uint64_t>> resent)
      : conn_(std::move(conn)), resent_(std::move(resent)) {}

  absl::Status Send(std::span<const LoadOp> ops) override {
    if (ops.empty() || ops.size() > kMaxBatchOps) {
      return absl::InvalidArgumentError(
          absl::StrCat("postgres: a request carries 1..", kMaxBatchOps,
                       " ops, not ", ops.size()));
    }
    auto request = std::make_shared<Request>();
    request->ops.assign(ops.begin(), ops.end());
    request->order.resize(ops.size());
    std::iota(request->order.begin(), request->order.end(), size_t{0});
    std::stable_sort(
        request->order.begin(), request->order.end(),
        [&](size_t a, size_t b) { return LockKey(ops[a]) < LockKey(ops[b]); });
    request->results.resize(ops.size());
    if (ops.size() > 1) {
      // "{id,id,...}": the accounts the request writes, for kLockStatement.
      std::vector<uint64_t> ids;
      for (const LoadOp& op : ops) {
        if (op.kind == LoadOpKind::kLookup) continue;
        ids.push_back(op.account_id);
        if (op.kind == LoadOpKind::kTransfer) ids.push_back(op.to_account_id);
      }
      std::sort(ids.begin(), ids.end());
      ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
      if (!ids.empty()) {
        request->lock_ids = "{";
        for (size_t i = 0; i < ids.size(); ++i) {
          absl::StrAppend(&request->lock_ids, i == 0 ? "" : ",", ids[i]);
        }
        request->lock_ids += "}";
      }
    }
    if (absl::Status s = SendAttempt(*request); !s.ok()) return s;
    delivery_.push_back(std::move(request));
    return absl::OkStatus();
  }

  absl::StatusOr<bool> Flush() override {
    const int r = PQflush(conn_.get());
    if (r < 0) {
      return absl::UnavailableError("postgres: flush: " +
                                    TrimmedError(conn_.get()));
    }
    return r == 1;
  }

  absl::Status OnReadable(
      std::vector<std::vector<LoadResult>>* completed) override {
    if (PQconsumeInput(conn_.get()) == 0) {
      return absl::UnavailableError("postgres: read: " +
                                    TrimmedError(conn_.get()));
    }
    // Every iteration consumes one result (or the NULL after one); the
    // number of results is bounded by what the server sent.
    while (!pipeline_.empty() && PQisBusy(conn_.get()) == 0) {
      if (absl::Status s = ConsumeOneResult(); !s.ok()) return s;
    }
    while (!delivery_.empty() && delivery_.front()->done) {
      completed->push_back(std::move(delivery_.front()->results));
      delivery_.pop_front();
    }
    return absl::OkStatus();
  }

  int fd() const override { return PQsocket(conn_.get()); }

 private:
  struct Request {
    std::vector<LoadOp> ops;
    std::vector<size_t> order;  // send position -> index in ops
    std::vector<LoadResult> results;
    // Non-empty: the request's first query locks these accounts.
    std::string lock_ids;
    size_t queries() const { return order.size() + (lock_ids.empty() ? 0 : 1); }
    int attempts = 0;
    bool done = false;
  };

  absl::Status SendAttempt(Request& request) {
    ++request.attempts;
    PGconn* conn = conn_.get();
    if (!request.lock_ids.empty()) {
      const char* values[1] = {request.lock_ids.c_str()};
      if (PQsendQueryPrepared(conn, kLockStatement, 1, values, nullptr, nullptr,
                              0) == 0) {
        return absl::UnavailableError("postgres: send: " + TrimmedError(conn));
      }
    }
    for (size_t index : request.order) {
      const LoadOp& op = request.ops[index];
      std::string a, b, c, d;
      const char* values[4] = {};
      const char* statement = nullptr;
      int params = 0;
      switch (op.kind) {
        case LoadOpKind::kDebit:
          a = std::to_string(op.op_id);
          b = std::to_string(op.account_id);
          c = std::to_string(op.amount);
          values[0] = a.c_str();
          values[1] = b.c_str();
          values[2] = c.c_str();
          statement = kDebitStatement;
          params = 3;
          break;
        case LoadOpKind::kTransfer:
          a = std::to_string(op.op_id);
          b = std::to_string(op.account_id);
          c = std::to_string(op.to_account_id);
          d = std::to_string(op.amount);
          values[0] = a.c_str();
          values[1] = b.c_str();
          values[2] = c.c_str();
          values[3] = d.c_str();
          statement = kTransferStatement;
          params = 4;
          break;
        case LoadOpKind::kLookup:
          a = std::to_string(op.account_id);
          values[0] = a.c_str();
          statement = kLookupStatement;
          params = 1;
          break;
        default:
          return absl::InvalidArgumentError("postgres: unknown op kind");
      }
      if (PQsendQueryPrepared(conn, statement, params, values, nullptr, nullptr,
                              0) == 0) {
        return absl::UnavailableError("postgres: send: " + TrimmedError(conn));
      }
    }
    if (PQpipelineSync(conn) == 0) {
      return absl::UnavailableError("postgres: sync: " + TrimmedError(conn));
    }
    pipeline_.push_back(&request);
    return absl::OkStatus();
  }

  // Consumes the next result of the pipeline's front request. Call only when
  // PQisBusy is false (PQgetResult then does not block).
  absl::Status ConsumeOneResult() {
    Request& request = *pipeline_.front();
    PgResultPtr result(PQgetResult(conn_.get()));
    if (awaiting_null_) {
      // Each query's results end with a NULL.
      if (result != nullptr) {
        return absl::InternalError(
            "postgres: more than one result for one query");
      }
      awaiting_null_ = false;
      ++query_index_;
      return absl::OkStatus();
    }
    if (query_index_ == request.queries()) {
      if (result == nullptr ||
          PQresultStatus(result.get()) != PGRES_PIPELINE_SYNC) {
        return absl::InternalError("postgres: expected the pipeline's Sync");
      }
      pipeline_.pop_front();
      query_index_ = 0;
      if (!retry_) {
        request.done = true;
        return absl::OkStatus();
      }
      retry_ = false;
      if (request.attempts >= kRetryAttemptsMax) {
        return absl::AbortedError(
            absl::StrCat("postgres: request failed ", request.attempts,
                         " times as a deadlock or serialization victim"));
      }
      // The implicit transaction rolled back whole: resend it unchanged.
      return SendAttempt(request);
    }
    if (result == nullptr) {
      return absl::InternalError("postgres: missing result in the pipeline");
    }
    awaiting_null_ = true;
    switch (PQresultStatus(result.get())) {
      case PGRES_TUPLES_OK:
        return Parse(request, result.get());
      case PGRES_PIPELINE_ABORTED:
        // Skipped after an earlier error in the same transaction.
        if (!retry_) {
          return absl::InternalError("postgres: pipeline aborted");
        }
        return absl::OkStatus();
      case PGRES_FATAL_ERROR: {
        const char* state = PQresultErrorField(result.get(), PG_DIAG_SQLSTATE);
        const std::string sqlstate = state != nullptr ? state : "";
        if (sqlstate == "40P01" || sqlstate == "40001") {
          retry_ = true;
          resent_->fetch_add(1, std::memory_order_relaxed);
          return absl::OkStatus();
        }
        return absl::InternalError("postgres: " + ResultError(result.get()));
      }
      default:
        return absl::InternalError(
            absl::StrCat("postgres: unexpected result status ",
                         PQresStatus(PQresultStatus(result.get()))));
    }
  }

  absl::Status Parse(Request& request, const PGresult* result) {
    const bool has_lock = !request.lock_ids.empty();
    if (has_lock && query_index_ == 0) return absl::OkStatus();  // the lock
    const size_t index = request.order[query_index_ - (has_lock ? 1 : 0)];
    const LoadOp& op = request.ops[index];
    LoadResult& out = request.results[index];
    out = LoadResult{};
    if (op.kind == LoadOpKind::kLookup) {
      if (PQntuples(result) == 0) {
        out.code = ResultCode::kAccountNotFound;
        return absl::OkStatus();
      }
      if (!absl::SimpleAtoi(PQgetvalue(result, 0, 0), &out.balance)) {
        return absl::InternalError("postgres: balance not an integer");
      }
      return absl::OkStatus();
    }
    if (PQntuples(result) != 1 || PQnfields(result) != 2) {
      return absl::InternalError("postgres: ledger function: not one row");
    }
    absl::StatusOr<ResultCode> code = CodeFromText(PQgetvalue(result, 0, 0));
    if (!code.ok()) return code.status();
    out.code = *code;
    out.duplicate = PQgetvalue(result, 0, 1)[0] == 't';
    return absl::OkStatus();
  }

  PgConnPtr conn_;
  // Requests in the generator's order; answered from the front.
  std::deque<std::shared_ptr<Request>> delivery_;
  // Attempts in the order they were sent (a resent request moves to the
  // back); results arrive in this order. Points into delivery_'s requests.
  std::deque<Request*> pipeline_;
  size_t query_index_ = 0;  // of pipeline_.front(), in send order
  bool awaiting_null_ = false;
  bool retry_ = false;  // pipeline_.front()'s transaction failed; resend it
  // Transactions resent, counted for the whole target.
  std::shared_ptr<std::atomic<uint64_t>> resent_;
};

class PostgresTarget final : public LoadTarget {
 public:
  PostgresTarget(TargetOptions options, std::string server_settings)
      : options_(std::move(options)),
        server_settings_(std::move(server_settings)) {}

  ~PostgresTarget() override {
    // Not a result field of the interface, so said here: how often the
    // database chose a victim the target had to resend.
    if (const uint64_t n = resent_->load(); n > 0) {
      std::fprintf(stderr,
                   "postgres: %llu transactions resent after a deadlock or "
                   "serialization failure\n",
                   static_cast<unsigned long long>(n));
    }
  }

  std::string name() const override { return "postgres"; }

  std::string settings() const override {
    return absl::StrCat(
        "libpq pipeline mode, prepared statements; per op one plpgsql call "
        "(claim op id ON CONFLICT DO NOTHING, guarded UPDATE, history row, "
        "answer stored); a request of B ops = B calls + one Sync = one "
        "transaction, one commit, its accounts locked first in id order "
        "(B > 1); deadlock victims resent; server: ",
        server_settings_);
  }

  uint32_t max_batch_ops() const override { return kMaxBatchOps; }

  absl::StatusOr<std::unique_ptr<LoadConnection>> Connect() override {
    absl::StatusOr<PgConnPtr> conn = ConnectBlocking(options_);
    if (!conn.ok()) return conn.status();
    if (absl::Status s = Prepare(conn->get()); !s.ok()) return s;
    // A service's pooled connections are warm: plpgsql compiles a function
    // and plans its statements on a backend's first call, which would
    // otherwise land in the measured run (256 fresh backends on 2 cores
    // take seconds). Ids 0 and -1 are never accounts; nothing is kept.
    if (absl::Status s = Exec(conn->get(),
                              "BEGIN; SELECT ledger_debit(0, 0, 1); "
                              "SELECT ledger_transfer(0, 0, -1, 1); ROLLBACK");
        !s.ok()) {
      return s;
    }
    if (PQsetnonblocking(conn->get(), 1) != 0 ||
        PQenterPipelineMode(conn->get()) != 1) {
      return absl::InternalError("postgres: pipeline mode: " +
                                 TrimmedError(conn->get()));
    }
    return std::unique_ptr<LoadConnection>(
        std::make_unique<PostgresConnection>(*std::move(conn), resent_));
  }

  absl::Status CreateAccounts(uint64_t first_account_id, uint64_t count,
                              int64_t balance) override {
    if (count == 0) return absl::OkStatus();
    absl::StatusOr<PgConnPtr> conn = ConnectBlocking(options_);
    if (!conn.ok()) return conn.status();
    absl::StatusOr<std::string> schema =
        ReadWholeFile(options_.peer_dir + "/postgres_schema.sql");
    if (!schema.ok()) return schema.status();
    if (absl::Status s = Exec(conn->get(), *schema); !s.ok()) return s;
    // A run starts from a clean ledger: op ids remembered by an earlier run
    // would answer this run's ops as duplicates, and its history would make
    // this run's inserts and index slower than a fresh service's.
    if (absl::Status s =
            Exec(conn->get(), "TRUNCATE idempotency_keys, history");
        !s.ok()) {
      return s;
    }
    const uint64_t last = first_account_id + count - 1;
    if (absl::Status s =
            Exec(conn->get(),
                 absl::StrCat("INSERT INTO accounts (id, balance) SELECT g, ",
                              balance, " FROM generate_series(",
                              first_account_id, "::bigint, ", last,
                              "::bigint) g ON CONFLICT (id) DO UPDATE SET "
                              "balance = EXCLUDED.balance"));
        !s.ok()) {
      return s;
    }
    // Dead row versions from the reset gone, statistics fresh, and a
    // checkpoint now rather than in the middle of the run.
    for (const char* sql : {"VACUUM ANALYZE accounts", "CHECKPOINT"}) {
      if (absl::Status s = Exec(conn->get(), sql); !s.ok()) return s;
    }
    return absl::OkStatus();
  }

  absl::StatusOr<std::vector<int64_t>> ReadBalances(uint64_t first_account_id,
                                                    uint64_t count) override {
    absl::StatusOr<PgConnPtr> conn = ConnectBlocking(options_);
    if (!conn.ok()) return conn.status();
    std::vector<int64_t> balances(count, 0);
    std::vector<bool> seen(count, false);
    const uint64_t last = first_account_id + count - 1;
    PgResultPtr result(PQexec(
        conn->get(),
        absl::StrCat("SELECT id, balance FROM accounts WHERE id BETWEEN ",
                     first_account_id, " AND ", last, " ORDER BY id")
            .c_str()));
    if (PQresultStatus(result.get()) != PGRES_TUPLES_OK) {
      return absl::InternalError("postgres: read balances: " +
                                 ResultError(result.get()));
    }
    for (int row = 0; row < PQntuples(result.get()); ++row) {
      uint64_t id = 0;
      int64_t value = 0;
      if (!absl::SimpleAtoi(PQgetvalue(result.get(), row, 0), &id) ||
          !absl::SimpleAtoi(PQgetvalue(result.get(), row, 1), &value) ||
          id < first_account_id || id > last) {
        return absl::InternalError("postgres: read balances: bad row");
      }
      balances[id - first_account_id] = value;
      seen[id - first_account_id] = true;
    }
    for (uint64_t i = 0; i < count; ++i) {
      if (!seen[i]) {
        return absl::NotFoundError(absl::StrCat(
            "postgres: account ", first_account_id + i, " does not exist"));
      }
    }
    return balances;
  }

 private:
  TargetOptions options_;
  std::string server_settings_;
  std::shared_ptr<std::atomic<uint64_t>> resent_ =
      std::make_shared<std::atomic<uint64_t>>(0);
};

// Reads the server's durability settings for the report, and refuses a
// server that would acknowledge before the log is on disk: the comparison
// is between systems with the same durability.
absl::StatusOr<std::unique_ptr<LoadTarget>> MakePostgresTarget(
    const TargetOptions& options) {
  absl::StatusOr<PgConnPtr> conn = ConnectBlocking(options);
  if (!conn.ok()) return conn.status();
  std::string settings;
  for (const char* name :
       {"server_version", "fsync", "synchronous_commit", "wal_sync_method",
        "full_page_writes", "shared_buffers", "wal_buffers", "commit_delay",
        "max_connections"}) {
    absl::StatusOr<std::string> value = Show(conn->get(), name);
    if (!value.ok()) return value.status();
    const std::string setting = name;
    if ((setting == "fsync" || setting == "synchronous_commit") &&
        *value != "on") {
      return absl::FailedPreconditionError(absl::StrCat(
          "postgres: ", name, " is ", *value,
          "; the comparison needs it on (acknowledged only after fsync)"));
    }
    absl::StrAppend(&settings, settings.empty() ? "" : ", ", name, "=", *value);
  }
  return std::unique_ptr<LoadTarget>(
      std::make_unique<PostgresTarget>(options, std::move(settings)));
}

[[maybe_unused]] const bool kRegistered =
    RegisterTarget("postgres", MakePostgresTarget);

}  // namespace
}  // namespace coffer::bench

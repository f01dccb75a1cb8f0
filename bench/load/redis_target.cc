// LoadTarget "redis": Redis 7 doing what a careful Redis service does for a
// guarded debit, at the peer's best settings.
//
// The ops run in the Redis function ledger_apply (bench/compare/ledger.lua,
// FUNCTION LOAD REPLACE): idempotency key check, guarded DECRBY, capped
// history list, the answer stored under the op id, all atomic. A request of
// B ops is one FCALL carrying all B (one command to parse, one reply); a
// request of a single lookup is a plain GET. Connections are pipelined: P
// requests in flight, commands appended with hiredis and written and read on
// the non-blocking socket. The server must run with appendonly yes and
// appendfsync always (checked), so every reply follows the fsync of the AOF
// that holds its writes.
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <deque>
#include <fstream>
#include <functional>
#include <memory>
#include <span>
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

// One FCALL carries up to this many ops (up to 5 keys and 3 args each).
constexpr uint32_t kMaxBatchOps = 1000;
constexpr uint16_t kDefaultPort = 6379;
constexpr int kConnectTimeoutS = 5;
// Per OnReadable: at most this many reads of kReadChunkBytes, so one busy
// connection cannot starve the others on the generator's thread.
constexpr int kReadsPerCallMax = 16;
constexpr size_t kReadChunkBytes = 64 * 1024;
// Set-up and check: accounts per MSET / MGET, commands in flight.
constexpr uint64_t kAccountsPerCommand = 1000;
constexpr size_t kSetupCommandsInFlight = 64;
constexpr char kFunctionName[] = "ledger_apply";

struct RedisContextDeleter {
  void operator()(redisContext* c) const { redisFree(c); }
};
using RedisContextPtr = std::unique_ptr<redisContext, RedisContextDeleter>;
struct RedisReplyDeleter {
  void operator()(redisReply* r) const { freeReplyObject(r); }
};
using RedisReplyPtr = std::unique_ptr<redisReply, RedisReplyDeleter>;

std::string AccountKey(uint64_t id) { return absl::StrCat("a:", id); }
std::string HistoryKey(uint64_t id) { return absl::StrCat("h:", id); }
std::string OpKey(uint64_t op_id) { return absl::StrCat("k:", op_id); }

absl::StatusOr<RedisContextPtr> ConnectBlocking(const TargetOptions& options) {
  const int port = options.port == 0 ? kDefaultPort : options.port;
  timeval timeout{kConnectTimeoutS, 0};
  RedisContextPtr c(
      redisConnectWithTimeout(options.host.c_str(), port, timeout));
  if (c == nullptr) return absl::ResourceExhaustedError("redis: no context");
  if (c->err != 0) {
    return absl::UnavailableError(absl::StrCat(
        "redis: connect to ", options.host, ":", port, ": ", c->errstr));
  }
  return c;
}

// A blocking command on a set-up connection, as an argv.
absl::StatusOr<RedisReplyPtr> Command(redisContext* c,
                                      const std::vector<std::string>& args) {
  std::vector<const char*> argv;
  std::vector<size_t> lengths;
  for (const std::string& a : args) {
    argv.push_back(a.data());
    lengths.push_back(a.size());
  }
  RedisReplyPtr reply(static_cast<redisReply*>(redisCommandArgv(
      c, static_cast<int>(argv.size()), argv.data(), lengths.data())));
  if (reply == nullptr) {
    return absl::UnavailableError(
        absl::StrCat("redis: ", args[0], ": ", c->errstr));
  }
  if (reply->type == REDIS_REPLY_ERROR) {
    return absl::InternalError(absl::StrCat(
        "redis: ", args[0], ": ", std::string(reply->str, reply->len)));
  }
  return reply;
}

// Appends many commands, then reads their replies, at most
// kSetupCommandsInFlight outstanding; `on_reply` sees each reply in order.
absl::Status Pipelined(
    redisContext* c, const std::vector<std::vector<std::string>>& commands,
    const std::function<absl::Status(size_t, const redisReply&)>& on_reply) {
  size_t sent = 0;
  size_t answered = 0;
  while (answered < commands.size()) {
    while (sent < commands.size() && sent - answered < kSetupCommandsInFlight) {
      std::vector<const char*> argv;
      std::vector<size_t> lengths;
      for (const std::string& a : commands[sent]) {
        argv.push_back(a.data());
        lengths.push_back(a.size());
      }
      if (redisAppendCommandArgv(c, static_cast<int>(argv.size()), argv.data(),
                                 lengths.data()) != REDIS_OK) {
        return absl::InternalError(absl::StrCat("redis: append: ", c->errstr));
      }
      ++sent;
    }
    void* raw = nullptr;
    if (redisGetReply(c, &raw) != REDIS_OK || raw == nullptr) {
      return absl::UnavailableError(absl::StrCat("redis: reply: ", c->errstr));
    }
    RedisReplyPtr reply(static_cast<redisReply*>(raw));
    if (reply->type == REDIS_REPLY_ERROR) {
      return absl::InternalError(
          absl::StrCat("redis: ", commands[answered][0], ": ",
                       std::string(reply->str, reply->len)));
    }
    if (absl::Status s = on_reply(answered, *reply); !s.ok()) return s;
    ++answered;
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> ConfigGet(redisContext* c,
                                      const std::string& name) {
  absl::StatusOr<RedisReplyPtr> reply = Command(c, {"CONFIG", "GET", name});
  if (!reply.ok()) return reply.status();
  const redisReply& r = **reply;
  if (r.type != REDIS_REPLY_ARRAY || r.elements != 2 ||
      r.element[1]->type != REDIS_REPLY_STRING) {
    return absl::InternalError("redis: CONFIG GET " + name + ": bad reply");
  }
  return std::string(r.element[1]->str, r.element[1]->len);
}

absl::StatusOr<std::string> ReadWholeFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::NotFoundError(
        absl::StrCat("redis: cannot read ", path,
                     " (the function library; set the peer directory, "
                     "TargetOptions::peer_dir)"));
  }
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

absl::StatusOr<int64_t> IntegerOf(const redisReply& r) {
  if (r.type == REDIS_REPLY_INTEGER) return static_cast<int64_t>(r.integer);
  int64_t value = 0;
  if (r.type == REDIS_REPLY_STRING &&
      absl::SimpleAtoi(absl::string_view(r.str, r.len), &value)) {
    return value;
  }
  return absl::InternalError("redis: expected an integer in the reply");
}

absl::StatusOr<ResultCode> CodeOf(int64_t code) {
  switch (code) {
    case static_cast<int64_t>(ResultCode::kOk):
    case static_cast<int64_t>(ResultCode::kSameAccount):
    case static_cast<int64_t>(ResultCode::kAccountNotFound):
    case static_cast<int64_t>(ResultCode::kInsufficientFunds):
      return static_cast<ResultCode>(code);
    default:
      return absl::InternalError(absl::StrCat("redis: unknown code ", code));
  }
}

class RedisConnection final : public LoadConnection {
 public:
  explicit RedisConnection(RedisContextPtr c) : c_(std::move(c)) {}

  absl::Status Send(std::span<const LoadOp> ops) override {
    if (ops.empty() || ops.size() > kMaxBatchOps) {
      return absl::InvalidArgumentError(
          absl::StrCat("redis: a request carries 1..", kMaxBatchOps,
                       " ops, not ", ops.size()));
    }
    std::vector<std::string> args;
    if (ops.size() == 1 && ops[0].kind == LoadOpKind::kLookup) {
      args = {"GET", AccountKey(ops[0].account_id)};
    } else {
      std::vector<std::string> keys;
      std::vector<std::string> values;
      keys.reserve(ops.size() * 3);
      values.reserve(ops.size() * 3);
      for (const LoadOp& op : ops) {
        switch (op.kind) {
          case LoadOpKind::kDebit:
            keys.push_back(AccountKey(op.account_id));
            keys.push_back(OpKey(op.op_id));
            keys.push_back(HistoryKey(op.account_id));
            values.push_back("d");
            break;
          case LoadOpKind::kTransfer:
            keys.push_back(AccountKey(op.account_id));
            keys.push_back(AccountKey(op.to_account_id));
            keys.push_back(OpKey(op.op_id));
            keys.push_back(HistoryKey(op.account_id));
            keys.push_back(HistoryKey(op.to_account_id));
            values.push_back("t");
            break;
          case LoadOpKind::kLookup:
            keys.push_back(AccountKey(op.account_id));
            values.push_back("l");
            break;
          default:
            return absl::InvalidArgumentError("redis: unknown op kind");
        }
        values.push_back(std::to_string(op.op_id));
        values.push_back(std::to_string(op.amount));
      }
      args.reserve(3 + keys.size() + values.size());
      args.push_back("FCALL");
      args.push_back(kFunctionName);
      args.push_back(std::to_string(keys.size()));
      for (std::string& k : keys) args.push_back(std::move(k));
      for (std::string& v : values) args.push_back(std::move(v));
    }
    std::vector<const char*> argv;
    std::vector<size_t> lengths;
    argv.reserve(args.size());
    lengths.reserve(args.size());
    for (const std::string& a : args) {
      argv.push_back(a.data());
      lengths.push_back(a.size());
    }
    if (redisAppendCommandArgv(c_.get(), static_cast<int>(argv.size()),
                               argv.data(), lengths.data()) != REDIS_OK) {
      return absl::InternalError(absl::StrCat("redis: append: ", c_->errstr));
    }
    pending_.push_back(Pending{std::vector<LoadOp>(ops.begin(), ops.end())});
    return absl::OkStatus();
  }

  absl::StatusOr<bool> Flush() override {
    int done = 0;
    if (redisBufferWrite(c_.get(), &done) != REDIS_OK) {
      return absl::UnavailableError(absl::StrCat("redis: write: ", c_->errstr));
    }
    return done == 0;
  }

  absl::Status OnReadable(
      std::vector<std::vector<LoadResult>>* completed) override {
    char buffer[kReadChunkBytes];
    for (int i = 0; i < kReadsPerCallMax; ++i) {
      const ssize_t n = ::read(c_->fd, buffer, sizeof(buffer));
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) break;
        return absl::UnavailableError(
            absl::StrCat("redis: read: ", std::strerror(errno)));
      }
      if (n == 0) {
        return absl::UnavailableError(
            "redis: the server closed the connection");
      }
      if (redisReaderFeed(c_->reader, buffer, static_cast<size_t>(n)) !=
          REDIS_OK) {
        return absl::InternalError("redis: reader: " +
                                   std::string(c_->reader->errstr));
      }
      if (static_cast<size_t>(n) < sizeof(buffer)) break;
    }
    // Bounded by the replies buffered; each reply answers one request.
    for (;;) {
      void* raw = nullptr;
      if (redisGetReplyFromReader(c_.get(), &raw) != REDIS_OK) {
        return absl::InternalError(
            absl::StrCat("redis: protocol: ", c_->errstr));
      }
      if (raw == nullptr) break;
      RedisReplyPtr reply(static_cast<redisReply*>(raw));
      if (pending_.empty()) {
        return absl::InternalError("redis: a reply nobody asked for");
      }
      absl::StatusOr<std::vector<LoadResult>> results =
          Parse(pending_.front().ops, *reply);
      if (!results.ok()) return results.status();
      completed->push_back(*std::move(results));
      pending_.pop_front();
    }
    return absl::OkStatus();
  }

  int fd() const override { return c_->fd; }

 private:
  struct Pending {
    std::vector<LoadOp> ops;
  };

  static absl::StatusOr<std::vector<LoadResult>> Parse(
      const std::vector<LoadOp>& ops, const redisReply& reply) {
    if (reply.type == REDIS_REPLY_ERROR) {
      return absl::InternalError("redis: " + std::string(reply.str, reply.len));
    }
    std::vector<LoadResult> results(ops.size());
    if (ops.size() == 1 && ops[0].kind == LoadOpKind::kLookup) {  // GET
      if (reply.type == REDIS_REPLY_NIL) {
        results[0].code = ResultCode::kAccountNotFound;
        return results;
      }
      absl::StatusOr<int64_t> balance = IntegerOf(reply);
      if (!balance.ok()) return balance.status();
      results[0].balance = *balance;
      return results;
    }
    if (reply.type != REDIS_REPLY_ARRAY || reply.elements != 3 * ops.size()) {
      return absl::InternalError(
          "redis: ledger_apply: reply does not hold 3 values per op");
    }
    for (size_t i = 0; i < ops.size(); ++i) {
      absl::StatusOr<int64_t> code = IntegerOf(*reply.element[3 * i]);
      absl::StatusOr<int64_t> duplicate = IntegerOf(*reply.element[3 * i + 1]);
      absl::StatusOr<int64_t> balance = IntegerOf(*reply.element[3 * i + 2]);
      if (!code.ok()) return code.status();
      if (!duplicate.ok()) return duplicate.status();
      if (!balance.ok()) return balance.status();
      absl::StatusOr<ResultCode> result_code = CodeOf(*code);
      if (!result_code.ok()) return result_code.status();
      results[i].code = *result_code;
      results[i].duplicate = *duplicate != 0;
      results[i].balance = ops[i].kind == LoadOpKind::kLookup ? *balance : 0;
    }
    return results;
  }

  RedisContextPtr c_;
  std::deque<Pending> pending_;  // requests sent, in order, awaiting replies
};

class RedisTarget final : public LoadTarget {
 public:
  RedisTarget(TargetOptions options, std::string server_settings)
      : options_(std::move(options)),
        server_settings_(std::move(server_settings)) {}

  std::string name() const override { return "redis"; }

  std::string settings() const override {
    return absl::StrCat(
        "hiredis, pipelined on a non-blocking socket; per request one FCALL "
        "of the Lua function ledger_apply carrying all B ops (idempotency "
        "key, guarded DECRBY, capped history list, answer stored; atomic), "
        "a lone lookup is a GET; server: ",
        server_settings_);
  }

  uint32_t max_batch_ops() const override { return kMaxBatchOps; }

  absl::StatusOr<std::unique_ptr<LoadConnection>> Connect() override {
    absl::StatusOr<RedisContextPtr> c = ConnectBlocking(options_);
    if (!c.ok()) return c.status();
    redisContext* context = c->get();
    const int flags = ::fcntl(context->fd, F_GETFL, 0);
    if (flags < 0 || ::fcntl(context->fd, F_SETFL, flags | O_NONBLOCK) < 0) {
      return absl::InternalError(
          absl::StrCat("redis: non-blocking: ", std::strerror(errno)));
    }
    // hiredis then treats EAGAIN as "try again later" in redisBufferWrite.
    context->flags &= ~REDIS_BLOCK;
    return std::unique_ptr<LoadConnection>(
        std::make_unique<RedisConnection>(*std::move(c)));
  }

  absl::Status CreateAccounts(uint64_t first_account_id, uint64_t count,
                              int64_t balance) override {
    if (count == 0) return absl::OkStatus();
    absl::StatusOr<RedisContextPtr> c = ConnectBlocking(options_);
    if (!c.ok()) return c.status();
    absl::StatusOr<std::string> library =
        ReadWholeFile(options_.peer_dir + "/ledger.lua");
    if (!library.ok()) return library.status();
    if (auto r = Command(c->get(), {"FUNCTION", "LOAD", "REPLACE", *library});
        !r.ok()) {
      return r.status();
    }
    // A run starts from a clean ledger: op ids remembered by an earlier run
    // would answer this run's ops as duplicates.
    for (const char* pattern : {"k:*", "h:*"}) {
      if (absl::Status s = UnlinkMatching(c->get(), pattern); !s.ok()) {
        return s;
      }
    }
    std::vector<std::vector<std::string>> commands;
    const std::string balance_text = std::to_string(balance);
    for (uint64_t first = first_account_id; first < first_account_id + count;
         first += kAccountsPerCommand) {
      const uint64_t end =
          std::min(first + kAccountsPerCommand, first_account_id + count);
      std::vector<std::string> mset = {"MSET"};
      for (uint64_t id = first; id < end; ++id) {
        mset.push_back(AccountKey(id));
        mset.push_back(balance_text);
      }
      commands.push_back(std::move(mset));
    }
    return Pipelined(c->get(), commands, [](size_t, const redisReply&) {
      return absl::OkStatus();
    });
  }

  absl::StatusOr<std::vector<int64_t>> ReadBalances(uint64_t first_account_id,
                                                    uint64_t count) override {
    absl::StatusOr<RedisContextPtr> c = ConnectBlocking(options_);
    if (!c.ok()) return c.status();
    std::vector<std::vector<std::string>> commands;
    for (uint64_t first = first_account_id; first < first_account_id + count;
         first += kAccountsPerCommand) {
      const uint64_t end =
          std::min(first + kAccountsPerCommand, first_account_id + count);
      std::vector<std::string> mget = {"MGET"};
      for (uint64_t id = first; id < end; ++id) mget.push_back(AccountKey(id));
      commands.push_back(std::move(mget));
    }
    std::vector<int64_t> balances;
    balances.reserve(count);
    absl::Status s = Pipelined(
        c->get(), commands,
        [&](size_t index, const redisReply& reply) -> absl::Status {
          if (reply.type != REDIS_REPLY_ARRAY ||
              reply.elements != commands[index].size() - 1) {
            return absl::InternalError("redis: MGET: bad reply");
          }
          for (size_t i = 0; i < reply.elements; ++i) {
            if (reply.element[i]->type == REDIS_REPLY_NIL) {
              return absl::NotFoundError(absl::StrCat(
                  "redis: account ", first_account_id + balances.size(),
                  " does not exist"));
            }
            absl::StatusOr<int64_t> value = IntegerOf(*reply.element[i]);
            if (!value.ok()) return value.status();
            balances.push_back(*value);
          }
          return absl::OkStatus();
        });
    if (!s.ok()) return s;
    return balances;
  }

 private:
  // SCAN + UNLINK; bounded by the keys present (the cursor ends the loop).
  static absl::Status UnlinkMatching(redisContext* c,
                                     const std::string& pattern) {
    std::string cursor = "0";
    do {
      absl::StatusOr<RedisReplyPtr> reply =
          Command(c, {"SCAN", cursor, "MATCH", pattern, "COUNT", "10000"});
      if (!reply.ok()) return reply.status();
      const redisReply& r = **reply;
      if (r.type != REDIS_REPLY_ARRAY || r.elements != 2 ||
          r.element[0]->type != REDIS_REPLY_STRING ||
          r.element[1]->type != REDIS_REPLY_ARRAY) {
        return absl::InternalError("redis: SCAN: bad reply");
      }
      cursor.assign(r.element[0]->str, r.element[0]->len);
      const redisReply& keys = *r.element[1];
      if (keys.elements > 0) {
        std::vector<std::string> unlink = {"UNLINK"};
        for (size_t i = 0; i < keys.elements; ++i) {
          unlink.emplace_back(keys.element[i]->str, keys.element[i]->len);
        }
        if (auto u = Command(c, unlink); !u.ok()) return u.status();
      }
    } while (cursor != "0");
    return absl::OkStatus();
  }

  TargetOptions options_;
  std::string server_settings_;
};

// Reads the server's durability settings for the report, and refuses a
// server that would acknowledge before the AOF is on disk: the comparison
// is between systems with the same durability.
absl::StatusOr<std::unique_ptr<LoadTarget>> MakeRedisTarget(
    const TargetOptions& options) {
  absl::StatusOr<RedisContextPtr> c = ConnectBlocking(options);
  if (!c.ok()) return c.status();
  std::string settings;
  for (const char* name : {"appendonly", "appendfsync", "save", "io-threads",
                           "maxmemory-policy"}) {
    absl::StatusOr<std::string> value = ConfigGet(c->get(), name);
    if (!value.ok()) return value.status();
    const std::string setting = name;
    if ((setting == "appendonly" && *value != "yes") ||
        (setting == "appendfsync" && *value != "always")) {
      return absl::FailedPreconditionError(absl::StrCat(
          "redis: ", name, " is ", *value,
          "; the comparison needs appendonly yes, appendfsync always "
          "(acknowledged only after fsync)"));
    }
    absl::StrAppend(&settings, settings.empty() ? "" : ", ", name, "=",
                    value->empty() ? "\"\"" : *value);
  }
  absl::StatusOr<RedisReplyPtr> info = Command(c->get(), {"INFO", "server"});
  if (!info.ok()) return info.status();
  const std::string text((*info)->str, (*info)->len);
  const std::string tag = "redis_version:";
  if (size_t at = text.find(tag); at != std::string::npos) {
    const size_t end = text.find_first_of("\r\n", at);
    absl::StrAppend(&settings, ", version=",
                    text.substr(at + tag.size(), end - at - tag.size()));
  }
  return std::unique_ptr<LoadTarget>(
      std::make_unique<RedisTarget>(options, std::move(settings)));
}

[[maybe_unused]] const bool kRegistered =
    RegisterTarget("redis", MakeRedisTarget);

}  // namespace
}  // namespace coffer::bench

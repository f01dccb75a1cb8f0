#include "net/cli.h"

#include <algorithm>
#include <cstdint>
#include <optional>
#include <ostream>
#include <random>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "engine/latency_histogram.h"
#include "net/cli_watch.h"
#include "net/client.h"

namespace coffer::net {
namespace {

std::string Int128(__int128 v) {
  if (v == 0) return "0";
  const bool negative = v < 0;
  unsigned __int128 u = negative ? -static_cast<unsigned __int128>(v)
                                 : static_cast<unsigned __int128>(v);
  std::string s;
  while (u != 0) {
    s.insert(s.begin(), static_cast<char>('0' + static_cast<int>(u % 10)));
    u /= 10;
  }
  return negative ? "-" + s : s;
}

// Every integer field of 64 bits or more (balances, amounts, totals, ids,
// seqs, counters) is a JSON string of decimal digits: readers whose numbers
// are doubles (JavaScript's JSON.parse) would silently round values above
// 2^53. Fields of 32 bits or fewer stay numbers.
std::string JsonBig(uint64_t v) { return absl::StrCat("\"", v, "\""); }
std::string JsonBig(int64_t v) { return absl::StrCat("\"", v, "\""); }
std::string JsonBig(__int128 v) { return absl::StrCat("\"", Int128(v), "\""); }

std::string JsonString(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      out += absl::StrFormat("\\u%04x", c);
    } else {
      out += c;
    }
  }
  return out + "\"";
}

class Runner {
 public:
  Runner(const CliOptions& o, std::ostream& out, std::ostream& err)
      : o_(o), out_(out), err_(err) {}

  int Run(const std::vector<std::string>& args) {
    if (args.empty()) {
      Usage("no command (see coffer --help)");
      return UsageFailed();
    }
    const std::string& cmd = args[0];
    if (cmd == "create-account") {
      if (!Arity(args, 2, 2,
                 "create-account ACCOUNT CURRENCY [--overdraft=N] "
                 "[--cap=N]"))
        return UsageFailed();
      Op op = NewOp(OpKind::kCreateAccount, args[1]);
      op.currency = ParseCurrency(args[2]);
      op.amount = o_.overdraft;
      op.aux = o_.cap;
      if (o_.overdraft != 0) op.account_flags |= kAccountFlagOverdraft;
      if (o_.cap != 0) op.account_flags |= kAccountFlagCap;
      return RunOp(op, cmd);
    }
    if (cmd == "credit" || cmd == "debit") {
      if (!Arity(args, 2, 2, cmd + " ACCOUNT AMOUNT")) return UsageFailed();
      Op op =
          NewOp(cmd == "credit" ? OpKind::kCredit : OpKind::kDebit, args[1]);
      op.amount = ParseAmount("AMOUNT", args[2]);
      return RunOp(op, cmd);
    }
    if (cmd == "transfer") {
      if (!Arity(args, 3, 3, "transfer FROM TO AMOUNT")) return UsageFailed();
      Op op = NewOp(OpKind::kTransfer, args[1], "FROM");
      op.other_account_id = ParseId("TO", args[2]);
      op.amount = ParseAmount("AMOUNT", args[3]);
      return RunOp(op, cmd);
    }
    if (cmd == "hold") {
      if (!Arity(args, 2, 2, "hold ACCOUNT AMOUNT [--hold_timeout_ms=MS]"))
        return UsageFailed();
      Op op = NewOp(OpKind::kHold, args[1]);
      op.amount = ParseAmount("AMOUNT", args[2]);
      op.aux = o_.hold_timeout_ms;
      return RunOp(op, cmd);
    }
    if (cmd == "capture") {
      if (!Arity(args, 3, 4, "capture ACCOUNT HOLD_ID DESTINATION [AMOUNT]"))
        return UsageFailed();
      Op op = NewOp(OpKind::kCapture, args[1]);
      op.aux = ParseId("HOLD_ID", args[2]);
      op.other_account_id = ParseId("DESTINATION", args[3]);
      // 0, like no AMOUNT, captures all of the hold.
      op.amount = args.size() > 4 ? ParseAmount("AMOUNT", args[4], 0) : 0;
      return RunOp(op, cmd);
    }
    if (cmd == "release") {
      if (!Arity(args, 2, 2, "release ACCOUNT HOLD_ID")) return UsageFailed();
      Op op = NewOp(OpKind::kRelease, args[1]);
      op.aux = ParseId("HOLD_ID", args[2]);
      return RunOp(op, cmd);
    }
    if (cmd == "balance") {
      if (!Arity(args, 1, SIZE_MAX, "balance ACCOUNT...")) {
        return UsageFailed();
      }
      std::vector<uint64_t> ids;
      for (size_t i = 1; i < args.size(); ++i) {
        ids.push_back(ParseId("ACCOUNT", args[i]));
      }
      if (!usage_error_.empty()) return UsageFailed();
      return Balance(ids);
    }
    if (cmd == "history") {
      if (!Arity(args, 1, 1, "history ACCOUNT [--before=N] [--limit=N]"))
        return UsageFailed();
      const uint64_t account = ParseId("ACCOUNT", args[1]);
      const HistoryFilter filter = ParseHistoryFilter();
      if (!usage_error_.empty()) return UsageFailed();
      return History(account, filter);
    }
    if (cmd == "stats") {
      if (!Arity(args, 0, 0, "stats")) return UsageFailed();
      return Stats();
    }
    if (cmd == "digest") {
      if (!Arity(args, 0, 0, "digest")) return UsageFailed();
      return Digest();
    }
    if (cmd == "backup") {
      if (!Arity(args, 1, 1, "backup DIR")) return UsageFailed();
      return Backup(args[1]);
    }
    if (cmd == "ping") {
      if (!Arity(args, 0, 0, "ping")) return UsageFailed();
      if (absl::Status s = Connect(); !s.ok()) return Failed(s);
      if (absl::Status s = client_->Ping(); !s.ok()) return Failed(s);
      out_ << (o_.json ? "{\"ok\":true}" : "pong") << "\n";
      return kExitOk;
    }
    Usage(absl::StrCat("unknown command '", cmd, "' (see coffer --help)"));
    return UsageFailed();
  }

 private:
  // Parsing records the first problem in usage_error_ and returns 0; Run
  // checks it once the command's operands are parsed. The message names the
  // operand and its range, so "-5" or "ten" is explained, not just refused.
  uint64_t ParseNumber(const std::string& what, const std::string& text,
                       uint64_t min, uint64_t max) {
    const bool hex =
        text.size() > 2 && text[0] == '0' && (text[1] == 'x' || text[1] == 'X');
    const std::string digits = hex ? text.substr(2) : text;
    // SimpleAtoi also takes a sign and surrounding spaces: digits only.
    const bool plain =
        !digits.empty() &&
        std::all_of(digits.begin(), digits.end(), [hex](char c) {
          return hex ? absl::ascii_isxdigit(c) : absl::ascii_isdigit(c);
        });
    uint64_t v = 0;
    const bool ok = plain && (hex ? absl::SimpleHexAtoi(digits, &v)
                                  : absl::SimpleAtoi(digits, &v));
    if (!ok || v < min || v > max) {
      Usage(absl::StrCat(what, " must be a whole number from ", min, " to ",
                         max, " (decimal or 0x hex); got '", text, "'"));
      return 0;
    }
    return v;
  }

  // An instant as RFC 3339 or a count of ns since the Unix epoch.
  uint64_t ParseTimestamp(const std::string& what, const std::string& text) {
    if (!text.empty() && absl::ascii_isdigit(text[0]) &&
        std::all_of(text.begin(), text.end(), absl::ascii_isdigit)) {
      return ParseNumber(what, text, 1, UINT64_MAX);
    }
    absl::Time t;
    std::string why;
    if (!absl::ParseTime(absl::RFC3339_full, text, &t, &why) ||
        t < absl::UnixEpoch()) {
      Usage(absl::StrCat(what, " must be RFC 3339 (2026-12-01T20:00:00Z) or ",
                         "ns since the Unix epoch; got '", text, "'"));
      return 0;
    }
    return static_cast<uint64_t>(absl::ToUnixNanos(t));
  }

  HistoryFilter ParseHistoryFilter() {
    HistoryFilter f;
    if (!o_.timestamp_min.empty()) {
      f.timestamp_min_ns = ParseTimestamp("--timestamp_min", o_.timestamp_min);
    }
    if (!o_.timestamp_max.empty()) {
      f.timestamp_max_ns = ParseTimestamp("--timestamp_max", o_.timestamp_max);
    }
    if (f.timestamp_max_ns != 0 && f.timestamp_min_ns > f.timestamp_max_ns) {
      Usage("--timestamp_min must not be after --timestamp_max");
    }
    if (!o_.with_reason.empty()) {
      f.reason = static_cast<uint32_t>(
          ParseNumber("--with_reason", o_.with_reason, 0, UINT32_MAX));
      f.has_reason = true;
    }
    return f;
  }

  // Account ids and op ids (hold ids): any but 0.
  uint64_t ParseId(const std::string& what, const std::string& text) {
    return ParseNumber(what, text, 1, UINT64_MAX);
  }

  // What the ledger can move in one op: balances are signed 64-bit.
  uint64_t ParseAmount(const std::string& what, const std::string& text,
                       uint64_t min = 1) {
    return ParseNumber(what, text, min, INT64_MAX);
  }

  uint32_t ParseCurrency(const std::string& text) {
    return static_cast<uint32_t>(ParseNumber("CURRENCY", text, 1, UINT32_MAX));
  }

  // False (and a usage error) unless there are min..max operands.
  bool Arity(const std::vector<std::string>& args, size_t min, size_t max,
             const std::string& shape) {
    const size_t n = args.size() - 1;
    if (n >= min && n <= max) return true;
    Usage("usage: coffer " + shape);
    return false;
  }

  void Usage(std::string message) {
    if (usage_error_.empty()) usage_error_ = std::move(message);
  }

  int UsageFailed() {
    err_ << "coffer: " << usage_error_ << "\n";
    return kExitUsage;
  }

  Op NewOp(OpKind kind, const std::string& account,
           const std::string& account_name = "ACCOUNT") {
    Op op;
    op.op_id = o_.op_id;
    if (op.op_id == 0) {
      std::random_device rd;
      std::mt19937_64 gen((uint64_t{rd()} << 32) ^ rd());
      while (op.op_id == 0) op.op_id = gen();
    }
    op.kind = kind;
    op.account_id = ParseId(account_name, account);
    op.currency = o_.currency;
    op.reason = o_.reason;
    op.user_data = o_.user_data;
    return op;
  }

  // `reconnect` false: a lost connection fails the command instead of
  // resending it (a backup resent would start a second copy).
  absl::Status Connect(bool reconnect = true) {
    ClientOptions co;
    if (!reconnect) co.reconnect_attempts = 0;
    const size_t colon = o_.server.rfind(':');
    uint32_t port = 0;
    if (colon == std::string::npos ||
        !absl::SimpleAtoi(o_.server.substr(colon + 1), &port) || port == 0 ||
        port > 65535) {
      return absl::InvalidArgumentError(
          absl::StrCat("--server: expected host:port, got '", o_.server, "'"));
    }
    co.host = o_.server.substr(0, colon);
    if (co.host.size() > 2 && co.host.front() == '[' && co.host.back() == ']') {
      co.host = co.host.substr(1, co.host.size() - 2);
    }
    co.port = static_cast<uint16_t>(port);
    co.auth_token = o_.auth_token;
    co.connect_timeout_ms = o_.timeout_ms;
    co.call_timeout_ms = o_.timeout_ms;
    auto c = Client::Connect(co);
    if (!c.ok()) return c.status();
    client_ = std::move(c).value();
    return absl::OkStatus();
  }

  int Failed(const absl::Status& s) {
    // A malformed --server is a usage error, not a connection failure.
    if (absl::IsInvalidArgument(s) && client_ == nullptr) {
      Usage(std::string(s.message()));
      return UsageFailed();
    }
    if (o_.json) {
      out_ << "{\"error\":" << JsonString(std::string(s.message())) << "}\n";
    }
    err_ << "coffer: " << s.message() << "\n";
    return kExitConnection;
  }

  int RunOp(const Op& op, const std::string& cmd) {
    if (!usage_error_.empty()) return UsageFailed();
    if (absl::Status s = Connect(); !s.ok()) return Failed(s);
    auto r = client_->Apply({op});
    if (!r.ok()) return Failed(r.status());
    const OpResult& res = r->at(0);
    const std::string code(ResultCodeName(res.code));
    if (o_.json) {
      out_ << absl::StrCat(
          "{\"command\":", JsonString(cmd), ",\"op_id\":", JsonBig(op.op_id),
          ",\"result\":", JsonString(code),
          ",\"code\":", static_cast<int>(res.code),
          ",\"duplicate\":", res.duplicate() ? "true" : "false",
          ",\"account\":", JsonBig(op.account_id),
          ",\"balance_after\":", JsonBig(res.balance_after),
          ",\"seq\":", JsonBig(res.seq), "}\n");
    } else {
      out_ << absl::StrCat(code, res.duplicate() ? " (duplicate)" : "", ": ",
                           cmd, " op ", op.op_id, ", account ", op.account_id,
                           " balance ", res.balance_after, ", seq ", res.seq);
      if (op.kind == OpKind::kHold && res.ok()) {
        out_ << ", hold id " << op.op_id;
      }
      out_ << "\n";
    }
    // account_exists means an identical account is there: nothing to do.
    return res.ok() || res.code == ResultCode::kAccountExists ? kExitOk
                                                              : kExitRefused;
  }

  int Balance(const std::vector<uint64_t>& ids) {
    if (absl::Status s = Connect(); !s.ok()) return Failed(s);
    auto r = client_->Lookup(ids);
    if (!r.ok()) return Failed(r.status());
    bool all_found = true;
    if (o_.json) out_ << "{\"seq\":" << JsonBig(r->seq) << ",\"accounts\":[";
    for (size_t i = 0; i < r->accounts.size(); ++i) {
      const AccountInfo& a = r->accounts[i];
      const bool found = a.id != 0;
      all_found &= found;
      if (o_.json) {
        out_ << (i ? "," : "")
             << absl::StrCat(
                    "{\"id\":", JsonBig(ids[i]),
                    ",\"found\":", found ? "true" : "false",
                    ",\"balance\":", JsonBig(a.balance),
                    ",\"held\":", JsonBig(a.held),
                    ",\"available\":", JsonBig(a.available()),
                    ",\"currency\":", a.currency,
                    ",\"overdraft_limit\":", JsonBig(a.overdraft_limit),
                    ",\"balance_cap\":", JsonBig(a.balance_cap),
                    ",\"history_count\":", a.history_count, "}");
      } else if (!found) {
        out_ << "account " << ids[i] << ": not found\n";
      } else {
        out_ << absl::StrCat("account ", a.id, ": balance ", a.balance,
                             ", held ", a.held, ", available ", a.available(),
                             ", currency ", a.currency);
        if (a.overdraft_limit) out_ << ", overdraft " << a.overdraft_limit;
        if (a.balance_cap) out_ << ", cap " << a.balance_cap;
        out_ << "\n";
      }
    }
    if (o_.json) out_ << "]}\n";
    return all_found ? kExitOk : kExitRefused;
  }

  int History(uint64_t account, const HistoryFilter& filter) {
    if (absl::Status s = Connect(); !s.ok()) return Failed(s);
    auto r = client_->History(account, o_.before, o_.limit, filter);
    if (!r.ok()) return Failed(r.status());
    if (o_.json) {
      out_ << "{\"account\":" << JsonBig(account)
           << ",\"found\":" << (r->found ? "true" : "false")
           << ",\"seq\":" << JsonBig(r->seq)
           << ",\"next_before\":" << r->next_before << ",\"entries\":[";
    } else if (!r->found) {
      out_ << "account " << account << ": not found\n";
    }
    for (size_t i = 0; i < r->entries.size(); ++i) {
      const HistoryEntry& e = r->entries[i];
      const std::string kind(EntryKindName(e.kind));
      if (o_.json) {
        out_ << (i ? "," : "")
             << absl::StrCat(
                    "{\"number\":", e.number, ",\"kind\":", JsonString(kind),
                    ",\"seq\":", JsonBig(e.seq),
                    ",\"op_id\":", JsonBig(e.op_id),
                    ",\"amount\":", JsonBig(e.amount),
                    ",\"held_delta\":", JsonBig(e.held_delta),
                    ",\"balance_after\":", JsonBig(e.balance_after),
                    ",\"held_after\":", JsonBig(e.held_after),
                    ",\"other_account\":", JsonBig(e.other_account_id),
                    ",\"reason\":", e.reason,
                    ",\"user_data\":", JsonBig(e.user_data),
                    ",\"timestamp_ns\":", JsonBig(e.timestamp_ns), "}");
      } else {
        out_ << absl::StrFormat(
            "#%-5u %-13s %+d -> balance %d (held %u)  seq %u op %u", e.number,
            kind, e.amount, e.balance_after, e.held_after, e.seq, e.op_id);
        if (e.other_account_id) out_ << "  with " << e.other_account_id;
        out_ << "\n";
      }
    }
    if (o_.json) {
      out_ << "]}\n";
    } else if (r->next_before != 0) {
      out_ << "(more: --before=" << r->next_before << ")\n";
    }
    return r->found ? kExitOk : kExitRefused;
  }

  // The reply of a request that older servers do not know (STAGES, DISK),
  // or nullopt when the server answers unknown_kind (it then closes; the
  // client reconnects for the next call): stats prints what it has.
  template <typename T>
  static absl::StatusOr<std::optional<T>> IfKnown(absl::StatusOr<T> r) {
    if (r.ok()) return std::optional<T>(std::move(r).value());
    const std::string unknown(ErrorCodeName(ErrorCode::kUnknownKind));
    if (absl::IsInvalidArgument(r.status()) &&
        absl::StartsWith(r.status().message(), unknown)) {
      return std::optional<T>();
    }
    return r.status();
  }

  static std::string DiskJson(const DiskReply& r) {
    std::string out = "\"disk\":[";
    for (size_t i = 0; i < r.areas.size(); ++i) {
      const DiskAreaUsage& a = r.areas[i];
      absl::StrAppend(
          &out, i ? "," : "", "{\"area\":", static_cast<uint16_t>(a.area),
          ",\"name\":", JsonString(coffer::DiskAreaName(a.area)),
          ",\"files\":\"", a.files, "\",\"bytes\":\"", a.bytes, "\"}");
    }
    return out + "]";
  }

  void PrintDisk(const DiskReply& r) {
    out_ << absl::StrFormat("%-24s %10s %16s\n", "disk", "files", "bytes");
    for (const DiskAreaUsage& a : r.areas) {
      out_ << absl::StrFormat("%-24s %10u %16u\n", coffer::DiskAreaName(a.area),
                              a.files, a.bytes);
    }
  }

  static std::string StageLabel(uint16_t id) {
    const auto stage = static_cast<Stage>(id);
    if (id == 0 || id > kStageMax) return absl::StrCat("stage_", id);
    return std::string(StageName(stage));
  }

  // u64 values as JSON strings of decimal digits (they may exceed 2^53).
  static std::string StagesJson(const StagesReply& r) {
    std::string out = "\"stages\":[";
    for (size_t i = 0; i < r.stages.size(); ++i) {
      const StageRecord& x = r.stages[i];
      absl::StrAppend(&out, i ? "," : "", "{\"stage\":", x.stage,
                      ",\"name\":", JsonString(StageLabel(x.stage)),
                      ",\"count\":\"", x.count, "\",\"p50_ns\":\"", x.p50_ns,
                      "\",\"p99_ns\":\"", x.p99_ns, "\",\"p999_ns\":\"",
                      x.p999_ns, "\",\"max_ns\":\"", x.max_ns, "\"}");
    }
    return out + "]";
  }

  void PrintStages(const StagesReply& r) {
    // "µs" is 2 bytes for 1 column: the width is in bytes.
    out_ << absl::StrFormat("%-30s %10s %11s %11s %11s %11s\n", "stage",
                            "count", "p50 µs", "p99 µs", "p99.9 µs", "max µs");
    for (const StageRecord& x : r.stages) {
      if (x.stage == static_cast<uint16_t>(Stage::kLogBatchOps)) {
        // A count of ops per fsync, not a time.
        out_ << absl::StrFormat("%-30s %10u %10u %10u %10u %10u\n",
                                StageLabel(x.stage) + " (ops, not µs)", x.count,
                                x.p50_ns, x.p99_ns, x.p999_ns, x.max_ns);
        continue;
      }
      if (x.stage == static_cast<uint16_t>(Stage::kRecovery)) {
        // One sample, in seconds: the server's start-up.
        out_ << absl::StrFormat("%-30s %10u %10.3f s\n",
                                StageLabel(x.stage) + " (start-up)", x.count,
                                x.max_ns / 1e9);
        continue;
      }
      out_ << absl::StrFormat("%-30s %10u %10.1f %10.1f %10.1f %10.1f\n",
                              StageLabel(x.stage), x.count, x.p50_ns / 1e3,
                              x.p99_ns / 1e3, x.p999_ns / 1e3, x.max_ns / 1e3);
    }
  }

  int Stats() {
    if (absl::Status s = Connect(); !s.ok()) return Failed(s);
    if (o_.watch) {
      WatchOptions w;
      w.interval_ms = o_.watch_interval_ms;
      w.count = o_.watch_count;
      w.json = o_.json;
      if (absl::Status s = WatchStats(*client_, w, out_); !s.ok()) {
        return Failed(s);
      }
      return kExitOk;
    }
    auto r = client_->Stats();
    if (!r.ok()) return Failed(r.status());
    auto stages = IfKnown(client_->Stages());
    if (!stages.ok()) return Failed(stages.status());
    auto disk = IfKnown(client_->Disk());
    if (!disk.ok()) return Failed(disk.status());
    const EngineStats& e = r->engine;
    const ServerCounters& s = r->server;
    std::vector<std::pair<std::string, uint64_t>> fields = {
        {"requests", e.requests},
        {"ops_sequenced", e.ops_sequenced},
        {"duplicates", e.duplicates},
        {"refused_before_ordering", e.refused_before_ordering},
        {"last_seq", e.last_seq},
        {"durable_seq", e.durable_seq},
        {"log_syncs", e.log_syncs},
        {"log_records", e.log_records},
        {"snapshots", e.snapshots},
        {"snapshot_failures", e.snapshot_failures},
        {"snapshot_seq", e.snapshot_seq},
        {"snapshot_pause_us", e.snapshot_pause_us},
        {"connections_open", s.connections_open},
        {"connections_accepted", s.connections_accepted},
        {"connections_refused", s.connections_refused},
        {"frames_received", s.frames_received},
        {"replies_sent", s.replies_sent},
        {"protocol_errors", s.protocol_errors},
        {"submit_retries", s.submit_retries},
        {"busy_replies", s.busy_replies},
    };
    if (o_.json) {
      out_ << "{";
      for (const auto& [k, v] : fields)
        out_ << JsonString(k) << ":" << JsonBig(v) << ",";
      out_ << "\"shards\":[";
      for (size_t i = 0; i < e.shards.size(); ++i) {
        const ShardStats& sh = e.shards[i];
        out_ << (i ? "," : "")
             << absl::StrCat(
                    "{\"txns_applied\":", JsonBig(sh.txns_applied),
                    ",\"multi_shard_txns\":", JsonBig(sh.multi_shard_txns),
                    ",\"deferred_txns\":", JsonBig(sh.deferred_txns),
                    ",\"accounts\":", JsonBig(sh.accounts), "}");
      }
      out_ << "]";
      if (stages->has_value()) out_ << "," << StagesJson(**stages);
      if (disk->has_value()) out_ << "," << DiskJson(**disk);
      out_ << "}\n";
    } else {
      for (const auto& [k, v] : fields) {
        out_ << absl::StrFormat("%-24s %u\n", k, v);
      }
      for (size_t i = 0; i < e.shards.size(); ++i) {
        const ShardStats& sh = e.shards[i];
        out_ << absl::StrFormat(
            "shard %-3u accounts %u, txns %u (multi-shard %u, deferred %u)\n",
            i, sh.accounts, sh.txns_applied, sh.multi_shard_txns,
            sh.deferred_txns);
      }
      if (stages->has_value()) PrintStages(**stages);
      if (disk->has_value()) PrintDisk(**disk);
    }
    return kExitOk;
  }

  // DIR is a path on the server's host, which may be another machine: a
  // relative one cannot be resolved here, so it is refused, not guessed.
  int Backup(const std::string& dir) {
    if (dir.empty() || dir[0] != '/') {
      Usage(
          absl::StrCat("backup DIR must be an absolute path on the "
                       "server's host (got '",
                       dir, "'), e.g. /var/backups/coffer-1"));
      return UsageFailed();
    }
    if (absl::Status s = Connect(/*reconnect=*/false); !s.ok()) {
      return Failed(s);
    }
    auto r = client_->Backup(dir, o_.backup_timeout_s * 1000);
    if (!r.ok()) {
      // The server answered: it refused or the copy failed.
      if (absl::IsFailedPrecondition(r.status())) {
        if (o_.json) {
          out_ << "{\"error\":" << JsonString(std::string(r.status().message()))
               << "}\n";
        }
        err_ << "coffer: " << r.status().message() << "\n";
        return kExitRefused;
      }
      return Failed(r.status());
    }
    const double seconds = r->duration_us / 1e6;
    if (o_.json) {
      out_ << absl::StrCat(
          "{\"dir\":", JsonString(dir), ",\"seq\":", JsonBig(r->seq),
          ",\"snapshot_seq\":", JsonBig(r->snapshot_seq),
          ",\"files\":", JsonBig(r->files), ",\"bytes\":", JsonBig(r->bytes),
          ",\"duration_us\":", JsonBig(r->duration_us), "}\n");
    } else {
      const std::string from =
          r->snapshot_seq == 0
              ? std::string("no snapshot: the log from seq 1")
              : absl::StrCat("snapshot at seq ", r->snapshot_seq);
      out_ << absl::StrFormat(
          "backup at seq %u: %.1f MB in %.2f s -> %s (%s, "
          "%u files)\n",
          r->seq, r->bytes / 1e6, seconds, dir, from, r->files);
    }
    return kExitOk;
  }

  int Digest() {
    if (absl::Status s = Connect(); !s.ok()) return Failed(s);
    auto r = client_->Digest();
    if (!r.ok()) return Failed(r.status());
    const std::string hex =
        absl::StrFormat("%016x%016x", r->digest.hi, r->digest.lo);
    if (o_.json) {
      out_ << "{\"seq\":" << JsonBig(r->seq) << ",\"digest\":\"" << hex
           << "\",\"accounts\":" << JsonBig(r->digest.accounts)
           << ",\"holds\":" << JsonBig(r->digest.holds) << ",\"currencies\":[";
      for (size_t i = 0; i < r->totals.size(); ++i) {
        const CurrencyTotal& t = r->totals[i];
        out_ << (i ? "," : "")
             << absl::StrCat("{\"currency\":", t.currency,
                             ",\"accounts\":", JsonBig(t.accounts),
                             ",\"balance\":", JsonBig(t.balance),
                             ",\"held\":", JsonBig(t.held), "}");
      }
      out_ << "]}\n";
    } else {
      out_ << absl::StrCat("digest ", hex, " at seq ", r->seq, ": ",
                           r->digest.accounts, " accounts, ", r->digest.holds,
                           " open holds\n");
      for (const CurrencyTotal& t : r->totals) {
        out_ << absl::StrCat("currency ", t.currency, ": ", t.accounts,
                             " accounts, balance ", Int128(t.balance),
                             ", held ", Int128(t.held), "\n");
      }
    }
    return kExitOk;
  }

  const CliOptions& o_;
  std::ostream& out_;
  std::ostream& err_;
  std::unique_ptr<Client> client_;
  std::string usage_error_;
};

}  // namespace

std::string CliUsage() {
  return R"(Commands (ACCOUNT, AMOUNT, ids: decimal or 0x hex):
  create-account ACCOUNT CURRENCY [--overdraft=LIMIT] [--cap=MAX]
  credit ACCOUNT AMOUNT
  debit ACCOUNT AMOUNT
  transfer FROM TO AMOUNT
  hold ACCOUNT AMOUNT [--hold_timeout_ms=MS]   (the hold id is the op id)
  capture ACCOUNT HOLD_ID DESTINATION [AMOUNT]  (no AMOUNT: all of it)
  release ACCOUNT HOLD_ID
  balance ACCOUNT...
  history ACCOUNT [--before=N] [--limit=N]     (newest first)
          [--timestamp_min=T] [--timestamp_max=T] [--with_reason=N]
          (T: RFC 3339 or ns since the epoch; a filtered page may be short
          with next_before set: read on until it is 0)
  stats [--watch [--watch_interval_ms=N] [--watch_count=N]]
                counters, stages and disk use; with --watch a live view,
                one line a second (ops/s, syncs/s, ops per sync, ...)
  digest
  backup DIR    a consistent copy of the server's data into DIR while it
                serves; DIR is an absolute path ON THE SERVER'S HOST that
                does not exist or is empty (its parent must exist); waits
                up to --backup_timeout_s; `cofferd --data_dir=DIR` then
                starts from it. Prints "backup at seq N: M MB in S s -> DIR"
  ping
Operations take --op_id (default: random, printed; rerun with the same
--op_id to retry safely), --currency (guard), --reason, --user_data.
Ids are 1 to 18446744073709551615; amounts 1 to 9223372036854775807.
--json prints one JSON object. Integers that may exceed 2^53 are strings of
decimal digits, so JavaScript's JSON.parse never rounds them: every 64-bit
and 128-bit field (balance, held, available, limits, amounts, totals,
account and op ids, seq, counters) is a string, e.g. "balance":"100";
32-bit and smaller fields (currency, code, reason, number, history_count,
next_before, stage, area) are numbers; booleans and names are as they are.
Exit status: 0 ok (create-account also on account_exists), 1 refused by
the ledger (any other result code, or an account not found; a backup the
server refused or could not write), 2 usage
error, 3 no answer (cannot connect, auth failed, connection lost, timeout).)";
}

int RunCli(const std::vector<std::string>& args, const CliOptions& options,
           std::ostream& out, std::ostream& err) {
  return Runner(options, out, err).Run(args);
}

}  // namespace coffer::net

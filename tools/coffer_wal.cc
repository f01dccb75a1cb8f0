// coffer-wal: offline tool for a Coffer data directory (recovery and audit).
//
//   coffer-wal verify  [--data_dir=D]
//   coffer-wal dump    [--data_dir=D] [--json] [--account=A] [--op_id=O]
//                      [--from_seq=S] [--to_seq=T]
//   coffer-wal replay  [--data_dir=D] [--shards=N] [--json]
//   coffer-wal history ACCOUNT [--data_dir=D] [--archive_dir=X] [--json]
//
// It never writes to the data directory.
#include <unistd.h>

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "engine/engine.h"
#include "engine/log_codec.h"
#include "engine/snapshot_codec.h"
#include "net/program_flags.h"
#include "wal/log_reader.h"
#include "wal/snapshot_file.h"
#include "wal/storage.h"

ABSL_FLAG(std::string, data_dir, "coffer-data", "the server's data directory");
ABSL_FLAG(std::string, archive_dir, "",
          "history: the directory of older log segments, read with the data "
          "directory (empty: DATA_DIR/archive, where cofferd keeps them by "
          "default; see cofferd --wal_archive)");
ABSL_FLAG(bool, json, false, "print JSON lines instead of text");
ABSL_FLAG(uint64_t, account, 0, "dump: only ops naming this account");
ABSL_FLAG(uint64_t, op_id, 0, "dump: only this op id");
ABSL_FLAG(uint64_t, from_seq, 0, "dump: first seq to print");
ABSL_FLAG(uint64_t, to_seq, UINT64_MAX, "dump: last seq to print");
ABSL_FLAG(uint32_t, shards, 1, "replay/history: shards to replay with");
ABSL_FLAG(uint64_t, max_history_entries, 1ull << 24,
          "history: entries kept in memory while replaying");

namespace {

namespace wal = coffer::wal;

namespace fs = std::filesystem;
using coffer::Op;

int Fail(const std::string& what) {
  std::fprintf(stderr, "coffer-wal: %s\n", what.c_str());
  return 1;
}

std::string I128(__int128 v) {
  if (v == 0) return "0";
  const bool neg = v < 0;
  unsigned __int128 u = neg ? -static_cast<unsigned __int128>(v) : v;
  std::string s;
  while (u != 0) {
    s.insert(s.begin(), static_cast<char>('0' + static_cast<int>(u % 10)));
    u /= 10;
  }
  return neg ? "-" + s : s;
}

int Verify(const std::string& dir) {
  wal::Storage* storage = wal::PosixStorage();
  bool damaged = false;
  // Snapshots: each one's checksum and structure.
  uint64_t newest_good = 0;
  auto names = storage->ListDir(dir);
  if (!names.ok()) return Fail(std::string(names.status().message()));
  for (const std::string& name : *names) {
    if (!absl::StartsWith(name, "snap-") || !absl::EndsWith(name, ".snap")) {
      continue;
    }
    const std::string path = (fs::path(dir) / name).string();
    auto snap = wal::ReadSnapshotFile(storage, path);
    absl::Status s = snap.ok() ? absl::OkStatus() : snap.status();
    uint64_t accounts = 0;
    if (s.ok()) {
      coffer::internal::SnapshotVisitor v;
      v.header = [](uint64_t, uint64_t) {};
      v.account = [&](const coffer::internal::SnapshotAccount&) { ++accounts; };
      v.hold = [](const coffer::internal::SnapshotHold&) {};
      v.history = [](const coffer::HistoryEntry&) {};
      v.op_id = [](const coffer::internal::OpIdTable::Record&) {};
      s = coffer::internal::DecodeSnapshot(snap->payload, v);
    }
    if (!s.ok()) {
      damaged = true;
      std::printf("snapshot %s: DAMAGED: %s\n", path.c_str(),
                  std::string(s.message()).c_str());
    } else {
      newest_good = std::max(newest_good, snap->seq);
      std::printf("snapshot %s: ok, seq %" PRIu64 ", %" PRIu64 " accounts\n",
                  path.c_str(), snap->seq, accounts);
    }
  }
  // Log: checksums, framing, seq continuity, payload structure.
  coffer::internal::LoggedRequest decoded;
  uint64_t ops = 0;
  wal::ReadOptions options;
  options.from_seq = newest_good == 0 ? 0 : newest_good + 1;
  auto report = wal::ReadLog(dir, options, [&](const wal::Record& r) {
    absl::Status s = coffer::internal::DecodeRequest(r.payload, r.first_seq,
                                                     r.last_seq, &decoded);
    if (!s.ok()) {
      return absl::DataLossError(
          absl::StrCat("record at seq ", r.first_seq, ": ", s.message()));
    }
    ops += decoded.ops.size();
    return absl::OkStatus();
  });
  if (!report.ok()) {
    std::printf("log %s: DAMAGED: %s\n", dir.c_str(),
                std::string(report.status().message()).c_str());
    return 1;
  }
  std::printf("log %s: ok, %zu segments, %" PRIu64 " records (%" PRIu64
              " ops) after the snapshot, last seq %" PRIu64 "\n",
              dir.c_str(), report->segments.size(), report->records, ops,
              report->last_seq);
  for (const wal::TornTail& t : report->torn) {
    std::printf("log: torn tail (a crash mid-write; recovery cuts it): %" PRIu64
                " bytes at %s offset %" PRIu64 "\n",
                t.bytes, t.file.c_str(), t.offset);
  }
  return damaged ? 1 : 0;
}

bool Matches(const Op& op) {
  const uint64_t account = absl::GetFlag(FLAGS_account);
  const uint64_t op_id = absl::GetFlag(FLAGS_op_id);
  if (op_id != 0 && op.op_id != op_id) return false;
  if (account != 0 && op.account_id != account &&
      op.other_account_id != account) {
    return false;
  }
  return true;
}

void PrintOp(uint64_t seq, uint64_t ts, const Op& op) {
  const std::string kind(coffer::OpKindName(op.kind));
  if (absl::GetFlag(FLAGS_json)) {
    std::printf("{\"seq\":%" PRIu64 ",\"timestamp_ns\":%" PRIu64
                ",\"kind\":\"%s\","
                "\"op_id\":%" PRIu64 ",\"account_id\":%" PRIu64
                ",\"other_account_id\":%" PRIu64 ",\"amount\":%" PRIu64
                ",\"aux\":%" PRIu64
                ",\"currency\":%u,\"account_flags\":%u,"
                "\"reason\":%u,\"user_data\":%" PRIu64 ",\"linked\":%s}\n",
                seq, ts, kind.c_str(), op.op_id, op.account_id,
                op.other_account_id, op.amount, op.aux, op.currency,
                op.account_flags, op.reason, op.user_data,
                (op.flags & coffer::kOpFlagLinked) ? "true" : "false");
  } else {
    std::printf(
        "seq %" PRIu64 " ts %" PRIu64 " %-14s op %" PRIu64 " account %" PRIu64
        " other %" PRIu64 " amount %" PRIu64 " aux %" PRIu64
        " currency %u reason %u user_data %" PRIu64 "%s\n",
        seq, ts, kind.c_str(), op.op_id, op.account_id, op.other_account_id,
        op.amount, op.aux, op.currency, op.reason, op.user_data,
        (op.flags & coffer::kOpFlagLinked) ? " linked" : "");
  }
}

int Dump(const std::string& dir) {
  const uint64_t from = absl::GetFlag(FLAGS_from_seq);
  const uint64_t to = absl::GetFlag(FLAGS_to_seq);
  coffer::internal::LoggedRequest decoded;
  wal::ReadOptions options;
  auto report = wal::ReadLog(dir, options, [&](const wal::Record& r) {
    if (r.last_seq < from || r.first_seq > to) return absl::OkStatus();
    absl::Status s = coffer::internal::DecodeRequest(r.payload, r.first_seq,
                                                     r.last_seq, &decoded);
    if (!s.ok()) return s;
    for (const auto& t : decoded.txns) {
      for (uint32_t k = 0; k < t.op_count; ++k) {
        const uint64_t seq = t.seq + k;
        const Op& op = decoded.ops[t.op_begin + k];
        if (seq >= from && seq <= to && Matches(op)) {
          PrintOp(seq, t.timestamp_ns, op);
        }
      }
    }
    return absl::OkStatus();
  });
  if (!report.ok()) return Fail(std::string(report.status().message()));
  return 0;
}

absl::StatusOr<std::unique_ptr<coffer::Engine>> OpenReadOnly(
    const std::string& dir, uint64_t history_entries) {
  coffer::EngineConfig config;
  config.data_dir = dir;
  config.read_only = true;
  config.shard_count = absl::GetFlag(FLAGS_shards);
  config.history_entries_per_shard_max = history_entries;
  return coffer::Engine::Create(config);
}

int Replay(const std::string& dir) {
  auto engine = OpenReadOnly(dir, 0);
  if (!engine.ok()) return Fail(std::string(engine.status().message()));
  coffer::Request digest;
  digest.kind = coffer::RequestKind::kDigest;
  (*engine)->Execute(digest);
  const coffer::RecoveryReport& rec = (*engine)->recovery();
  const std::string hex =
      absl::StrFormat("%016x%016x", digest.digest.hi, digest.digest.lo);
  if (absl::GetFlag(FLAGS_json)) {
    std::printf("{\"last_seq\":%" PRIu64 ",\"snapshot_seq\":%" PRIu64
                ",\"log_records\":%" PRIu64 ",\"accounts\":%" PRIu64
                ",\"open_holds\":%" PRIu64 ",\"digest\":\"%s\",\"totals\":[",
                rec.last_seq, rec.snapshot_seq, rec.log_records,
                digest.digest.accounts, digest.digest.holds, hex.c_str());
    for (size_t i = 0; i < digest.currency_totals.size(); ++i) {
      const auto& t = digest.currency_totals[i];
      std::printf("%s{\"currency\":%u,\"accounts\":%" PRIu64
                  ",\"balance\":%s,\"held\":%s}",
                  i ? "," : "", t.currency, t.accounts, I128(t.balance).c_str(),
                  I128(t.held).c_str());
    }
    std::printf("]}\n");
    return 0;
  }
  std::printf("replayed %s: snapshot at seq %" PRIu64 " + %" PRIu64
              " log records (%" PRIu64 " ops) in %.2f s\n",
              dir.c_str(), rec.snapshot_seq, rec.log_records, rec.log_ops,
              rec.seconds);
  for (const std::string& note : rec.notes)
    std::printf("note: %s\n", note.c_str());
  std::printf("last seq %" PRIu64 ", %" PRIu64 " accounts, %" PRIu64
              " open holds\n",
              rec.last_seq, digest.digest.accounts, digest.digest.holds);
  for (const auto& t : digest.currency_totals) {
    std::printf("currency %u: %" PRIu64 " accounts, balance %s, held %s\n",
                t.currency, t.accounts, I128(t.balance).c_str(),
                I128(t.held).c_str());
  }
  std::printf("digest %s\n", hex.c_str());
  return 0;
}

int History(const std::string& dir, uint64_t account) {
  // The whole history needs the log from seq 1: the archive (segments
  // cofferd moved out of the live log after snapshots) plus the live
  // segments. Gather links to
  // both in a scratch directory and replay them without a snapshot.
  std::string source = dir;
  std::string scratch;
  std::string archive = absl::GetFlag(FLAGS_archive_dir);
  if (archive.empty()) archive = coffer::wal::JoinPath(dir, "archive");
  bool complete = false;
  {
    std::error_code ec;
    scratch = (fs::temp_directory_path() /
               absl::StrCat("coffer-wal-history-", getpid()))
                  .string();
    fs::remove_all(scratch, ec);
    fs::create_directories(scratch);
    std::vector<std::string> firsts;
    for (const std::string& d : {archive, dir}) {
      if (d.empty() || !fs::exists(d)) continue;
      for (const auto& entry : fs::directory_iterator(d)) {
        const std::string name = entry.path().filename().string();
        if (absl::StartsWith(name, "wal-") && absl::EndsWith(name, ".log")) {
          fs::create_symlink(fs::absolute(entry.path()),
                             fs::path(scratch) / name, ec);
          firsts.push_back(name);
        }
      }
    }
    std::sort(firsts.begin(), firsts.end());
    complete =
        !firsts.empty() && firsts.front() == "wal-00000000000000000001.log";
    if (complete) source = scratch;
  }
  auto engine = OpenReadOnly(source, absl::GetFlag(FLAGS_max_history_entries));
  std::error_code ec;
  fs::remove_all(scratch, ec);
  if (!engine.ok()) return Fail(std::string(engine.status().message()));
  if (!complete) {
    std::fprintf(stderr,
                 "coffer-wal: the log does not reach back to seq 1 (its "
                 "oldest segments were deleted: cofferd --wal_archive=false "
                 "or --wal_archive_bytes_max, or by hand; or give "
                 "--archive_dir); showing the history kept in the snapshot "
                 "and the log after it\n");
  }
  uint32_t before = 0;
  bool any = false;
  do {
    coffer::Request h;
    h.kind = coffer::RequestKind::kHistory;
    h.history_account = account;
    h.history_before = before;
    h.history_limit = 1000;
    (*engine)->Execute(h);
    if (!h.history_found) return Fail(absl::StrCat("no account ", account));
    for (const coffer::HistoryEntry& e : h.history) {
      any = true;
      const std::string kind(coffer::EntryKindName(e.kind));
      if (absl::GetFlag(FLAGS_json)) {
        std::printf("{\"number\":%u,\"seq\":%" PRIu64
                    ",\"kind\":\"%s\","
                    "\"op_id\":%" PRIu64 ",\"amount\":%" PRId64
                    ",\"held_delta\":%" PRId64 ",\"balance_after\":%" PRId64
                    ",\"held_after\":%" PRIu64 ",\"other_account_id\":%" PRIu64
                    ",\"reason\":%u,\"user_data\":%" PRIu64
                    ",\"timestamp_ns\":%" PRIu64 "}\n",
                    e.number, e.seq, kind.c_str(), e.op_id, e.amount,
                    e.held_delta, e.balance_after, e.held_after,
                    e.other_account_id, e.reason, e.user_data, e.timestamp_ns);
      } else {
        std::printf("#%u seq %" PRIu64 " %-12s op %" PRIu64 " amount %+" PRId64
                    " held %+" PRId64 " -> balance %" PRId64 " held %" PRIu64
                    " (other %" PRIu64 ", reason %u, user_data %" PRIu64 ")\n",
                    e.number, e.seq, kind.c_str(), e.op_id, e.amount,
                    e.held_delta, e.balance_after, e.held_after,
                    e.other_account_id, e.reason, e.user_data);
      }
    }
    before = h.history_next_before;
  } while (before != 0);
  if (!any) std::fprintf(stderr, "coffer-wal: no history entries in memory\n");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  // The programs' shared parser: --help exits 0 (Abseil's exits 1), a bad
  // flag exits 2.
  const std::string usage = absl::StrCat(
      "Offline tool for a Coffer data directory; never writes to it.\n"
      "Usage: coffer-wal COMMAND [ARGS] [--data_dir=DIR] [flags]\n"
      "  coffer-wal verify    check log checksums, seq continuity and "
      "snapshots; non-zero exit on damage\n"
      "  coffer-wal dump      print log records (text or --json), filtered "
      "by --account, --op_id, --from_seq/--to_seq\n"
      "  coffer-wal replay    rebuild the state (snapshot + log) and print "
      "totals per currency and the state digest\n"
      "  coffer-wal history ACCOUNT   an account's full history (snapshot + "
      "log + --archive_dir)");
  const std::vector<std::string> args =
      coffer::net::ParseProgramFlags(argc, argv, usage, "tools/");
  if (args.empty()) {
    std::fprintf(stderr, "%s\n", usage.c_str());
    return 2;
  }
  const std::string& command = args[0];
  const std::string dir = absl::GetFlag(FLAGS_data_dir);
  if (!fs::is_directory(dir)) {
    return Fail(absl::StrCat("no data directory '", dir, "'"));
  }
  if (command == "verify") return Verify(dir);
  if (command == "dump") return Dump(dir);
  if (command == "replay") return Replay(dir);
  if (command == "history") {
    uint64_t account = 0;
    if (args.size() < 2 || !absl::SimpleAtoi(args[1], &account) ||
        account == 0) {
      return Fail("usage: coffer-wal history ACCOUNT (a non-zero account id)");
    }
    return History(dir, account);
  }
  return Fail(absl::StrCat("unknown command '", command,
                           "' (verify, dump, replay, history)"));
}

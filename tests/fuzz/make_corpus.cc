// coffer-fuzz-corpus: writes the seed corpora of the fuzz targets
// (tests/fuzz/corpus/<target>/) with the real encoders, so the seeds are
// valid inputs of today's formats: every protocol message kind, handshakes
// (good, wrong token, bad versions) with the requests that follow, log
// segments with a few records, snapshots (file versions 1 and 2, payload
// versions 1 and 2), and edge cases next to them. Deterministic: the same build
// writes the same bytes.
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

#include "absl/flags/flag.h"
#include "engine/log_codec.h"
#include "engine/snapshot_codec.h"
#include "net/codec.h"
#include "net/program_flags.h"
#include "tests/fuzz/memory_storage.h"
#include "wal/format.h"
#include "wal/snapshot_file.h"
#include "xxhash.h"

ABSL_FLAG(std::string, out, "tests/fuzz/corpus",
          "directory that gets one subdirectory per fuzz target");

namespace coffer::fuzz {
namespace {

using Bytes = std::vector<uint8_t>;
namespace fs = std::filesystem;

std::string out_dir;
int files_written = 0;

void Write(const std::string& target, const std::string& name,
           std::string_view bytes) {
  const fs::path dir = fs::path(out_dir) / target;
  fs::create_directories(dir);
  std::ofstream f(dir / name, std::ios::binary | std::ios::trunc);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!f) {
    std::fprintf(stderr, "coffer-fuzz-corpus: cannot write %s\n",
                 (dir / name).c_str());
    std::exit(1);
  }
  ++files_written;
}
void Write(const std::string& target, const std::string& name,
           const Bytes& bytes) {
  Write(target, name,
        std::string_view(reinterpret_cast<const char*>(bytes.data()),
                         bytes.size()));
}

Bytes Frame(uint64_t request_id, const net::Message& m,
            uint16_t version = net::kVersionMax) {
  Bytes out;
  net::EncodeFrame(request_id, m, out, version);
  return out;
}

Op MakeOp(OpKind kind, uint64_t op_id, uint64_t account, uint64_t other,
          uint64_t amount) {
  Op op;
  op.op_id = op_id;
  op.kind = kind;
  op.account_id = account;
  op.other_account_id = other;
  op.amount = amount;
  op.currency = 1;
  return op;
}

std::vector<Op> SampleOps() {
  std::vector<Op> ops = {
      MakeOp(OpKind::kCreateAccount, 1, 10, 0, 0),
      MakeOp(OpKind::kCreateAccount, 2, 11, 0, 0),
      MakeOp(OpKind::kCredit, 3, 10, 0, 500),
      MakeOp(OpKind::kTransfer, 4, 10, 11, 200),
      MakeOp(OpKind::kHold, 5, 11, 0, 50),
      MakeOp(OpKind::kCapture, 6, 11, 10, 50),
      MakeOp(OpKind::kDebit, 7, 10, 0, 100),
  };
  ops[5].aux = 5;  // the hold to capture
  return ops;
}

void FrameDecoder() {
  const std::string t = "frame_decoder";
  net::Hello hello;
  hello.auth_token = "secret";
  Write(t, "hello", Frame(0, hello));
  Write(t, "hello_token_max",
        Frame(0, net::Hello{1, 1, std::string(net::kAuthTokenBytesMax, 'x')}));
  net::HelloOk ok{1, 4, 1 << 20, 8192, 64, 1000};
  Write(t, "hello_ok", Frame(0, ok));
  Write(t, "ops", Frame(1, net::OpsRequest{SampleOps()}));
  net::OpsReply ops_reply;
  ops_reply.results.resize(3);
  ops_reply.results[1].code = ResultCode::kInsufficientFunds;
  ops_reply.results[2].flags = kResultFlagDuplicate;
  Write(t, "ops_reply", Frame(1, ops_reply));
  Write(t, "lookup", Frame(2, net::LookupRequest{{10, 11, 0}}));
  net::LookupReply lookup_reply;
  lookup_reply.seq = 7;
  lookup_reply.accounts.resize(2);
  lookup_reply.accounts[0].id = 10;
  lookup_reply.accounts[0].balance = 300;
  Write(t, "lookup_reply", Frame(2, lookup_reply));
  Write(t, "history", Frame(3, net::HistoryRequest{10, 5, 2}));
  Write(t, "history_filtered",
        Frame(3, net::HistoryRequest{10, 5, 2, {100, 200, 7, true}}));
  Write(t, "history_v1", Frame(3, net::HistoryRequest{10, 5, 2}, 1));
  Write(t, "ops_v1", Frame(1, net::OpsRequest{SampleOps()}, 1));
  net::HistoryReply history_reply;
  history_reply.seq = 7;
  history_reply.found = true;
  history_reply.next_before = 3;
  history_reply.entries.resize(2);
  history_reply.entries[0].account_id = 10;
  history_reply.entries[1].kind = EntryKind::kDebit;
  Write(t, "history_reply", Frame(3, history_reply));
  Write(t, "stats", Frame(4, net::StatsRequest{}));
  net::StatsReply stats_reply;
  stats_reply.engine.requests = 9;
  stats_reply.engine.shards.resize(2);
  Write(t, "stats_reply", Frame(4, stats_reply));
  Write(t, "digest", Frame(5, net::DigestRequest{}));
  net::DigestReply digest_reply;
  digest_reply.seq = 7;
  digest_reply.totals.push_back({1, 2, 400, 0});
  digest_reply.totals.push_back({2, 1, -(__int128{1} << 70), 5});
  Write(t, "digest_reply", Frame(5, digest_reply));
  Write(t, "backup", Frame(8, net::BackupRequest{"/var/backups/coffer-1"}));
  Write(t, "backup_reply", Frame(8, net::BackupReply{70, 64, 5, 4096, 1500}));
  Write(t, "ping", Frame(6, net::Ping{}));
  Write(t, "pong", Frame(6, net::Pong{}));
  Write(t, "error",
        Frame(7, net::Error{net::ErrorCode::kBusy, net::kErrorFlagClosing,
                            "busy"}));
  Write(t, "error_long",
        Frame(7, net::Error{net::ErrorCode::kInternal, 0,
                            std::string(net::kErrorMessageBytesMax, 'e')}));
  // Edge cases: a header alone claiming a huge body; an unknown kind.
  net::FrameHeader h;
  h.kind = static_cast<uint16_t>(net::MessageKind::kOps);
  h.count = 0xFFFFFFFF;
  h.body_bytes = 0xFFFFFFC0;
  Bytes header(net::kHeaderBytes);
  net::EncodeHeader(h, header.data());
  Write(t, "ops_huge_count", header);
  h.kind = 0x7777;
  h.count = 0;
  h.body_bytes = 0;
  net::EncodeHeader(h, header.data());
  Write(t, "unknown_kind", header);
}

void Append(Bytes* out, const Bytes& more) {
  out->insert(out->end(), more.begin(), more.end());
}

void Handshake() {
  const std::string t = "handshake";
  const net::Hello good{1, 2, "fuzz-token"};
  Write(t, "hello_good", Frame(0, good));
  Write(t, "hello_wrong_token", Frame(0, net::Hello{1, 1, "fuzz-tokem"}));
  Write(t, "hello_no_token", Frame(0, net::Hello{1, 1, ""}));
  Write(t, "hello_versions_3_to_9", Frame(0, net::Hello{3, 9, "fuzz-token"}));
  Write(t, "hello_versions_0_to_1", Frame(0, net::Hello{0, 1, "fuzz-token"}));
  Write(t, "ping_before_hello", Frame(1, net::Ping{}));
  Bytes hello = Frame(0, good);
  Write(t, "hello_truncated",
        Bytes(hello.begin(), hello.begin() + hello.size() - 3));
  Bytes session = hello;
  Append(&session, Frame(1, net::Ping{}));
  Append(&session, Frame(2, net::StatsRequest{}));
  Append(&session, Frame(3, net::OpsRequest{SampleOps()}));
  Append(&session, Frame(4, net::LookupRequest{{10, 11}}));
  Append(&session, Frame(5, net::HistoryRequest{10, 0, 10}));
  Append(&session, Frame(6, net::DigestRequest{}));
  Write(t, "session", session);
  // The same requests in a version 1 session.
  Bytes v1 = Frame(0, net::Hello{1, 1, "fuzz-token"});
  Append(&v1, Frame(3, net::OpsRequest{SampleOps()}, 1));
  Append(&v1, Frame(5, net::HistoryRequest{10, 0, 10}, 1));
  Append(&v1, Frame(6, net::OpsRequest{SampleOps()}));  // a version 2 frame
  Write(t, "session_v1", v1);
  Bytes twice = hello;
  Append(&twice, hello);
  Write(t, "hello_twice", twice);
  Bytes dup = hello;
  Append(&dup, Frame(9, net::OpsRequest{SampleOps()}));
  Append(&dup, Frame(9, net::OpsRequest{SampleOps()}));
  Write(t, "duplicate_request_id", dup);
  Bytes reply_kind = hello;
  Append(&reply_kind, Frame(1, net::Pong{}));
  Write(t, "reply_kind_from_client", reply_kind);
}

// The flags byte the log reader and snapshot targets start with.
std::string Flag(uint8_t flags) {
  return std::string(1, static_cast<char>(flags));
}

std::string Payload(uint64_t first_seq, uint32_t txns, uint64_t ts) {
  std::string out;
  const size_t begin = internal::EncodeBegin(out);
  const std::vector<Op> ops = SampleOps();
  uint64_t seq = first_seq;
  for (uint32_t i = 0; i < txns; ++i) {
    const uint32_t n = i % 2 == 0 ? 1 : 2;  // a single op, a linked pair
    std::vector<Op> chain(ops.begin() + i % 5, ops.begin() + i % 5 + n);
    if (n == 2) chain[0].flags = kOpFlagLinked;
    internal::EncodeTxn(out, seq, ts + i, chain.data(), n);
    seq += n;
  }
  internal::EncodeEnd(out, begin, txns);
  return out;
}

// Seqs of Payload(first_seq, txns, ...).
uint64_t PayloadOps(uint32_t txns) { return txns + txns / 2; }

// A segment from first_seq with `records` records of 1..3 txns each.
std::string Segment(uint64_t first_seq, int records, uint64_t* next_seq) {
  std::string seg = wal::EncodeSegmentHeader({first_seq, 1 << 20});
  uint64_t seq = first_seq;
  for (int r = 0; r < records; ++r) {
    const uint32_t txns = 1 + r % 3;
    const uint64_t n = PayloadOps(txns);
    wal::AppendRecord(&seg, wal::RecordType::kTransactions, seq, seq + n - 1,
                      Payload(seq, txns, 1'700'000'000'000'000'000 + seq));
    seq += n;
  }
  *next_seq = seq;
  return seg;
}

void LogReader() {
  const std::string t = "log_reader";
  constexpr std::string_view kSep = "\xffSEGMENT";
  uint64_t next = 0;
  const std::string one = Segment(1, 4, &next);
  Write(t, "one_segment", Flag(0x00) + one);
  Write(t, "one_segment_fix", Flag(0x02) + one);
  const std::string two = Segment(next, 3, &next);
  Write(t, "two_segments", Flag(0x00) + one + std::string(kSep) + two);
  // Preallocated zeros after the data, and a torn record at the end.
  Write(t, "zero_tail", Flag(0x00) + one + std::string(200, '\0'));
  Write(t, "torn_tail", Flag(0x00) + one.substr(0, one.size() - 10));
  // A flipped byte in the middle record with valid ones after it: corruption
  // (and the same with repair).
  std::string bad = one;
  bad[wal::kSegmentHeaderBytes + 40] ^= 0x5A;
  Write(t, "corrupt_middle", Flag(0x00) + bad);
  Write(t, "corrupt_middle_repair", Flag(0x01) + bad + std::string(kSep) + two);
  // Resuming from a snapshot at seq 5 (from_seq 6) with a later segment.
  Write(t, "from_seq_6", Flag(0x60) + one + std::string(kSep) + two);
  // A gap between segments.
  uint64_t ignored = 0;
  Write(t, "gap",
        Flag(0x00) + one + std::string(kSep) + Segment(next + 5, 2, &ignored));
  Write(t, "header_only", Flag(0x00) + wal::EncodeSegmentHeader({1, 4096}));
}

// A version 1 snapshot file, as WriteSnapshotFile wrote them before
// version 2 (still read): payload_bytes and the payload checksum in the
// header, no trailer.
std::string SnapshotFileV1(uint64_t seq, std::string_view payload) {
  std::string file(wal::kSnapshotHeaderBytes, '\0');
  std::memcpy(file.data(), wal::kSnapshotMagic.data(),
              wal::kSnapshotMagic.size());
  wal::PutU32(&file[8], wal::kSnapshotVersion1);
  wal::PutU32(&file[12], static_cast<uint32_t>(wal::kSnapshotHeaderBytes));
  wal::PutU64(&file[16], seq);
  wal::PutU64(&file[24], payload.size());
  wal::PutU64(&file[32], XXH3_64bits(payload.data(), payload.size()));
  wal::PutU64(&file[40], XXH3_64bits(file.data(), 40));
  return file.append(payload);
}

// A version 2 snapshot file from the real writer (one Append per chunk).
std::string SnapshotFileV2(uint64_t seq,
                           const std::vector<std::string_view>& chunks) {
  MemoryStorage storage;
  if (!wal::WriteSnapshotFile(&storage, "/s", seq, chunks).ok()) {
    std::fprintf(stderr, "coffer-fuzz-corpus: WriteSnapshotFile failed\n");
    std::exit(1);
  }
  return storage.files().at("/s/" + wal::SnapshotFileName(seq));
}

internal::SnapshotAccount SampleAccount(uint64_t id) {
  internal::SnapshotAccount a{};
  a.id = id;
  a.account.state.balance = static_cast<int64_t>(id * 100);
  a.account.state.currency = 1;
  a.account.state.history_count = 2;
  return a;
}

internal::SnapshotHold SampleHold(uint64_t id, uint64_t account) {
  internal::SnapshotHold h{};
  h.id = id;
  h.hold.account_id = account;
  h.hold.amount = 50;
  return h;
}

HistoryEntry SampleEntry(uint64_t seq, uint64_t account, uint32_t number) {
  HistoryEntry e{};
  e.seq = seq;
  e.account_id = account;
  e.amount = 500;
  e.number = number;
  return e;
}

internal::OpIdTable::Record SampleOpId(uint64_t op_id) {
  internal::OpIdTable::Record r;
  r.op_id = op_id;
  r.seq = op_id;
  r.done = true;
  return r;
}

// Payload version 2: blocks of every kind from two shards and the
// sequencer, interleaved as the in-process writer may write them, with an
// empty block among them, then the end block.
std::string BlockPayload(uint64_t seq, uint64_t ts) {
  using internal::SnapshotBlockKind;
  std::string out = internal::SnapshotHeaderV2(seq, ts);
  internal::SnapshotBlockBuilder accounts0(SnapshotBlockKind::kAccounts, 0);
  accounts0.Account(SampleAccount(10));
  accounts0.Account(SampleAccount(12));
  out += accounts0.Take();
  internal::SnapshotBlockBuilder accounts1(SnapshotBlockKind::kAccounts, 1);
  accounts1.Account(SampleAccount(11));
  out += accounts1.Take();
  internal::SnapshotBlockBuilder holds1(SnapshotBlockKind::kHolds, 1);
  holds1.Hold(SampleHold(5, 11));
  out += holds1.Take();
  out += internal::SnapshotBlockBuilder(SnapshotBlockKind::kHolds, 0).Take();
  internal::SnapshotBlockBuilder history0(SnapshotBlockKind::kHistory, 0);
  history0.History(SampleEntry(3, 10, 1));
  history0.History(SampleEntry(4, 10, 2));
  out += history0.Take();
  internal::SnapshotBlockBuilder op_ids(SnapshotBlockKind::kOpIds,
                                        internal::kSnapshotSourceSequencer);
  op_ids.OpId(SampleOpId(3));
  op_ids.OpId(SampleOpId(4));
  out += op_ids.Take();
  internal::SnapshotBlockBuilder history1(SnapshotBlockKind::kHistory, 1);
  history1.History(SampleEntry(5, 11, 1));
  out += history1.Take();
  out += internal::SnapshotBlockBuilder(SnapshotBlockKind::kEnd,
                                        internal::kSnapshotSourceSequencer)
             .Take();
  return out;
}

void Snapshot() {
  const std::string t = "snapshot";
  // Version 1 files with version 1 payloads (what was written before the
  // version 2 formats; these seeds keep their bytes).
  internal::SnapshotEncoder enc(42, 1'700'000'000'000'000'000);
  enc.BeginSection();
  for (uint64_t id = 10; id < 13; ++id) enc.Account(SampleAccount(id));
  enc.EndSection();
  enc.BeginSection();
  enc.Hold(SampleHold(5, 11));
  enc.EndSection();
  enc.BeginSection();
  enc.History(SampleEntry(3, 10, 1));
  enc.EndSection();
  enc.BeginSection();
  enc.OpId(SampleOpId(3));
  enc.EndSection();
  const std::string file = SnapshotFileV1(42, enc.bytes());
  Write(t, "small", Flag(0x00) + file);
  Write(t, "small_fix", Flag(0x01) + file);
  internal::SnapshotEncoder empty(0, 0);
  for (int s = 0; s < 4; ++s) {
    empty.BeginSection();
    empty.EndSection();
  }
  Write(t, "empty_state", Flag(0x00) + SnapshotFileV1(0, empty.bytes()));
  Write(t, "truncated_fix", Flag(0x01) + file.substr(0, file.size() - 20));
  Write(t, "header_only",
        Flag(0x00) + file.substr(0, wal::kSnapshotHeaderBytes));

  // Version 2 files (what WriteSnapshotFile writes now).
  // A version 1 payload (a forked child's) in a version 2 file.
  const std::string v2_small = SnapshotFileV2(42, {enc.bytes()});
  Write(t, "v2_file_v1_payload", Flag(0x00) + v2_small);
  Write(t, "v2_file_v1_payload_fix", Flag(0x01) + v2_small);
  Write(t, "v2_file_v1_empty_state",
        Flag(0x00) + SnapshotFileV2(0, {empty.bytes()}));
  // Version 2 payloads: several blocks, appended one chunk per block as
  // the streaming writer does (the chunks split the payload anywhere; the
  // file is the same).
  const std::string blocks = BlockPayload(77, 1'700'000'000'000'000'123);
  const std::string_view b(blocks);
  const std::string v2 =
      SnapshotFileV2(77, {b.substr(0, 24), b.substr(24, 100), b.substr(124)});
  Write(t, "v2_blocks", Flag(0x00) + v2);
  Write(t, "v2_blocks_fix", Flag(0x01) + v2);
  // The smallest state: the header and the end block.
  const std::string empty_blocks =
      internal::SnapshotHeaderV2(0, 0) +
      internal::SnapshotBlockBuilder(internal::SnapshotBlockKind::kEnd,
                                     internal::kSnapshotSourceSequencer)
          .Take();
  Write(t, "v2_blocks_empty_state",
        Flag(0x00) + SnapshotFileV2(0, {empty_blocks}));
  // Damage: truncated (the fix rebuilds the trailer, so the payload
  // decoder sees a payload that ends inside a block), the header alone,
  // no payload at all (header and trailer), a bad trailer magic that the
  // fix keeps (flag bit 1), a version 2 payload in a version 1 file (both
  // readers accept any combination).
  Write(t, "v2_truncated_fix", Flag(0x01) + v2.substr(0, v2.size() - 20));
  Write(t, "v2_header_only",
        Flag(0x00) + v2.substr(0, wal::kSnapshotHeaderBytes));
  Write(t, "v2_no_payload", Flag(0x00) + SnapshotFileV2(5, {}));
  std::string bad_magic = v2;
  bad_magic[bad_magic.size() - wal::kSnapshotTrailerBytes] ^= 0x20;
  Write(t, "v2_bad_trailer_magic_fix", Flag(0x03) + bad_magic);
  Write(t, "v1_file_v2_payload", Flag(0x00) + SnapshotFileV1(77, blocks));
}

void LogRecord() {
  const std::string t = "log_record";
  auto with_seqs = [](uint64_t first, uint64_t last, const std::string& p) {
    std::string out(16, '\0');
    wal::PutU64(out.data(), first);
    wal::PutU64(out.data() + 8, last);
    return out + p;
  };
  Write(t, "one_txn", with_seqs(1, 1, Payload(1, 1, 1000)));
  Write(t, "three_txns", with_seqs(7, 10, Payload(7, 3, 1000)));
  Write(t, "wrong_last_seq", with_seqs(7, 11, Payload(7, 3, 1000)));
  Write(t, "empty", with_seqs(1, 0, Payload(1, 0, 0)));
}

}  // namespace
}  // namespace coffer::fuzz

int main(int argc, char** argv) {
  coffer::net::ParseProgramFlags(
      argc, argv,
      "Usage: coffer-fuzz-corpus [--out=DIR]\n\n"
      "Writes the fuzz targets' seed corpora (DIR/<target>/<name>) with the\n"
      "real encoders. Run from the repository root to refresh\n"
      "tests/fuzz/corpus.",
      "tests/fuzz/");
  coffer::fuzz::out_dir = absl::GetFlag(FLAGS_out);
  coffer::fuzz::FrameDecoder();
  coffer::fuzz::Handshake();
  coffer::fuzz::LogReader();
  coffer::fuzz::Snapshot();
  coffer::fuzz::LogRecord();
  std::printf("coffer-fuzz-corpus: wrote %d files under %s\n",
              coffer::fuzz::files_written, coffer::fuzz::out_dir.c_str());
  return 0;
}

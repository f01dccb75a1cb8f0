// The protocol codec on its own: every message kind survives an
// encode/decode round trip, and every layout rule of net/PROTOCOL.md is
// enforced by CheckLayout/DecodeBody with the documented error code.
#include <cstring>
#include <set>
#include <vector>

#include "gtest/gtest.h"
#include "net/auth.h"
#include "net/codec.h"
#include "net/protocol.h"
#include "net/wire.h"

namespace coffer::net {
namespace {

template <typename T>
bool SameBytes(const T& a, const T& b) {
  static_assert(std::has_unique_object_representations_v<T>);
  return std::memcmp(&a, &b, sizeof(T)) == 0;
}

template <typename T>
bool SameVectors(const std::vector<T>& a, const std::vector<T>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (!SameBytes(a[i], b[i])) return false;
  }
  return true;
}

// Equality for messages whose records have no operator==.
bool Same(const Message& a, const Message& b) {
  if (a.index() != b.index()) return false;
  if (auto* x = std::get_if<OpsRequest>(&a)) {
    return SameVectors(x->ops, std::get<OpsRequest>(b).ops);
  }
  if (auto* x = std::get_if<OpsReply>(&a)) {
    return SameVectors(x->results, std::get<OpsReply>(b).results);
  }
  if (auto* x = std::get_if<LookupReply>(&a)) {
    const auto& y = std::get<LookupReply>(b);
    return x->seq == y.seq && SameVectors(x->accounts, y.accounts);
  }
  if (auto* x = std::get_if<HistoryReply>(&a)) {
    const auto& y = std::get<HistoryReply>(b);
    return x->seq == y.seq && x->next_before == y.next_before &&
           x->found == y.found && SameVectors(x->entries, y.entries);
  }
  return std::visit(
      [&](const auto& x) {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, OpsRequest> ||
                      std::is_same_v<T, OpsReply> ||
                      std::is_same_v<T, LookupReply> ||
                      std::is_same_v<T, HistoryReply>) {
          return false;  // handled above
        } else {
          return x == std::get<T>(b);
        }
      },
      a);
}

Op SampleOp(uint64_t i) {
  Op op;
  op.op_id = 0x1000 + i;
  op.account_id = 42 + i;
  op.other_account_id = 7;
  op.amount = 500 + i;
  op.aux = 9;
  op.user_data = 0xDEADBEEFCAFEull;
  op.reason = 3;
  op.currency = 2;
  op.account_flags = kAccountFlagCap;
  op.kind = OpKind::kTransfer;
  op.flags = kOpFlagLinked;
  return op;
}

// One of every message kind, with non-zero values in every field.
std::vector<Message> EveryKind() {
  std::vector<Message> all;
  all.push_back(Hello{1, 1, "token-\x01\xff"});
  all.push_back(HelloOk{1, 8, 1u << 20, 8192, 128, 1000});
  all.push_back(OpsRequest{{SampleOp(0), SampleOp(1), SampleOp(2)}});
  OpsReply ops_reply;
  ops_reply.results = {
      {ResultCode::kOk, 0, 0, 950, 12},
      {ResultCode::kInsufficientFunds, kResultFlagDuplicate, 0, -5, 13}};
  all.push_back(ops_reply);
  all.push_back(LookupRequest{{42, 43, 0xFFFFFFFFFFFFFFFFull}});
  LookupReply lookup_reply;
  lookup_reply.seq = 99;
  AccountInfo a;
  a.id = 42;
  a.balance = -17;
  a.held = 5;
  a.overdraft_limit = 100;
  a.balance_cap = 1000;
  a.currency = 2;
  a.flags = kAccountFlagOverdraft | kAccountFlagCap;
  a.history_count = 8;
  lookup_reply.accounts = {a, AccountInfo{}};
  all.push_back(lookup_reply);
  all.push_back(HistoryRequest{42, 17, 50});
  HistoryReply history_reply;
  history_reply.seq = 77;
  history_reply.next_before = 3;
  history_reply.found = true;
  HistoryEntry e;
  e.seq = 5;
  e.op_id = 0x1001;
  e.account_id = 42;
  e.other_account_id = 43;
  e.amount = -50;
  e.held_delta = 10;
  e.balance_after = 950;
  e.held_after = 10;
  e.user_data = 1234;
  e.timestamp_ns = 1'700'000'000'000'000'000ull;
  e.reason = 7;
  e.number = 4;
  e.kind = EntryKind::kTransferOut;
  history_reply.entries = {e, e};
  all.push_back(history_reply);
  all.push_back(StatsRequest{});
  StatsReply stats;
  stats.engine = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 0, 0, 0, 0, 0, {}};
  stats.engine.shards = {{21, 22, 23, 24}, {25, 26, 27, 28}};
  stats.server = {13, 14, 15, 16, 17, 18, 19, 20};
  all.push_back(stats);
  all.push_back(DigestRequest{});
  DigestReply digest;
  digest.seq = 31;
  digest.digest = {0x1111, 0x2222, 3, 4};
  digest.totals = {{1, 10, -(static_cast<__int128>(1) << 80), 5},
                   {2, 3, 123456789, 0}};
  all.push_back(digest);
  all.push_back(Ping{});
  all.push_back(Pong{});
  all.push_back(Error{ErrorCode::kBadMagic, kErrorFlagClosing, "bad magic"});
  all.push_back(StagesRequest{});
  all.push_back(StagesReply{
      {{1, 2, 3, 4, 5, 6}, {0xFFFF, 0xFFFFFFFFFFFFFFFFull, 7, 8, 9, 10}}});
  all.push_back(DiskRequest{});
  all.push_back(
      DiskReply{{{DiskArea::kLog, 3, 201326592},
                 {DiskArea::kArchive, 0, 0},
                 {static_cast<DiskArea>(0xFFFF), 0xFFFFFFFFFFFFFFFFull, 1}}});
  all.push_back(BackupRequest{"/var/backups/coffer-1"});
  all.push_back(BackupRequest{std::string(kBackupPathBytesMax, 'p')});
  all.push_back(BackupReply{1234, 1000, 9, 0xFFFFFFFFFFFFFFFFull, 250000});
  return all;
}

// Encodes and decodes `m` as a peer would: header, layout, checksum, body.
Message RoundTrip(uint64_t id, const Message& m) {
  std::vector<uint8_t> bytes;
  EncodeFrame(id, m, bytes);
  EXPECT_GE(bytes.size(), kHeaderBytes);
  const FrameHeader h = DecodeHeader(bytes.data());
  EXPECT_EQ(h.magic, kMagic);
  EXPECT_EQ(h.kind, static_cast<uint16_t>(KindOf(m)));
  EXPECT_EQ(h.request_id, id);
  EXPECT_EQ(h.body_bytes, bytes.size() - kHeaderBytes);
  const std::span<const uint8_t> body(bytes.data() + kHeaderBytes,
                                      h.body_bytes);
  EXPECT_EQ(h.body_xxh3, BodyChecksum(body));
  Problem problem;
  EXPECT_TRUE(CheckLayout(h, &problem)) << problem.message;
  Message out;
  EXPECT_TRUE(DecodeBody(h, body, &out, &problem)) << problem.message;
  return out;
}

TEST(NetCodec, EveryMessageKindRoundTrips) {
  std::set<size_t> kinds_seen;
  uint64_t id = 1;
  for (const Message& m : EveryKind()) {
    SCOPED_TRACE(std::string(MessageKindName(KindOf(m))));
    kinds_seen.insert(m.index());
    EXPECT_TRUE(Same(RoundTrip(id++, m), m));
  }
  EXPECT_EQ(kinds_seen.size(), std::variant_size_v<Message>);
}

TEST(NetCodec, EmptyRepliesRoundTrip) {
  EXPECT_TRUE(Same(RoundTrip(5, OpsReply{}), OpsReply{}));
  EXPECT_TRUE(Same(RoundTrip(5, HistoryReply{}), HistoryReply{}));
  EXPECT_TRUE(Same(RoundTrip(5, DigestReply{}), DigestReply{}));
  EXPECT_TRUE(Same(RoundTrip(5, Hello{}), Hello{}));
  EXPECT_TRUE(Same(RoundTrip(5, StagesReply{}), StagesReply{}));
  EXPECT_TRUE(Same(RoundTrip(5, DiskReply{}), DiskReply{}));
}

TEST(NetCodec, HeaderLayoutIsLittleEndianAtDocumentedOffsets) {
  FrameHeader h;
  h.version = 0x0102;
  h.kind = 0x0304;
  h.request_id = 0x05060708090A0B0Cull;
  h.count = 0x0D0E0F10;
  h.body_bytes = 0x11121314;
  h.body_xxh3 = 0x15161718191A1B1Cull;
  uint8_t b[kHeaderBytes];
  EncodeHeader(h, b);
  const uint8_t want[kHeaderBytes] = {
      'C',  'O',  'F',  'R',  0x02, 0x01, 0x04, 0x03, 0x0C, 0x0B, 0x0A,
      0x09, 0x08, 0x07, 0x06, 0x05, 0x10, 0x0F, 0x0E, 0x0D, 0x14, 0x13,
      0x12, 0x11, 0x1C, 0x1B, 0x1A, 0x19, 0x18, 0x17, 0x16, 0x15};
  EXPECT_EQ(std::memcmp(b, want, kHeaderBytes), 0);
  const FrameHeader back = DecodeHeader(b);
  EXPECT_EQ(back.request_id, h.request_id);
  EXPECT_EQ(back.body_xxh3, h.body_xxh3);
}

TEST(NetCodec, OpRecordMatchesEngineLayout) {
  // The wire record of an Op is the engine struct's own little-endian
  // layout, so a client may also memcpy it on a little-endian host.
  // Version 2 puts the issue time before the ops.
  const Op op = SampleOp(0);
  std::vector<uint8_t> bytes;
  EncodeFrame(1, OpsRequest{{op}}, bytes, /*version=*/1);
  ASSERT_EQ(bytes.size(), kHeaderBytes + sizeof(Op));
  EXPECT_EQ(std::memcmp(bytes.data() + kHeaderBytes, &op, sizeof(Op)), 0);
  bytes.clear();
  EncodeFrame(1, OpsRequest{{op}, 0x0102030405060708}, bytes, /*version=*/2);
  ASSERT_EQ(bytes.size(), kHeaderBytes + kOpsFixedBytesV2 + sizeof(Op));
  EXPECT_EQ(wire::Get64(bytes.data() + kHeaderBytes), 0x0102030405060708u);
  EXPECT_EQ(std::memcmp(bytes.data() + kHeaderBytes + kOpsFixedBytesV2, &op,
                        sizeof(Op)),
            0);
  OpResult r{ResultCode::kHoldExpired, kResultFlagDuplicate, 0, -3, 8};
  bytes.clear();
  EncodeFrame(1, OpsReply{{r}}, bytes);
  EXPECT_EQ(std::memcmp(bytes.data() + kHeaderBytes, &r, sizeof(r)), 0);
}

// Decoding a frame with `h` and `body` fails with `code`.
void ExpectRefused(FrameHeader h, std::vector<uint8_t> body, ErrorCode code) {
  h.body_bytes = static_cast<uint32_t>(body.size());
  Problem problem;
  Message m;
  const bool ok = CheckLayout(h, &problem) && DecodeBody(h, body, &m, &problem);
  EXPECT_FALSE(ok);
  EXPECT_EQ(problem.code, code) << problem.message;
  EXPECT_FALSE(problem.message.empty());
}

FrameHeader Header(MessageKind kind, uint32_t count) {
  FrameHeader h;
  h.kind = static_cast<uint16_t>(kind);
  h.request_id = 1;
  h.count = count;
  return h;
}

TEST(NetCodec, CountMustMatchBodyLength) {
  ExpectRefused(Header(MessageKind::kOps, 2), std::vector<uint8_t>(64),
                ErrorCode::kBadLength);
  ExpectRefused(Header(MessageKind::kOps, 1), std::vector<uint8_t>(65),
                ErrorCode::kBadLength);
  ExpectRefused(Header(MessageKind::kOps, 0), {}, ErrorCode::kBadLength);
  ExpectRefused(Header(MessageKind::kLookup, 3), std::vector<uint8_t>(16),
                ErrorCode::kBadLength);
  ExpectRefused(Header(MessageKind::kLookup, 0), {}, ErrorCode::kBadLength);
  ExpectRefused(Header(MessageKind::kHistory, 1), std::vector<uint8_t>(16),
                ErrorCode::kBadLength);
  ExpectRefused(Header(MessageKind::kHistory, 0), std::vector<uint8_t>(15),
                ErrorCode::kBadLength);
  ExpectRefused(Header(MessageKind::kStats, 0), std::vector<uint8_t>(1),
                ErrorCode::kBadLength);
  ExpectRefused(Header(MessageKind::kPing, 1), {}, ErrorCode::kBadLength);
  ExpectRefused(Header(MessageKind::kStages, 1), {}, ErrorCode::kBadLength);
  ExpectRefused(Header(MessageKind::kStagesReply, 2), std::vector<uint8_t>(48),
                ErrorCode::kBadLength);
  ExpectRefused(Header(MessageKind::kDisk, 1), {}, ErrorCode::kBadLength);
  ExpectRefused(Header(MessageKind::kDiskReply, 2), std::vector<uint8_t>(24),
                ErrorCode::kBadLength);
  ExpectRefused(Header(MessageKind::kLookupReply, 1), std::vector<uint8_t>(56),
                ErrorCode::kBadLength);
  // A count near 2^32 must not overflow into a small expected length.
  ExpectRefused(Header(MessageKind::kOps, 0xFFFFFFFFu), std::vector<uint8_t>(0),
                ErrorCode::kBadLength);
}

TEST(NetCodec, HelloAndErrorCarryTheirOwnLengths) {
  // token_bytes 4, but 3 token bytes.
  ExpectRefused(Header(MessageKind::kHello, 0),
                {1, 0, 1, 0, 4, 0, 0, 0, 'a', 'b', 'c'}, ErrorCode::kBadLength);
  ExpectRefused(Header(MessageKind::kHello, 0), {1, 0, 1, 0},
                ErrorCode::kBadLength);
  // message_bytes 9, but 2 message bytes.
  ExpectRefused(Header(MessageKind::kError, 0),
                {1, 0, 0, 0, 9, 0, 0, 0, 'h', 'i'}, ErrorCode::kBadLength);
  // backup: path_bytes 3, but 2 path bytes; a body shorter than its fixed
  // part; a count.
  ExpectRefused(Header(MessageKind::kBackup, 0),
                {3, 0, 0, 0, 0, 0, 0, 0, '/', 'x'}, ErrorCode::kBadLength);
  ExpectRefused(Header(MessageKind::kBackup, 0), {1, 0, 0, 0},
                ErrorCode::kBadLength);
  ExpectRefused(Header(MessageKind::kBackup, 1), {1, 0, 0, 0, 0, 0, 0, 0, '/'},
                ErrorCode::kBadLength);
  ExpectRefused(Header(MessageKind::kBackupReply, 0), std::vector<uint8_t>(39),
                ErrorCode::kBadLength);
  ExpectRefused(Header(MessageKind::kBackupReply, 1), std::vector<uint8_t>(40),
                ErrorCode::kBadLength);
}

TEST(NetCodec, BackupPathIsCheckedForShapeOnly) {
  // Empty, with a NUL, reserved field set, longer than a path may be.
  ExpectRefused(Header(MessageKind::kBackup, 0), {0, 0, 0, 0, 0, 0, 0, 0},
                ErrorCode::kInvalidField);
  ExpectRefused(Header(MessageKind::kBackup, 0),
                {2, 0, 0, 0, 0, 0, 0, 0, '/', 0}, ErrorCode::kInvalidField);
  ExpectRefused(Header(MessageKind::kBackup, 0), {1, 0, 0, 0, 1, 0, 0, 0, '/'},
                ErrorCode::kInvalidField);
  std::vector<uint8_t> long_path(kBackupFixedBytes + kBackupPathBytesMax + 1,
                                 'p');
  const uint32_t n = kBackupPathBytesMax + 1;
  std::memcpy(long_path.data(), &n, 4);
  std::memset(long_path.data() + 4, 0, 4);
  ExpectRefused(Header(MessageKind::kBackup, 0), long_path,
                ErrorCode::kInvalidField);
  // A relative path decodes: whether it is usable is the server's to say
  // (backup_failed, the connection stays open).
  std::vector<uint8_t> bytes;
  EncodeFrame(1, BackupRequest{"relative"}, bytes);
  const FrameHeader h = DecodeHeader(bytes.data());
  Problem problem;
  Message m;
  EXPECT_TRUE(DecodeBody(
      h, std::span<const uint8_t>(bytes.data() + kHeaderBytes, h.body_bytes),
      &m, &problem))
      << problem.message;
  EXPECT_EQ(std::get<BackupRequest>(m).dir, "relative");
}

TEST(NetCodec, FieldRangesAreChecked) {
  // hello: reserved field not 0.
  ExpectRefused(Header(MessageKind::kHello, 0), {1, 0, 1, 0, 0, 0, 1, 0},
                ErrorCode::kInvalidField);
  // hello: min_version > max_version, and min_version 0.
  ExpectRefused(Header(MessageKind::kHello, 0), {2, 0, 1, 0, 0, 0, 0, 0},
                ErrorCode::kInvalidField);
  ExpectRefused(Header(MessageKind::kHello, 0), {0, 0, 1, 0, 0, 0, 0, 0},
                ErrorCode::kInvalidField);
  // hello: token longer than 256 bytes.
  std::vector<uint8_t> long_token = {1, 0, 1, 0, 1, 1, 0, 0};  // 257
  long_token.resize(8 + 257, 'x');
  ExpectRefused(Header(MessageKind::kHello, 0), long_token,
                ErrorCode::kInvalidField);
  // history: limit 0, in both versions.
  FrameHeader v1 = Header(MessageKind::kHistory, 0);
  v1.version = 1;
  ExpectRefused(v1, std::vector<uint8_t>(16), ErrorCode::kInvalidField);
  ExpectRefused(Header(MessageKind::kHistory, 0), std::vector<uint8_t>(40),
                ErrorCode::kInvalidField);
  // history (version 2) filters: a flag bit other than 0, a reason without
  // its flag, timestamp_min after timestamp_max.
  auto history = [](uint64_t min, uint64_t max, uint32_t reason,
                    uint32_t flags) {
    std::vector<uint8_t> b(40);
    wire::Put32(b.data() + 12, 10);  // limit
    wire::Put64(b.data() + 16, min);
    wire::Put64(b.data() + 24, max);
    wire::Put32(b.data() + 32, reason);
    wire::Put32(b.data() + 36, flags);
    return b;
  };
  const FrameHeader v2 = Header(MessageKind::kHistory, 0);
  ExpectRefused(v2, history(0, 0, 0, 2), ErrorCode::kInvalidField);
  ExpectRefused(v2, history(0, 0, 7, 0), ErrorCode::kInvalidField);
  ExpectRefused(v2, history(5, 4, 0, 0), ErrorCode::kInvalidField);
  // The same fields in range decode.
  for (const auto& body : {history(5, 5, 7, 1), history(5, 0, 0, 0)}) {
    FrameHeader h = v2;
    h.body_bytes = static_cast<uint32_t>(body.size());
    Message m;
    Problem problem;
    ASSERT_TRUE(DecodeBody(h, body, &m, &problem)) << problem.message;
    EXPECT_EQ(std::get<HistoryRequest>(m).filter.timestamp_min_ns, 5u);
  }
}

TEST(NetCodec, EachVersionHasItsOwnLayoutForOpsAndHistory) {
  const OpsRequest ops{{SampleOp(0), SampleOp(1)}, 1'700'000'000'000'000'000};
  const HistoryRequest history{42, 17, 50, {100, 200, 7, true}};
  for (uint16_t version : {1, 2}) {
    SCOPED_TRACE(version);
    std::vector<uint8_t> bytes;
    EncodeFrame(1, ops, bytes, version);
    EncodeFrame(2, history, bytes, version);
    std::vector<Message> got;
    size_t at = 0;
    while (at < bytes.size()) {
      const FrameHeader h = DecodeHeader(bytes.data() + at);
      EXPECT_EQ(h.version, version);
      Message m;
      Problem problem;
      ASSERT_TRUE(DecodeBody(
          h, std::span(bytes.data() + at + kHeaderBytes, h.body_bytes), &m,
          &problem))
          << problem.message;
      got.push_back(std::move(m));
      at += kHeaderBytes + h.body_bytes;
    }
    ASSERT_EQ(got.size(), 2u);
    const auto& o = std::get<OpsRequest>(got[0]);
    EXPECT_EQ(o.ops.size(), 2u);
    // Version 1 carries neither the issue time nor the filter.
    EXPECT_EQ(o.issued_ns, version == 1 ? 0 : ops.issued_ns);
    const auto& h = std::get<HistoryRequest>(got[1]);
    EXPECT_EQ(h.filter, version == 1 ? HistoryFilter{} : history.filter);
    EXPECT_EQ(h.account_id, 42u);
    EXPECT_EQ(h.limit, 50u);
  }
}

TEST(NetCodec, UnknownKindIsRefused) {
  FrameHeader h = Header(MessageKind::kOps, 0);
  h.kind = 0x42;
  ExpectRefused(h, {}, ErrorCode::kUnknownKind);
  EXPECT_FALSE(IsKnownKind(0));
  EXPECT_FALSE(IsRequestKind(MessageKind::kOpsReply));
  EXPECT_TRUE(IsRequestKind(MessageKind::kDigest));
}

TEST(NetCodec, ChecksumIsXxh3OfTheBody) {
  std::vector<uint8_t> bytes;
  EncodeFrame(1, Ping{}, bytes);
  // XXH3_64bits of zero bytes, seed 0 (also in PROTOCOL.md).
  EXPECT_EQ(DecodeHeader(bytes.data()).body_xxh3, 0x2D06800538D394C2ull);
  bytes.clear();
  EncodeFrame(1, LookupRequest{{42}}, bytes);
  const FrameHeader h = DecodeHeader(bytes.data());
  bytes[kHeaderBytes] ^= 1;
  EXPECT_NE(BodyChecksum({bytes.data() + kHeaderBytes, h.body_bytes}),
            h.body_xxh3);
}

TEST(NetCodec, Int128IsTwosComplementLowHalfFirst) {
  uint8_t b[16];
  wire::Put128(b, -2);
  for (int i = 0; i < 16; ++i) EXPECT_EQ(b[i], i == 0 ? 0xFE : 0xFF);
  EXPECT_EQ(wire::Get128(b), -2);
  const __int128 big = (static_cast<__int128>(1) << 100) + 7;
  wire::Put128(b, big);
  EXPECT_EQ(wire::Get128(b), big);
}

TEST(NetCodec, ErrorMessagesAreTruncatedToTheMaximum) {
  const Message m =
      RoundTrip(3, Error{ErrorCode::kInternal, 0, std::string(5000, 'x')});
  EXPECT_EQ(std::get<Error>(m).message.size(), kErrorMessageBytesMax);
}

TEST(NetCodec, ConstantTimeEqualsComparesWholeStrings) {
  EXPECT_TRUE(ConstantTimeEquals("", ""));
  EXPECT_TRUE(ConstantTimeEquals("secret", "secret"));
  EXPECT_FALSE(ConstantTimeEquals("secret", "secreT"));
  EXPECT_FALSE(ConstantTimeEquals("secret", std::string("secret\0", 7)));
  EXPECT_FALSE(ConstantTimeEquals("", "x"));
  EXPECT_FALSE(ConstantTimeEquals("abc", ""));
}

}  // namespace
}  // namespace coffer::net

// Bad input over a real socket: each kind of malformed frame gets an ERROR
// with the documented code (where the frame can be answered), then the
// connection closes; the server keeps serving everyone else. Every test
// checks that a bystander client, connected before the bad input, still
// works afterwards.
#include <random>
#include <vector>

#include "gtest/gtest.h"
#include "net/local_server.h"
#include "net/raw_connection.h"
#include "net/wire.h"
#include "tests/test_util.h"

namespace coffer::net {
namespace {

using coffer::testing::CreateAccount;
using coffer::testing::Credit;

class NetBadInput : public ::testing::Test {
 protected:
  void SetUp() override {
    EngineConfig ec;
    ec.shard_count = 2;
    ec.idle_spin_iterations = 64;
    ServerConfig sc;
    sc.port = 0;
    sc.io_threads = 2;
    sc.max_body_bytes = 64 << 10;
    sc.max_ops_per_request = 16;
    sc.max_history_limit = 50;
    auto local = LocalServer::Start(ec, sc);
    ASSERT_TRUE(local.ok()) << local.status();
    server_ = std::move(local).value();
    auto c = server_->Connect();
    ASSERT_TRUE(c.ok()) << c.status();
    bystander_ = std::move(c).value();
    auto r = bystander_->Apply({CreateAccount(kAccount)});
    ASSERT_TRUE(r.ok()) << r.status();
  }

  void TearDown() override {
    if (!bystander_) return;
    // The bystander is unaffected, and the bad connections are gone.
    auto r = bystander_->Apply({Credit(kAccount, 1)});
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->at(0).code, ResultCode::kOk);
    EXPECT_EQ(bystander_->reconnects(), 0u);
    EXPECT_TRUE(
        server_->server->WaitForConnectionsAtMost(1, std::chrono::seconds(10)));
  }

  RawConnection Open(bool handshake = true) {
    auto c = RawConnection::Connect(server_->port());
    EXPECT_TRUE(c.ok()) << c.status();
    if (handshake) {
      auto ok = c->Handshake();
      EXPECT_TRUE(ok.ok()) << ok.status();
    }
    return std::move(c).value();
  }

  // Reads the next frame: an ERROR with `code`, the closing flag and
  // `request_id`; then the connection must close.
  void ExpectErrorThenClose(RawConnection& c, ErrorCode code,
                            uint64_t request_id) {
    auto f = c.ReadFrame();
    ASSERT_TRUE(f.ok()) << f.status();
    const Error* e = std::get_if<Error>(&f->message);
    ASSERT_NE(e, nullptr) << "got "
                          << MessageKindName(
                                 static_cast<MessageKind>(f->header.kind));
    EXPECT_EQ(e->code, code) << ErrorCodeName(e->code) << ": " << e->message;
    EXPECT_NE(e->flags & kErrorFlagClosing, 0);
    EXPECT_FALSE(e->message.empty());
    EXPECT_EQ(f->header.request_id, request_id);
    EXPECT_TRUE(c.ExpectClosed().ok());
  }

  // A well-formed frame, then `edit` applied to its bytes.
  static std::vector<uint8_t> Frame(uint64_t id, const Message& m) {
    std::vector<uint8_t> bytes;
    EncodeFrame(id, m, bytes);
    return bytes;
  }

  static constexpr uint64_t kAccount = 77;
  std::unique_ptr<LocalServer> server_;
  std::unique_ptr<Client> bystander_;
};

TEST_F(NetBadInput, GarbageBytes) {
  RawConnection c = Open(/*handshake=*/false);
  std::vector<uint8_t> junk(100);
  for (size_t i = 0; i < junk.size(); ++i)
    junk[i] = static_cast<uint8_t>(i * 37);
  ASSERT_TRUE(c.SendBytes(junk).ok());
  ExpectErrorThenClose(c, ErrorCode::kBadMagic, 0);
}

TEST_F(NetBadInput, BadMagicAfterHandshake) {
  RawConnection c = Open();
  auto bytes = Frame(5, Ping{});
  bytes[0] = 'X';
  ASSERT_TRUE(c.SendBytes(bytes).ok());
  ExpectErrorThenClose(c, ErrorCode::kBadMagic, 0);
}

TEST_F(NetBadInput, NoCommonVersionInHello) {
  RawConnection c = Open(/*handshake=*/false);
  ASSERT_TRUE(c.Send(1, Hello{kVersionMax + 1, kVersionMax + 2, ""}).ok());
  ExpectErrorThenClose(c, ErrorCode::kUnsupportedVersion, 1);
}

TEST_F(NetBadInput, FrameOfAnotherVersion) {
  RawConnection c = Open();
  auto bytes = Frame(6, Ping{});
  wire::Put16(bytes.data() + 4, 9);
  ASSERT_TRUE(c.SendBytes(bytes).ok());
  ExpectErrorThenClose(c, ErrorCode::kUnsupportedVersion, 6);
}

TEST_F(NetBadInput, UnknownKind) {
  RawConnection c = Open();
  auto bytes = Frame(7, Ping{});
  wire::Put16(bytes.data() + 6, 0x42);
  ASSERT_TRUE(c.SendBytes(bytes).ok());
  ExpectErrorThenClose(c, ErrorCode::kUnknownKind, 7);
}

TEST_F(NetBadInput, ReplyKindSentByClient) {
  RawConnection c = Open();
  ASSERT_TRUE(c.Send(8, OpsReply{{OpResult{}}}).ok());
  ExpectErrorThenClose(c, ErrorCode::kUnknownKind, 8);
}

TEST_F(NetBadInput, RequestBeforeHello) {
  RawConnection c = Open(/*handshake=*/false);
  ASSERT_TRUE(c.Send(9, LookupRequest{{kAccount}}).ok());
  ExpectErrorThenClose(c, ErrorCode::kHandshakeRequired, 9);
}

TEST_F(NetBadInput, SecondHello) {
  RawConnection c = Open();
  ASSERT_TRUE(c.Send(10, Hello{}).ok());
  ExpectErrorThenClose(c, ErrorCode::kUnexpectedKind, 10);
}

TEST_F(NetBadInput, OversizedFrameIsRefusedBeforeItsBody) {
  RawConnection c = Open();
  // Only the header is sent: the answer must not wait for 64 KiB + 1.
  FrameHeader h;
  h.kind = static_cast<uint16_t>(MessageKind::kLookup);
  h.request_id = 11;
  h.count = 8193;
  h.body_bytes = (64 << 10) + 8;
  uint8_t header[kHeaderBytes];
  EncodeHeader(h, header);
  ASSERT_TRUE(c.SendBytes(header).ok());
  ExpectErrorThenClose(c, ErrorCode::kFrameTooLarge, 11);
}

TEST_F(NetBadInput, TruncatedBody) {
  RawConnection c = Open();
  std::vector<Op> ops(10, Credit(kAccount, 1));
  auto bytes = Frame(12, OpsRequest{ops});
  bytes.resize(kHeaderBytes + 100);  // 100 of 640 body bytes
  ASSERT_TRUE(c.SendBytes(bytes).ok());
  c.ShutdownWrite();
  ExpectErrorThenClose(c, ErrorCode::kTruncatedFrame, 0);
  // Nothing of the truncated request applied.
  EXPECT_EQ(coffer::testing::Balance(*server_->engine, kAccount), 0);
}

TEST_F(NetBadInput, TruncatedHeader) {
  RawConnection c = Open();
  auto bytes = Frame(13, Ping{});
  bytes.resize(10);
  ASSERT_TRUE(c.SendBytes(bytes).ok());
  c.ShutdownWrite();
  ExpectErrorThenClose(c, ErrorCode::kTruncatedFrame, 0);
}

TEST_F(NetBadInput, CountDoesNotMatchLength) {
  RawConnection c = Open();
  auto bytes = Frame(14, OpsRequest{{Credit(kAccount, 1)}});
  wire::Put32(bytes.data() + 16, 2);  // count 2, one op's bytes
  ASSERT_TRUE(c.SendBytes(bytes).ok());
  ExpectErrorThenClose(c, ErrorCode::kBadLength, 14);
}

TEST_F(NetBadInput, ZeroCount) {
  RawConnection c = Open();
  auto bytes = Frame(15, LookupRequest{{kAccount}});
  wire::Put32(bytes.data() + 16, 0);
  wire::Put32(bytes.data() + 20, 0);
  bytes.resize(kHeaderBytes);
  ASSERT_TRUE(c.SendBytes(bytes).ok());
  ExpectErrorThenClose(c, ErrorCode::kBadLength, 15);
}

TEST_F(NetBadInput, BadChecksum) {
  RawConnection c = Open();
  auto bytes = Frame(16, OpsRequest{{Credit(kAccount, 1)}});
  bytes[kHeaderBytes + 24] ^= 0x40;  // the amount
  ASSERT_TRUE(c.SendBytes(bytes).ok());
  ExpectErrorThenClose(c, ErrorCode::kBadChecksum, 16);
  EXPECT_EQ(coffer::testing::Balance(*server_->engine, kAccount), 0);
}

TEST_F(NetBadInput, RequestIdZero) {
  RawConnection c = Open();
  ASSERT_TRUE(c.Send(0, Ping{}).ok());
  ExpectErrorThenClose(c, ErrorCode::kInvalidField, 0);
}

TEST_F(NetBadInput, HistoryLimitAboveMaximum) {
  RawConnection c = Open();
  ASSERT_TRUE(c.Send(17, HistoryRequest{kAccount, 0, 51}).ok());
  ExpectErrorThenClose(c, ErrorCode::kInvalidField, 17);
}

TEST_F(NetBadInput, HistoryLimitZero) {
  RawConnection c = Open();
  ASSERT_TRUE(c.Send(18, HistoryRequest{kAccount, 0, 0}).ok());
  ExpectErrorThenClose(c, ErrorCode::kInvalidField, 18);
}

TEST_F(NetBadInput, MoreOpsThanTheMaximum) {
  RawConnection c = Open();
  std::vector<Op> ops(17, Credit(kAccount, 1));
  ASSERT_TRUE(c.Send(19, OpsRequest{ops}).ok());
  ExpectErrorThenClose(c, ErrorCode::kInvalidField, 19);
}

TEST_F(NetBadInput, HelloWithReservedFieldSet) {
  RawConnection c = Open(/*handshake=*/false);
  auto bytes = Frame(20, Hello{});
  bytes[kHeaderBytes + 6] = 1;
  wire::Put64(bytes.data() + 24,
              BodyChecksum({bytes.data() + kHeaderBytes, kHelloFixedBytes}));
  ASSERT_TRUE(c.SendBytes(bytes).ok());
  ExpectErrorThenClose(c, ErrorCode::kInvalidField, 20);
}

TEST_F(NetBadInput, RequestIdReusedWhileInFlight) {
  // Both frames arrive in one write, so the first is still with the engine
  // when the second is decoded (completions run on the same io thread).
  RawConnection c = Open();
  std::vector<uint8_t> bytes = Frame(21, OpsRequest{{Credit(kAccount, 1)}});
  const std::vector<uint8_t> again = Frame(21, LookupRequest{{kAccount}});
  bytes.insert(bytes.end(), again.begin(), again.end());
  ASSERT_TRUE(c.SendBytes(bytes).ok());
  ExpectErrorThenClose(c, ErrorCode::kDuplicateRequestId, 21);
}

TEST_F(NetBadInput, RandomFramesNeverHurtTheServer) {
  // Frames with valid magic, version and kind but random everything else
  // (count, length, checksum, body), each on its own connection: every one
  // ends in an answer and a close, and the server stays up.
  std::mt19937_64 rng(20240607);
  const MessageKind kinds[] = {MessageKind::kOps,     MessageKind::kLookup,
                               MessageKind::kHistory, MessageKind::kStats,
                               MessageKind::kDigest,  MessageKind::kPing,
                               MessageKind::kHello};
  for (int round = 0; round < 60; ++round) {
    SCOPED_TRACE(round);
    RawConnection c = Open();
    FrameHeader h;
    h.kind = static_cast<uint16_t>(kinds[rng() % std::size(kinds)]);
    h.request_id = rng() % 4;
    h.count = static_cast<uint32_t>(rng() % 20);
    std::vector<uint8_t> body(rng() % 1500);
    for (auto& b : body) b = static_cast<uint8_t>(rng());
    h.body_bytes = static_cast<uint32_t>(rng() % 4 == 0 ? rng() % (128 << 10)
                                                        : body.size());
    h.body_xxh3 = rng() % 2 == 0 ? BodyChecksum(body) : rng();
    std::vector<uint8_t> bytes(kHeaderBytes);
    EncodeHeader(h, bytes.data());
    bytes.insert(bytes.end(), body.begin(), body.end());
    ASSERT_TRUE(c.SendBytes(bytes).ok());
    c.ShutdownWrite();
    // Replies (if the frame happened to be valid), then one close.
    for (;;) {
      auto f = c.ReadFrame();
      if (!f.ok()) {
        EXPECT_TRUE(absl::IsUnavailable(f.status())) << f.status();
        break;
      }
    }
  }
}

}  // namespace
}  // namespace coffer::net

// The server end to end over loopback TCP: every engine operation is
// reachable through the protocol, replies match their request ids when
// many requests are in flight, and a connection's requests are ordered in
// the order they were sent.
#include <atomic>
#include <latch>
#include <map>
#include <memory>
#include <set>
#include <vector>

#include "gtest/gtest.h"
#include "net/local_server.h"
#include "net/raw_connection.h"
#include "tests/test_util.h"

namespace coffer::net {
namespace {

using coffer::testing::Capture;
using coffer::testing::CreateAccount;
using coffer::testing::Credit;
using coffer::testing::Debit;
using coffer::testing::Hold;
using coffer::testing::Linked;
using coffer::testing::Release;
using coffer::testing::Transfer;

std::unique_ptr<LocalServer> StartServer(ServerConfig sc = {}) {
  EngineConfig ec;
  ec.shard_count = 3;
  ec.idle_spin_iterations = 64;  // tests share two cores: sleep soon
  sc.port = 0;
  sc.io_threads = 2;
  auto local = LocalServer::Start(ec, sc);
  EXPECT_TRUE(local.ok()) << local.status();
  return local.ok() ? std::move(local).value() : nullptr;
}

std::unique_ptr<Client> Connect(const LocalServer& s) {
  auto c = s.Connect();
  EXPECT_TRUE(c.ok()) << c.status();
  return c.ok() ? std::move(c).value() : nullptr;
}

ResultCode Code(Client& c, const Op& op) {
  auto r = c.Apply({op});
  EXPECT_TRUE(r.ok()) << r.status();
  return r.ok() ? r->at(0).code : ResultCode::kInvalidKind;
}

TEST(NetServer, HandshakeAnnouncesLimits) {
  ServerConfig sc;
  sc.max_ops_per_request = 100;
  sc.max_requests_in_flight = 7;
  auto s = StartServer(sc);
  auto raw = RawConnection::Connect(s->port());
  ASSERT_TRUE(raw.ok()) << raw.status();
  auto ok = raw->Handshake();
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->version, kVersionMax);
  EXPECT_EQ(ok->shard_count, 3u);
  EXPECT_EQ(ok->max_ops_per_request, 100u);
  EXPECT_EQ(ok->max_requests_in_flight, 7u);
  EXPECT_EQ(ok->max_body_bytes, sc.max_body_bytes);
  EXPECT_EQ(ok->max_history_limit, 1000u);
}

TEST(NetServer, EveryOperationIsReachable) {
  auto s = StartServer();
  auto c = Connect(*s);
  const uint64_t player = 11, shop = 12, house = 13;
  EXPECT_EQ(Code(*c, CreateAccount(player, /*currency=*/2)), ResultCode::kOk);
  EXPECT_EQ(Code(*c, CreateAccount(shop, 2)), ResultCode::kOk);
  EXPECT_EQ(Code(*c, CreateAccount(house, 2, /*overdraft_limit=*/1000)),
            ResultCode::kOk);
  EXPECT_EQ(Code(*c, CreateAccount(player, 2)), ResultCode::kAccountExists);
  EXPECT_EQ(Code(*c, Transfer(house, player, 500)), ResultCode::kOk);
  EXPECT_EQ(Code(*c, Credit(player, 100)), ResultCode::kOk);
  EXPECT_EQ(Code(*c, Debit(player, 50)), ResultCode::kOk);
  EXPECT_EQ(Code(*c, Debit(player, 10'000)), ResultCode::kInsufficientFunds);
  const Op hold = Hold(player, 200);
  EXPECT_EQ(Code(*c, hold), ResultCode::kOk);
  EXPECT_EQ(Code(*c, Capture(player, hold.op_id, shop, 120)), ResultCode::kOk);
  EXPECT_EQ(Code(*c, Release(player, hold.op_id)),
            ResultCode::kHoldAlreadyClosed);
  const Op hold2 = Hold(player, 30);
  EXPECT_EQ(Code(*c, hold2), ResultCode::kOk);
  EXPECT_EQ(Code(*c, Release(player, hold2.op_id)), ResultCode::kOk);
  EXPECT_EQ(Code(*c, Debit(999, 1)), ResultCode::kAccountNotFound);

  auto look = c->Lookup({player, shop, house, 999});
  ASSERT_TRUE(look.ok()) << look.status();
  ASSERT_EQ(look->accounts.size(), 4u);
  EXPECT_EQ(look->accounts[0].balance, 500 + 100 - 50 - 120);
  EXPECT_EQ(look->accounts[0].held, 0u);
  EXPECT_EQ(look->accounts[0].currency, 2u);
  EXPECT_EQ(look->accounts[1].balance, 120);
  EXPECT_EQ(look->accounts[2].balance, -500);
  EXPECT_EQ(look->accounts[2].overdraft_limit, 1000u);
  EXPECT_EQ(look->accounts[3].id, 0u);  // not found
  EXPECT_GE(look->seq, 1u);

  // History, newest first, paged with the cursor.
  std::vector<HistoryEntry> all;
  uint32_t before = 0;
  for (int page = 0; page < 10; ++page) {
    auto h = c->History(player, before, 2);
    ASSERT_TRUE(h.ok()) << h.status();
    EXPECT_TRUE(h->found);
    all.insert(all.end(), h->entries.begin(), h->entries.end());
    if (h->next_before == 0) break;
    before = h->next_before;
  }
  // create, transfer in, credit, debit, hold, capture out, hold, release.
  ASSERT_EQ(all.size(), 8u);
  EXPECT_EQ(all.front().kind, EntryKind::kRelease);
  EXPECT_EQ(all.back().kind, EntryKind::kCreate);
  for (size_t i = 0; i < all.size(); ++i) {
    EXPECT_EQ(all[i].number, all.size() - i);
  }
  auto unknown = c->History(999, 0, 10);
  ASSERT_TRUE(unknown.ok());
  EXPECT_FALSE(unknown->found);

  auto stats = c->Stats();
  ASSERT_TRUE(stats.ok()) << stats.status();
  ASSERT_EQ(stats->engine.shards.size(), 3u);
  uint64_t accounts = 0;
  for (const auto& sh : stats->engine.shards) accounts += sh.accounts;
  EXPECT_EQ(accounts, 3u);
  EXPECT_GE(stats->engine.ops_sequenced, 14u);
  EXPECT_EQ(stats->server.connections_open, 1u);
  EXPECT_EQ(stats->engine.last_seq, s->engine->Stats().last_seq);

  auto digest = c->Digest();
  ASSERT_TRUE(digest.ok()) << digest.status();
  EXPECT_EQ(digest->digest, s->engine->Digest());
  EXPECT_EQ(digest->digest.accounts, 3u);
  EXPECT_TRUE(c->Ping().ok());
}

TEST(NetServer, LinkedChainAppliesAllOrNothing) {
  auto s = StartServer();
  auto c = Connect(*s);
  ASSERT_EQ(Code(*c, CreateAccount(21)), ResultCode::kOk);
  ASSERT_EQ(Code(*c, CreateAccount(22)), ResultCode::kOk);
  ASSERT_EQ(Code(*c, Credit(21, 100)), ResultCode::kOk);
  // Pay 60 and then 60 more: the second fails, so neither applies.
  auto r = c->Apply({Linked(Transfer(21, 22, 60)), Debit(21, 60)});
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->size(), 2u);
  EXPECT_EQ((*r)[0].code, ResultCode::kLinkedOpFailed);
  EXPECT_EQ((*r)[1].code, ResultCode::kInsufficientFunds);
  auto look = c->Lookup({21, 22});
  ASSERT_TRUE(look.ok());
  EXPECT_EQ(look->accounts[0].balance, 100);
  EXPECT_EQ(look->accounts[1].balance, 0);
  // A batch ending inside a chain.
  r = c->Apply({Linked(Credit(21, 1))});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ((*r)[0].code, ResultCode::kLinkedChainOpen);
}

TEST(NetServer, EngineValidatesOpFieldsAsResultCodes) {
  // Field values inside an op are the engine's to judge: the reply carries
  // its result code and the connection stays open.
  auto s = StartServer();
  auto c = Connect(*s);
  Op bad = Credit(31, 5);
  bad.kind = static_cast<OpKind>(99);
  Op zero = Credit(31, 5);
  zero.op_id = 0;
  Op reserved = Credit(31, 5);
  reserved.reserved = 1;
  auto r = c->Apply({bad, zero, reserved});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ((*r)[0].code, ResultCode::kInvalidKind);
  EXPECT_EQ((*r)[1].code, ResultCode::kOpIdZero);
  EXPECT_EQ((*r)[1].seq, 0u);
  EXPECT_EQ((*r)[2].code, ResultCode::kInvalidField);
  EXPECT_TRUE(c->Ping().ok());
}

// 400 pipelined credits on one connection, under the io loop that spins
// `reply_spin_us` for replies (net/io_loop.h).
void ExpectPipelinedRepliesMatchRequestIds(uint32_t reply_spin_us) {
  ServerConfig sc;
  sc.reply_spin_us = reply_spin_us;
  auto s = StartServer(sc);
  auto c = Connect(*s);
  constexpr int kAccounts = 50;
  for (int a = 1; a <= kAccounts; ++a) {
    ASSERT_EQ(Code(*c, CreateAccount(100 + a)), ResultCode::kOk);
  }
  auto raw = RawConnection::Connect(s->port());
  ASSERT_TRUE(raw.ok());
  ASSERT_TRUE(raw->Handshake().ok());
  // 400 requests in one write: request id i credits account 100 + i % 50
  // by i, so each reply proves which request it answers.
  constexpr int kRequests = 400;
  std::vector<uint8_t> bytes;
  std::map<uint64_t, uint64_t> account_of;
  for (uint64_t id = 1; id <= kRequests; ++id) {
    const uint64_t account = 101 + id % kAccounts;
    account_of[id] = account;
    EncodeFrame(id, OpsRequest{{Credit(account, id)}}, bytes);
  }
  ASSERT_TRUE(raw->SendBytes(bytes).ok());
  std::set<uint64_t> answered;
  std::map<uint64_t, int64_t> last_balance;
  for (int i = 0; i < kRequests; ++i) {
    auto f = raw->ReadFrame();
    ASSERT_TRUE(f.ok()) << f.status();
    ASSERT_EQ(f->header.kind, static_cast<uint16_t>(MessageKind::kOpsReply));
    const auto& results = std::get<OpsReply>(f->message).results;
    ASSERT_EQ(results.size(), 1u);
    EXPECT_EQ(results[0].code, ResultCode::kOk);
    EXPECT_TRUE(answered.insert(f->header.request_id).second);
    ASSERT_TRUE(account_of.contains(f->header.request_id));
  }
  EXPECT_EQ(answered.size(), static_cast<size_t>(kRequests));
  // Every credit applied once: account a got the sum of ids i with
  // 101 + i % 50 == a.
  std::vector<uint64_t> ids;
  for (int a = 1; a <= kAccounts; ++a) ids.push_back(100 + a);
  auto look = c->Lookup(ids);
  ASSERT_TRUE(look.ok());
  std::map<uint64_t, int64_t> want;
  for (const auto& [id, account] : account_of) want[account] += id;
  for (const AccountInfo& a : look->accounts) EXPECT_EQ(a.balance, want[a.id]);
}

TEST(NetServer, PipelinedRepliesMatchRequestIds) {
  ExpectPipelinedRepliesMatchRequestIds(0);
}

TEST(NetServer, PipelinedRepliesMatchRequestIdsWhileTheIoThreadSpins) {
  ExpectPipelinedRepliesMatchRequestIds(100'000);
}

TEST(NetServer, RequestsOfOneConnectionApplyInTheOrderSent) {
  // Sent back to back without waiting: create, credit 10, debit 10. The
  // debit can only succeed if the three were ordered as sent.
  auto s = StartServer();
  auto raw = RawConnection::Connect(s->port());
  ASSERT_TRUE(raw.ok());
  ASSERT_TRUE(raw->Handshake().ok());
  for (uint64_t round = 0; round < 50; ++round) {
    const uint64_t account = 5000 + round;
    std::vector<uint8_t> bytes;
    EncodeFrame(3 * round + 1, OpsRequest{{CreateAccount(account)}}, bytes);
    EncodeFrame(3 * round + 2, OpsRequest{{Credit(account, 10)}}, bytes);
    EncodeFrame(3 * round + 3, OpsRequest{{Debit(account, 10)}}, bytes);
    ASSERT_TRUE(raw->SendBytes(bytes).ok());
  }
  for (int i = 0; i < 150; ++i) {
    auto f = raw->ReadFrame();
    ASSERT_TRUE(f.ok()) << f.status();
    const auto& results = std::get<OpsReply>(f->message).results;
    EXPECT_EQ(results[0].code, ResultCode::kOk)
        << "request " << f->header.request_id;
  }
}

TEST(NetServer, ClientPipelinesAsynchronously) {
  auto s = StartServer();
  auto c = Connect(*s);
  ASSERT_EQ(Code(*c, CreateAccount(41)), ResultCode::kOk);
  constexpr int kRequests = 1000;
  std::atomic<int> ok{0};
  std::latch done(kRequests);
  for (int i = 0; i < kRequests; ++i) {
    c->ApplyAsync({Credit(41, 1)},
                  [&](absl::StatusOr<std::vector<OpResult>> r) {
                    if (r.ok() && r->at(0).ok()) ok.fetch_add(1);
                    done.count_down();
                  });
  }
  done.wait();
  EXPECT_EQ(ok.load(), kRequests);
  auto look = c->Lookup({41});
  ASSERT_TRUE(look.ok());
  EXPECT_EQ(look->accounts[0].balance, kRequests);
}

}  // namespace
}  // namespace coffer::net

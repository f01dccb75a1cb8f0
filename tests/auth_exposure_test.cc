// Auth on a non-loopback listener (tests/HARDENING.md "Auth"): cofferd
// refuses to listen beyond loopback without a token; with a token, a
// client without it or with a wrong one gets ERROR auth_failed and no
// operation it sent (in the HELLO's packet or pipelined right behind it)
// is ever applied, as an authorised client then verifies by lookups and
// by resending the same op ids.
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "net/local_server.h"
#include "net/raw_connection.h"
#include "tests/proc_util.h"
#include "tests/test_util.h"

namespace coffer::net {
namespace {

using coffer::testing::CreateAccount;
using coffer::testing::Credit;

constexpr char kToken[] = "the-right-token-0123456789";

// Runs `command` through the shell; its exit status and output (stdout and
// stderr together).
struct CommandResult {
  int exit_code = -1;
  std::string output;
};
CommandResult RunCommand(const std::string& command) {
  CommandResult r;
  FILE* p = ::popen((command + " 2>&1").c_str(), "r");
  if (p == nullptr) return r;
  std::array<char, 512> buf;
  while (std::fgets(buf.data(), buf.size(), p) != nullptr)
    r.output += buf.data();
  const int status = ::pclose(p);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

TEST(AuthExposure, CofferdRefusesANonLoopbackAddressWithoutAToken) {
  std::vector<std::string> listens = {"0.0.0.0:0", "[::]:0"};
  const std::string ip = coffer::testing::NonLoopbackIpv4();
  if (!ip.empty()) listens.push_back(ip + ":0");
  for (const std::string& listen : listens) {
    SCOPED_TRACE(listen);
    // `timeout`: were it to start, it would serve until killed (exit 124).
    const CommandResult r =
        RunCommand(std::string("timeout 20 ") + COFFERD_BINARY +
                   " --data_dir= --listen=" + listen);
    EXPECT_EQ(r.exit_code, 2) << r.output;
    EXPECT_NE(r.output.find("auth_token"), std::string::npos) << r.output;
    EXPECT_EQ(r.output.find("listening"), std::string::npos) << r.output;
  }
  // An empty token counts as none.
  const CommandResult r =
      RunCommand(std::string("timeout 20 ") + COFFERD_BINARY +
                 " --data_dir= --auth_token= --listen=0.0.0.0:0");
  EXPECT_EQ(r.exit_code, 2) << r.output;
}

class AuthOnNonLoopback : public ::testing::Test {
 protected:
  void SetUp() override {
    ip_ = coffer::testing::NonLoopbackIpv4();
    if (ip_.empty()) {
      GTEST_SKIP() << "no non-loopback IPv4 address on this host to listen "
                      "on (getifaddrs found only loopback)";
    }
    EngineConfig ec;
    ec.shard_count = 2;
    ec.idle_spin_iterations = 64;
    ServerConfig sc;
    sc.listen_address = ip_;
    sc.port = 0;
    sc.io_threads = 1;
    sc.auth_token = kToken;
    auto local = LocalServer::Start(ec, sc);
    ASSERT_TRUE(local.ok()) << local.status();
    server_ = std::move(local).value();
    ClientOptions o = server_->client_options();
    o.host = ip_;
    auto c = Client::Connect(o);
    ASSERT_TRUE(c.ok()) << c.status();
    authorised_ = std::move(c).value();
    auto r = authorised_->Apply({CreateAccount(kExisting)});
    ASSERT_TRUE(r.ok() && r->at(0).ok());
  }

  RawConnection Connect() {
    auto c =
        RawConnection::Connect(server_->port(), std::chrono::seconds(10), ip_);
    EXPECT_TRUE(c.ok()) << c.status();
    return std::move(c).value();
  }

  static constexpr uint64_t kExisting = 10;
  std::string ip_;
  std::unique_ptr<LocalServer> server_;
  std::unique_ptr<Client> authorised_;
};

TEST_F(AuthOnNonLoopback, NoOperationOfAnUnauthorisedClientIsApplied) {
  struct Attempt {
    const char* what;
    bool hello;         // send a HELLO first
    std::string token;  // its token
    bool same_packet;   // the ops go in the same send() as the HELLO
  };
  const std::vector<Attempt> attempts = {
      {"no token", true, "", true},
      {"no token, ops in a second send", true, "", false},
      {"wrong token", true, "the-wrong-token", true},
      {"token one byte off", true, "the-right-token-012345678X", true},
      {"token prefix", true, "the-right-token", false},
      {"right token plus a byte", true, std::string(kToken) + "!", true},
      {"no hello at all", false, "", true},
  };
  std::vector<Op> sent;  // every op an unauthorised client sent
  uint64_t next_account = 1000;
  const uint64_t engine_requests_before = server_->engine->Stats().requests;
  for (const Attempt& a : attempts) {
    SCOPED_TRACE(a.what);
    RawConnection c = Connect();
    std::vector<uint8_t> first, second;
    if (a.hello)
      EncodeFrame(1, Hello{kVersionMin, kVersionMax, a.token}, first);
    // Requests pipelined right behind the HELLO, without waiting for its
    // answer: a new account, a credit to an existing one, a transfer, a
    // lookup.
    const uint64_t created = next_account++;
    std::vector<Op> ops = {CreateAccount(created), Credit(kExisting, 500)};
    const Op transfer = coffer::testing::Transfer(kExisting, created, 1);
    sent.insert(sent.end(), ops.begin(), ops.end());
    sent.push_back(transfer);
    std::vector<uint8_t>& rest = a.same_packet ? first : second;
    EncodeFrame(2, OpsRequest{ops}, rest);
    EncodeFrame(3, OpsRequest{{transfer}}, rest);
    EncodeFrame(4, LookupRequest{{kExisting}}, rest);
    ASSERT_TRUE(c.SendBytes(first).ok());
    if (!second.empty()) {
      // The server may already have answered and shut its side; a failed
      // send is fine, an applied op is not.
      (void)c.SendBytes(second);
    }
    auto f = c.ReadFrame();
    ASSERT_TRUE(f.ok()) << f.status();
    const Error* e = std::get_if<Error>(&f->message);
    ASSERT_NE(e, nullptr) << "got "
                          << MessageKindName(
                                 static_cast<MessageKind>(f->header.kind));
    EXPECT_EQ(e->code,
              a.hello ? ErrorCode::kAuthFailed : ErrorCode::kHandshakeRequired)
        << e->message;
    EXPECT_NE(e->flags & kErrorFlagClosing, 0);
    // Nothing else is answered: the next thing is the close.
    EXPECT_TRUE(c.ExpectClosed().ok());
  }
  // The engine was never given a request of theirs ...
  EXPECT_EQ(server_->engine->Stats().requests, engine_requests_before);
  // ... as an authorised client confirms: no account they created exists,
  // the credited account still has nothing,
  std::vector<uint64_t> ids = {kExisting};
  for (uint64_t id = 1000; id < next_account; ++id) ids.push_back(id);
  auto lookup = authorised_->Lookup(ids);
  ASSERT_TRUE(lookup.ok()) << lookup.status();
  ASSERT_EQ(lookup->accounts.size(), ids.size());
  EXPECT_EQ(lookup->accounts[0].id, kExisting);
  EXPECT_EQ(lookup->accounts[0].balance, 0);
  for (size_t i = 1; i < ids.size(); ++i) {
    EXPECT_EQ(lookup->accounts[i].id, 0u) << "account " << ids[i] << " exists";
  }
  // and none of their op ids is known: sent again by an authorised client,
  // each op is applied afresh, not answered as a duplicate.
  for (const Op& op : sent) {
    auto r = authorised_->Apply({op});
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_FALSE(r->at(0).duplicate()) << "op id " << op.op_id;
    EXPECT_TRUE(r->at(0).ok())
        << "op id " << op.op_id << ": " << coffer::testing::Describe(r->at(0));
  }
  const ServerCounters n = server_->server->counters();
  EXPECT_EQ(n.protocol_errors, attempts.size());
  std::printf(
      "listening on %s: %zu unauthorised attempts, %zu ops sent, "
      "none applied\n",
      server_->server->endpoint().c_str(), attempts.size(), sent.size());
}

TEST_F(AuthOnNonLoopback, TheClientLibraryWithAWrongTokenIsRefused) {
  ClientOptions o = server_->client_options();
  o.host = ip_;
  o.auth_token = "nope";
  auto c = Client::Connect(o);
  ASSERT_FALSE(c.ok());
  EXPECT_TRUE(absl::IsPermissionDenied(c.status())) << c.status();
  o.auth_token = "";
  c = Client::Connect(o);
  ASSERT_FALSE(c.ok());
  EXPECT_TRUE(absl::IsPermissionDenied(c.status())) << c.status();
  // The authorised client is unaffected.
  EXPECT_TRUE(authorised_->Ping().ok());
}

}  // namespace
}  // namespace coffer::net

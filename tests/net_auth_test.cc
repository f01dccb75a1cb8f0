// Authentication and exposure: a server with a token admits only clients
// that present it; a wrong one gets ERROR auth_failed and is closed; and
// the server refuses to listen beyond loopback without a token.
#include <memory>

#include "gtest/gtest.h"
#include "net/local_server.h"
#include "net/raw_connection.h"
#include "tests/test_util.h"

namespace coffer::net {
namespace {

std::unique_ptr<LocalServer> StartWithToken(const std::string& token) {
  EngineConfig ec;
  ec.shard_count = 1;
  ec.idle_spin_iterations = 64;
  ServerConfig sc;
  sc.port = 0;
  sc.io_threads = 1;
  sc.auth_token = token;
  auto local = LocalServer::Start(ec, sc);
  EXPECT_TRUE(local.ok()) << local.status();
  return local.ok() ? std::move(local).value() : nullptr;
}

TEST(NetAuth, RightTokenIsAdmitted) {
  auto s = StartWithToken("s3cret-token");
  auto c = RawConnection::Connect(s->port());
  ASSERT_TRUE(c.ok());
  EXPECT_TRUE(c->Handshake("s3cret-token").ok());
  auto client = s->Connect();  // client_options() carries the token
  ASSERT_TRUE(client.ok()) << client.status();
  EXPECT_TRUE((*client)->Ping().ok());
}

TEST(NetAuth, WrongTokenIsRefusedAndClosed) {
  auto s = StartWithToken("s3cret-token");
  for (const std::string& wrong :
       {std::string(""), std::string("s3cret-tokeN"),
        std::string("s3cret-token-and-more"), std::string("s3cret")}) {
    SCOPED_TRACE(wrong);
    auto c = RawConnection::Connect(s->port());
    ASSERT_TRUE(c.ok());
    ASSERT_TRUE(c->Send(1, Hello{1, 1, wrong}).ok());
    auto f = c->ReadFrame();
    ASSERT_TRUE(f.ok()) << f.status();
    const Error* e = std::get_if<Error>(&f->message);
    ASSERT_NE(e, nullptr);
    EXPECT_EQ(e->code, ErrorCode::kAuthFailed);
    EXPECT_NE(e->flags & kErrorFlagClosing, 0);
    EXPECT_TRUE(c->ExpectClosed().ok());
  }
  // The client library reports it as a permission error, without retrying.
  ClientOptions o = s->client_options();
  o.auth_token = "nope";
  auto client = Client::Connect(o);
  ASSERT_FALSE(client.ok());
  EXPECT_TRUE(absl::IsPermissionDenied(client.status())) << client.status();
}

TEST(NetAuth, RequestsWithoutHandshakeNeverReachTheEngine) {
  auto s = StartWithToken("s3cret-token");
  auto c = RawConnection::Connect(s->port());
  ASSERT_TRUE(c.ok());
  ASSERT_TRUE(c->Send(1, OpsRequest{{coffer::testing::CreateAccount(5)}}).ok());
  auto f = c->ReadFrame();
  ASSERT_TRUE(f.ok());
  ASSERT_TRUE(std::holds_alternative<Error>(f->message));
  EXPECT_EQ(std::get<Error>(f->message).code, ErrorCode::kHandshakeRequired);
  EXPECT_EQ(s->engine->Stats().requests, 0u);
}

TEST(NetAuth, NonLoopbackAddressRequiresAToken) {
  ServerConfig sc;
  sc.listen_address = "0.0.0.0";
  absl::Status s = sc.Validate();
  EXPECT_TRUE(absl::IsInvalidArgument(s)) << s;
  EXPECT_NE(s.message().find("auth_token"), absl::string_view::npos);
  sc.auth_token = "t";
  EXPECT_TRUE(sc.Validate().ok());
  for (const char* loopback :
       {"127.0.0.1", "127.1.2.3", "::1", "localhost", "::ffff:127.0.0.1"}) {
    EXPECT_TRUE(IsLoopbackAddress(loopback)) << loopback;
  }
  for (const char* open : {"0.0.0.0", "::", "10.0.0.1", "192.168.1.1"}) {
    EXPECT_FALSE(IsLoopbackAddress(open)) << open;
  }
  ServerConfig default_config;
  EXPECT_EQ(default_config.listen_address, "127.0.0.1");
  EXPECT_TRUE(default_config.Validate().ok());
}

TEST(NetAuth, ServerStartRefusesAnOpenAddressWithoutToken) {
  EngineConfig ec;
  ec.shard_count = 1;
  auto engine = Engine::Create(ec);
  ASSERT_TRUE(engine.ok());
  ServerConfig sc;
  sc.listen_address = "0.0.0.0";
  sc.port = 0;
  auto server = Server::Start(engine->get(), sc);
  EXPECT_FALSE(server.ok());
}

}  // namespace
}  // namespace coffer::net

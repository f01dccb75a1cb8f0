// coffer-net-bench: loopback throughput of the network path. N client
// connections each keep `window` requests in flight (pipelined), every
// request a batch of debits of 1 on random accounts. Starts its own engine
// and server in-process unless --server names a running cofferd.
#include <atomic>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <latch>
#include <memory>
#include <mutex>
#include <random>
#include <semaphore>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/strings/numbers.h"
#include "engine/engine.h"
#include "net/client.h"
#include "net/program_flags.h"
#include "net/server.h"

ABSL_FLAG(std::string, server, "",
          "host:port of a running cofferd (empty: start one in-process)");
ABSL_FLAG(std::string, auth_token, "", "auth token for --server");
ABSL_FLAG(uint32_t, connections, 4, "client connections");
ABSL_FLAG(uint32_t, requests, 20000, "requests per connection");
ABSL_FLAG(uint32_t, ops_per_request, 1, "debits per request");
ABSL_FLAG(uint32_t, window, 64, "requests in flight per connection");
ABSL_FLAG(uint32_t, accounts, 1000, "accounts debited (created first)");
ABSL_FLAG(uint32_t, shards, 0, "in-process engine shards (0: one per core)");
ABSL_FLAG(uint32_t, io_threads, 0, "in-process server io threads");
ABSL_FLAG(uint64_t, first_account, 1'000'000'000,
          "id of the first account used (pick a fresh range per run against "
          "a long-lived server)");

namespace {

[[noreturn]] void Die(const std::string& why) {
  std::fprintf(stderr, "coffer-net-bench: %s\n", why.c_str());
  std::exit(1);
}

uint64_t RandomOpIdBase() {
  std::random_device rd;
  return ((uint64_t{rd()} << 32) ^ rd()) & ~((uint64_t{1} << 40) - 1);
}

}  // namespace

int main(int argc, char** argv) {
  if (!coffer::net::ParseProgramFlags(
           argc, argv,
           "coffer-net-bench: pipelined debits over loopback TCP.\n"
           "Usage: coffer-net-bench [--connections=4] [--window=64] "
           "[--ops_per_request=1] [--server=HOST:PORT]")
           .empty()) {
    Die("unexpected argument (see --help)");
  }

  const uint32_t connections = absl::GetFlag(FLAGS_connections);
  const uint32_t requests = absl::GetFlag(FLAGS_requests);
  const uint32_t batch = absl::GetFlag(FLAGS_ops_per_request);
  const uint32_t window = absl::GetFlag(FLAGS_window);
  const uint32_t accounts = absl::GetFlag(FLAGS_accounts);
  const uint64_t first = absl::GetFlag(FLAGS_first_account);
  if (connections == 0 || requests == 0 || batch == 0 || window == 0 ||
      accounts == 0) {
    Die("counts must be >= 1");
  }

  std::unique_ptr<coffer::Engine> engine;
  std::unique_ptr<coffer::net::Server> server;
  coffer::net::ClientOptions co;
  co.auth_token = absl::GetFlag(FLAGS_auth_token);
  if (absl::GetFlag(FLAGS_server).empty()) {
    coffer::EngineConfig ec;
    ec.shard_count = absl::GetFlag(FLAGS_shards);
    auto e = coffer::Engine::Create(ec);
    if (!e.ok()) Die(std::string(e.status().message()));
    engine = std::move(e).value();
    coffer::net::ServerConfig sc;
    sc.port = 0;
    sc.io_threads = absl::GetFlag(FLAGS_io_threads);
    sc.max_requests_in_flight = std::max<uint32_t>(window, 128);
    auto s = coffer::net::Server::Start(engine.get(), sc);
    if (!s.ok()) Die(std::string(s.status().message()));
    server = std::move(s).value();
    co.port = server->port();
  } else {
    const std::string target = absl::GetFlag(FLAGS_server);
    const size_t colon = target.rfind(':');
    uint32_t port = 0;
    if (colon == std::string::npos ||
        !absl::SimpleAtoi(target.substr(colon + 1), &port) || port > 65535) {
      Die("--server: expected host:port");
    }
    co.host = target.substr(0, colon);
    co.port = static_cast<uint16_t>(port);
  }

  std::vector<std::unique_ptr<coffer::net::Client>> clients;
  for (uint32_t i = 0; i < connections; ++i) {
    auto c = coffer::net::Client::Connect(co);
    if (!c.ok()) Die(std::string(c.status().message()));
    clients.push_back(std::move(c).value());
  }

  // Accounts with enough balance for every debit.
  const uint64_t op_base = RandomOpIdBase();
  std::atomic<uint64_t> next_op{op_base};
  const uint64_t total_ops = uint64_t{connections} * requests * batch;
  for (uint32_t a = 0; a < accounts; a += 1000) {
    std::vector<coffer::Op> setup;
    for (uint32_t i = a; i < std::min(accounts, a + 1000); ++i) {
      coffer::Op create;
      create.op_id = next_op++;
      create.kind = coffer::OpKind::kCreateAccount;
      create.account_id = first + i;
      create.currency = 1;
      coffer::Op credit;
      credit.op_id = next_op++;
      credit.kind = coffer::OpKind::kCredit;
      credit.account_id = first + i;
      credit.amount = total_ops + 1;
      setup.push_back(create);
      setup.push_back(credit);
    }
    auto r = clients[0]->Apply(setup);
    if (!r.ok()) Die(std::string(r.status().message()));
  }

  std::atomic<uint64_t> ok{0}, refused{0}, failed{0};
  std::latch start(connections + 1);
  std::vector<std::thread> drivers;
  for (uint32_t c = 0; c < connections; ++c) {
    drivers.emplace_back([&, c] {
      std::mt19937_64 rng(c + 1);
      std::counting_semaphore<> slots(window);
      std::latch done(requests);
      start.arrive_and_wait();
      for (uint32_t i = 0; i < requests; ++i) {
        std::vector<coffer::Op> ops(batch);
        for (auto& op : ops) {
          op.op_id = next_op.fetch_add(1, std::memory_order_relaxed);
          op.kind = coffer::OpKind::kDebit;
          op.account_id = first + rng() % accounts;
          op.amount = 1;
        }
        slots.acquire();
        clients[c]->ApplyAsync(
            std::move(ops),
            [&](absl::StatusOr<std::vector<coffer::OpResult>> r) {
              if (!r.ok()) {
                failed.fetch_add(batch, std::memory_order_relaxed);
              } else {
                for (const auto& x : *r) (x.ok() ? ok : refused)++;
              }
              slots.release();
              done.count_down();
            });
      }
      done.wait();
    });
  }
  start.arrive_and_wait();
  const auto t0 = std::chrono::steady_clock::now();
  for (auto& t : drivers) t.join();
  const double s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0)
          .count();
  const uint64_t total_requests = uint64_t{connections} * requests;
  std::printf(
      "coffer-net-bench: %u connections x %u requests x %u debits, window "
      "%u: %.0f requests/s, %.0f ops/s (%.2f s; ok %" PRIu64
      ", refused %" PRIu64 ", failed %" PRIu64 ")%s\n",
      connections, requests, batch, window, total_requests / s, total_ops / s,
      s, ok.load(), refused.load(), failed.load(),
      server ? " [in-process server]" : "");
  clients.clear();
  if (server) server->Shutdown();
  return failed.load() == 0 && refused.load() == 0 ? 0 : 1;
}

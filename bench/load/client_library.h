// Optional third interface of a LoadTarget that has a client library
// callers block on (Coffer's net::Client), for coffer-bench's client mode
// (--client_threads): T threads, each making one blocking call at a time,
// the way a game server's request handlers use a ledger. The generator
// finds it with dynamic_cast; targets without it refuse the mode. Kept
// apart from target.h so that interface stays what the peers implement.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "bench/load/target.h"

namespace coffer::bench {

struct ClientLibraryOptions {
  uint32_t clients = 1;  // library clients (connections) the threads share
  bool coalesce = true;  // net::ClientOptions::coalesce_ops
  uint32_t frames_in_flight_max = 0;  // 0: the library's default
};

// Thread-safe: every caller thread calls Call concurrently.
class BlockingCaller {
 public:
  virtual ~BlockingCaller() = default;
  // One blocking call carrying `ops` (all lookups or none), on the client
  // `thread_index` maps to. One LoadResult per op, in order.
  virtual absl::StatusOr<std::vector<LoadResult>> Call(
      uint32_t thread_index, std::span<const LoadOp> ops) = 0;
  // For the report: request frames the clients made, and the calls in them.
  virtual uint64_t frames() const = 0;
  virtual uint64_t calls() const = 0;
  // One line: how the library is driven.
  virtual std::string settings() const = 0;
};

class ClientLibrary {
 public:
  virtual ~ClientLibrary() = default;
  virtual absl::StatusOr<std::unique_ptr<BlockingCaller>> OpenClients(
      const ClientLibraryOptions& options) = 0;
};

}  // namespace coffer::bench

// Settings of the network server. Every bound here keeps one resource
// finite; net/DESIGN.md says what happens when each is reached.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "absl/status/status.h"

namespace coffer::net {

struct ServerConfig {
  // Address to listen on. Anything but a loopback address requires
  // auth_token (a ledger must not be open to the network by accident).
  std::string listen_address = "127.0.0.1";
  uint16_t port = 7300;  // 0: an ephemeral port (tests); see Server::port()

  // Shared secret every client presents in HELLO; empty: none required.
  std::string auth_token;

  // Network threads, each running its own io_context; 0: one per four
  // hardware threads (at least one). The engine has its own threads.
  uint32_t io_threads = 0;
  // While a request of an io thread is at the engine, the thread spins this
  // long for its reply before sleeping in epoll (net/io_loop.h); 0: never
  // spin.
  // The default 0 comes from the figures in bench/RESULTS.md ("Spinning
  // for the reply"): on 2 cores shared with the load generator, 1000 µs
  // saved 30 µs of a C=1 p50 but cost 10% of the C=64 throughput.
  uint32_t reply_spin_us = 0;
  static constexpr uint32_t kReplySpinUsMax = 100'000;

  // Connections open at once; one more is sent ERROR too_many_connections
  // and closed.
  uint32_t max_connections = 1024;

  // Largest frame body accepted (and announced in HELLO_OK).
  uint32_t max_body_bytes = 1u << 20;
  // Most operations in one OPS frame (or ids in one LOOKUP); also capped by
  // the engine's request_ops_max.
  uint32_t max_ops_per_request = 8192;
  // Largest history page.
  uint32_t max_history_limit = 1000;

  // The oldest protocol version accepted (1..kVersionMax). 2 refuses
  // version 1 clients (ERROR unsupported_version), whose requests carry no
  // issue time: once every client speaks 2, no retry older than the op-id
  // retention can apply twice (net/PROTOCOL.md "Versions").
  uint16_t protocol_version_min = 1;

  // Per connection: requests decoded but not yet answered. At the bound the
  // server stops reading from the socket until one completes.
  uint32_t max_requests_in_flight = 128;
  // Per connection: bytes those requests may pin, counting each request's
  // body and the largest reply it can produce. At the bound the server
  // stops reading (a single request is always admitted when none is in
  // flight).
  uint64_t max_bytes_in_flight = 4u << 20;
  // Per connection: reply bytes queued for a peer that reads slowly. At
  // the bound the server stops reading requests until the peer catches up.
  uint64_t max_write_queue_bytes = 4u << 20;

  // A connection with nothing in flight that sends and receives nothing for
  // this long (including one that never completes HELLO), or whose replies
  // make no write progress for this long, is closed.
  uint32_t idle_timeout_ms = 60'000;

  // A frame (HELLO included) whose first bytes have arrived must arrive
  // whole within this long, or the connection is sent ERROR idle_timeout
  // and closed. Without it a peer trickling one byte at a time (slowloris)
  // resets the idle timeout with every byte and holds its connection and a
  // read buffer of up to max_body_bytes forever. Time the server itself
  // stops reading (a bound above reached) does not count.
  uint32_t frame_read_timeout_ms = 30'000;

  // While the engine's submit queue is full, a request is retried from the
  // io thread (short timers, never blocking) for at most this long; then it
  // is answered with ERROR busy (not applied) and the client may retry.
  uint32_t submit_retry_ms = 2'000;

  // Graceful shutdown: how long to wait for peers to read their last
  // replies before closing their connections anyway.
  uint32_t shutdown_grace_ms = 10'000;

  // Tests: BackupOptions::before_step of every BACKUP (engine/backup.h),
  // to hold a backup at a step or fail it there. Empty: none.
  std::function<absl::Status(std::string_view step)> backup_before_step;

  // Checks the settings; an error names the offending field.
  absl::Status Validate() const;
  uint32_t ResolvedIoThreads() const;
};

// True for 127.0.0.0/8, ::1, "localhost" and v4-mapped loopback.
bool IsLoopbackAddress(const std::string& address);

}  // namespace coffer::net

// State shared by the server and its connections: settings, the engine,
// counters, and the registry of live connections that shutdown walks.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "engine/engine.h"
#include "engine/latency_histogram.h"
#include "net/backup_runner.h"
#include "net/codec.h"
#include "net/reply_inbox.h"
#include "net/server_config.h"

namespace coffer::net {

class Connection;

// High-water marks over all connections since start: what the tests use
// to check that every per-connection bound held.
struct ServerGauges {
  uint64_t requests_in_flight_max = 0;
  uint64_t bytes_in_flight_max = 0;
  uint64_t write_queue_bytes_max = 0;
  uint64_t read_buffer_bytes_max = 0;
  uint64_t read_pauses = 0;  // reads deferred because a bound was reached
  uint64_t idle_closes = 0;
  uint64_t stalled_write_closes = 0;
  uint64_t frame_timeouts = 0;  // frames not complete in frame_read_timeout_ms
};

// The network's stages (engine/latency_histogram.h), one set per io
// thread: every connection on an io thread records into that thread's set,
// so each histogram has a single writer.
struct NetStages {
  const void* io_context = nullptr;  // whose thread writes this set
  LatencyHistogram released_written_ns;
  LatencyHistogram total_ns;  // received -> written
};

struct ServerShared {
  ServerShared(const ServerConfig& c, Engine* e);

  const ServerConfig config;
  Engine* const engine;
  // Effective limits: the configured ones capped by the engine's.
  const uint32_t ops_max;
  const uint32_t history_limit_max;
  HelloOk hello_ok;
  // BACKUP requests, one at a time; stopped by Server::Shutdown.
  BackupRunner backups;

  std::atomic<bool> draining{false};

  // Counters (relaxed: statistics only).
  std::atomic<uint64_t> connections_open{0};
  std::atomic<uint64_t> connections_accepted{0};
  std::atomic<uint64_t> connections_refused{0};
  std::atomic<uint64_t> refusals_lingering{0};
  std::atomic<uint64_t> frames_received{0};
  std::atomic<uint64_t> replies_sent{0};
  std::atomic<uint64_t> protocol_errors{0};
  std::atomic<uint64_t> submit_retries{0};
  std::atomic<uint64_t> busy_replies{0};
  std::atomic<uint64_t> requests_in_flight_max{0};
  std::atomic<uint64_t> bytes_in_flight_max{0};
  std::atomic<uint64_t> write_queue_bytes_max{0};
  std::atomic<uint64_t> read_buffer_bytes_max{0};
  std::atomic<uint64_t> read_pauses{0};
  std::atomic<uint64_t> idle_closes{0};
  std::atomic<uint64_t> stalled_write_closes{0};
  std::atomic<uint64_t> frame_timeouts{0};

  // engine->TrySubmit. Under ThreadSanitizer only, concurrent calls are
  // serialized: boost.lockfree's freelist, inside the engine's submit
  // queue, reads a node's next index while another producer may be
  // constructing it, which TSan reports although the tagged CAS makes it
  // benign (boostorg/lockfree#78). ctest runs suppress it
  // (tests/tsan.supp); this keeps TSan runs of the test binary without
  // TSAN_OPTIONS, and TSan builds of cofferd, quiet too. Normal builds
  // stay lock-free.
  SubmitResult TrySubmit(Request* request);

  // Registers an io_context before its thread starts (Server's
  // constructor); StagesFor is then safe from any thread.
  void AddIoContext(const void* io_context);
  // The stage set of the thread running `io_context`; nullptr if unknown.
  NetStages* StagesFor(const void* io_context);
  // Registers the reply inbox of an io_context (Server's constructor,
  // before the threads start); InboxFor is then safe from any thread.
  void AddReplyInbox(boost::asio::io_context& io_context);
  // The inbox of `io_context`. Every connection's io_context has one.
  ReplyInbox* InboxFor(const void* io_context);
  // Destroys the inboxes (each holds a descriptor of its io_context, so it
  // must go before the io_contexts do): Server's destructor, once its io
  // threads are joined and no request is at the engine.
  void DestroyReplyInboxes() { inboxes_.clear(); }
  // The engine's stages and the network's (merged over io threads),
  // sorted by stage number.
  std::vector<StageSnapshot> Stages() const;

  ServerCounters Counters() const;
  ServerGauges Gauges() const;
  static void RaiseTo(std::atomic<uint64_t>& gauge, uint64_t value);

  // Registry of every connection object, refused ones included. Add on
  // construction, Remove on destruction.
  void Add(Connection* c, std::weak_ptr<Connection> weak, bool refused);
  void Remove(Connection* c);
  std::vector<std::shared_ptr<Connection>> Live();
  // Waits until at most `open` connections (refused ones not counted)
  // exist; false on timeout.
  bool WaitForOpen(size_t open, std::chrono::steady_clock::time_point until);
  // Waits until no connection object exists at all; false on timeout.
  bool WaitForNone(std::chrono::steady_clock::time_point until);

 private:
  struct Entry {
    std::weak_ptr<Connection> weak;
    bool refused = false;
  };
  std::vector<std::unique_ptr<NetStages>> net_stages_;  // fixed after start
  std::vector<std::unique_ptr<ReplyInbox>> inboxes_;    // fixed after start
  std::mutex submit_mu_;  // TSan builds only, see TrySubmit
  std::mutex mu_;
  std::condition_variable cv_;
  std::unordered_map<Connection*, Entry> live_;
  size_t open_ = 0;  // entries that are not refused
};

}  // namespace coffer::net

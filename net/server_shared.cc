#include "net/server_shared.h"

#include <algorithm>

#include "common/assert.h"
namespace coffer::net {

ServerShared::ServerShared(const ServerConfig& c, Engine* e)
    : config(c),
      engine(e),
      ops_max(std::min(c.max_ops_per_request, e->config().request_ops_max)),
      history_limit_max(
          std::min(c.max_history_limit, e->config().request_ops_max)),
      backups(e, c.backup_before_step) {
  hello_ok.version = kVersionMax;
  hello_ok.shard_count = e->shard_count();
  hello_ok.max_body_bytes = c.max_body_bytes;
  hello_ok.max_ops_per_request = ops_max;
  hello_ok.max_requests_in_flight = c.max_requests_in_flight;
  hello_ok.max_history_limit = history_limit_max;
}

#if defined(__SANITIZE_THREAD__)
#define COFFER_NET_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define COFFER_NET_TSAN 1
#endif
#endif

SubmitResult ServerShared::TrySubmit(Request* request) {
#ifdef COFFER_NET_TSAN
  std::lock_guard<std::mutex> lock(submit_mu_);
#endif
  return engine->TrySubmit(request);
}

void ServerShared::AddIoContext(const void* io_context) {
  net_stages_.push_back(std::make_unique<NetStages>());
  net_stages_.back()->io_context = io_context;
}

void ServerShared::AddReplyInbox(boost::asio::io_context& io_context) {
  inboxes_.push_back(std::make_unique<ReplyInbox>(io_context));
}

ReplyInbox* ServerShared::InboxFor(const void* io_context) {
  ReplyInbox* found = nullptr;
  for (auto& inbox : inboxes_) {
    if (static_cast<boost::asio::execution_context*>(&inbox->io_context()) ==
        io_context) {
      found = inbox.get();
    }
  }
  // Every io_context of the pool registered one before its thread started.
  COFFER_ASSERT_MSG(found != nullptr, "no reply inbox for an io_context");
  return found;
}

NetStages* ServerShared::StagesFor(const void* io_context) {
  for (auto& set : net_stages_) {
    if (set->io_context == io_context) return set.get();
  }
  return nullptr;
}

std::vector<StageSnapshot> ServerShared::Stages() const {
  std::vector<StageSnapshot> out = engine->Stages();
  StageSnapshot written{Stage::kReleasedWritten, {}};
  StageSnapshot total{Stage::kTotal, {}};
  for (const auto& set : net_stages_) {
    written.histogram.Merge(set->released_written_ns.Snapshot());
    total.histogram.Merge(set->total_ns.Snapshot());
  }
  out.push_back(written);
  out.push_back(total);
  std::sort(out.begin(), out.end(),
            [](const auto& a, const auto& b) { return a.stage < b.stage; });
  return out;
}

ServerCounters ServerShared::Counters() const {
  constexpr auto r = std::memory_order_relaxed;
  ServerCounters s;
  s.connections_open = connections_open.load(r);
  s.connections_accepted = connections_accepted.load(r);
  s.connections_refused = connections_refused.load(r);
  s.frames_received = frames_received.load(r);
  s.replies_sent = replies_sent.load(r);
  s.protocol_errors = protocol_errors.load(r);
  s.submit_retries = submit_retries.load(r);
  s.busy_replies = busy_replies.load(r);
  return s;
}

ServerGauges ServerShared::Gauges() const {
  constexpr auto r = std::memory_order_relaxed;
  ServerGauges g;
  g.requests_in_flight_max = requests_in_flight_max.load(r);
  g.bytes_in_flight_max = bytes_in_flight_max.load(r);
  g.write_queue_bytes_max = write_queue_bytes_max.load(r);
  g.read_buffer_bytes_max = read_buffer_bytes_max.load(r);
  g.read_pauses = read_pauses.load(r);
  g.idle_closes = idle_closes.load(r);
  g.stalled_write_closes = stalled_write_closes.load(r);
  g.frame_timeouts = frame_timeouts.load(r);
  return g;
}

void ServerShared::RaiseTo(std::atomic<uint64_t>& gauge, uint64_t value) {
  uint64_t seen = gauge.load(std::memory_order_relaxed);
  while (seen < value &&
         !gauge.compare_exchange_weak(seen, value, std::memory_order_relaxed)) {
  }
}

void ServerShared::Add(Connection* c, std::weak_ptr<Connection> weak,
                       bool refused) {
  std::lock_guard<std::mutex> lock(mu_);
  live_.emplace(c, Entry{std::move(weak), refused});
  if (!refused) ++open_;
}

void ServerShared::Remove(Connection* c) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = live_.find(c);
  if (it == live_.end()) return;
  if (!it->second.refused) --open_;
  live_.erase(it);
  cv_.notify_all();
}

std::vector<std::shared_ptr<Connection>> ServerShared::Live() {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::shared_ptr<Connection>> out;
  for (auto& [ptr, entry] : live_) {
    if (auto c = entry.weak.lock()) out.push_back(std::move(c));
  }
  return out;
}

bool ServerShared::WaitForOpen(size_t open,
                               std::chrono::steady_clock::time_point until) {
  std::unique_lock<std::mutex> lock(mu_);
  return cv_.wait_until(lock, until, [&] { return open_ <= open; });
}

bool ServerShared::WaitForNone(std::chrono::steady_clock::time_point until) {
  std::unique_lock<std::mutex> lock(mu_);
  return cv_.wait_until(lock, until, [&] { return live_.empty(); });
}

}  // namespace coffer::net

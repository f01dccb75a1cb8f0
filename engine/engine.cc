#include "engine/engine.h"

#include <time.h>

#include <future>

#include "engine/queues.h"
#include "engine/sequencer.h"
#include "engine/shard.h"

namespace coffer {

struct Engine::Threads {
  std::unique_ptr<internal::SubmitQueue> submit;
  std::vector<std::unique_ptr<internal::RequestQueue>> to_shard, from_shard;
  // peers[from * n + to]
  std::vector<std::unique_ptr<internal::PeerQueue>> peers;
  std::unique_ptr<internal::Sequencer> sequencer;
  std::vector<std::unique_ptr<internal::Shard>> shards;
  std::atomic<bool> sequencer_stop{false};
  std::atomic<bool> shards_stop{false};
  std::thread sequencer_thread;
  std::vector<std::thread> shard_threads;
};

namespace {

uint64_t RealtimeNs() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000u +
         static_cast<uint64_t>(ts.tv_nsec);
}

}  // namespace

absl::StatusOr<std::unique_ptr<Engine>> Engine::Create(EngineConfig config) {
  if (absl::Status s = config.Validate(); !s.ok()) return s;
  if (!config.clock_ns) config.clock_ns = RealtimeNs;
  return std::unique_ptr<Engine>(new Engine(std::move(config)));
}

Engine::Engine(EngineConfig config)
    : config_(std::move(config)),
      shard_count_(config_.ResolvedShardCount()),
      threads_(std::make_unique<Threads>()) {
  Threads& t = *threads_;
  const uint32_t n = shard_count_;
  t.submit = std::make_unique<internal::SubmitQueue>(
      config_.submit_queue_capacity);
  for (uint32_t s = 0; s < n; ++s) {
    t.to_shard.push_back(std::make_unique<internal::RequestQueue>(
        config_.requests_in_flight_max));
    t.from_shard.push_back(std::make_unique<internal::RequestQueue>(
        config_.requests_in_flight_max));
  }
  t.peers.resize(static_cast<size_t>(n) * n);
  for (uint32_t a = 0; a < n; ++a) {
    for (uint32_t b = 0; b < n; ++b) {
      if (a != b) {
        t.peers[a * n + b] = std::make_unique<internal::PeerQueue>(
            config_.peer_queue_capacity);
      }
    }
  }
  t.sequencer = std::make_unique<internal::Sequencer>(config_, n);
  for (uint32_t s = 0; s < n; ++s) {
    t.shards.push_back(std::make_unique<internal::Shard>(s, n, config_));
  }

  internal::SequencerWiring sw;
  sw.submit = t.submit.get();
  sw.stop = &t.sequencer_stop;
  for (uint32_t s = 0; s < n; ++s) {
    sw.to_shard.push_back(t.to_shard[s].get());
    sw.from_shard.push_back(t.from_shard[s].get());
    sw.shard_bells.push_back(&t.shards[s]->bell());
  }
  t.sequencer->Wire(std::move(sw));
  for (uint32_t s = 0; s < n; ++s) {
    internal::ShardWiring w;
    w.in = t.to_shard[s].get();
    w.done = t.from_shard[s].get();
    w.sequencer_bell = &t.sequencer->bell();
    w.stop = &t.shards_stop;
    for (uint32_t p = 0; p < n; ++p) {
      w.peer_in.push_back(p == s ? nullptr : t.peers[p * n + s].get());
      w.peer_out.push_back(p == s ? nullptr : t.peers[s * n + p].get());
      w.peer_bells.push_back(&t.shards[p]->bell());
    }
    t.shards[s]->Wire(std::move(w));
  }

  for (uint32_t s = 0; s < n; ++s) {
    t.shard_threads.emplace_back([shard = t.shards[s].get()] { shard->Run(); });
  }
  t.sequencer_thread = std::thread([seq = t.sequencer.get()] { seq->Run(); });
}

Engine::~Engine() {
  closing_.store(true, std::memory_order_release);
  Threads& t = *threads_;
  t.sequencer_stop.store(true, std::memory_order_release);
  t.sequencer->bell().RingAlways();
  t.sequencer_thread.join();
  t.shards_stop.store(true, std::memory_order_release);
  for (auto& shard : t.shards) shard->bell().RingAlways();
  for (auto& th : t.shard_threads) th.join();
}

SubmitResult Engine::TrySubmit(Request* request) {
  if (closing_.load(std::memory_order_acquire)) return SubmitResult::kClosed;
  switch (request->kind) {
    case RequestKind::kOps:
    case RequestKind::kLookup:
    case RequestKind::kHistory:
    case RequestKind::kDigest:
      break;
    default:
      return SubmitResult::kInvalid;
  }
  if (request->ops.size() > config_.request_ops_max ||
      request->lookup_ids.size() > config_.request_ops_max) {
    return SubmitResult::kTooLarge;
  }
  if (!threads_->submit->bounded_push(request)) {
    return SubmitResult::kQueueFull;
  }
  threads_->sequencer->bell().Ring();
  return SubmitResult::kAccepted;
}

SubmitResult Engine::Submit(Request* request) {
  for (;;) {
    SubmitResult r = TrySubmit(request);
    if (r != SubmitResult::kQueueFull) return r;
    std::this_thread::yield();
  }
}

SubmitResult Engine::Execute(Request& request) {
  std::promise<void> done;
  std::future<void> answered = done.get_future();
  auto user_callback = std::move(request.on_complete);
  request.on_complete = [&done](Request&) { done.set_value(); };
  SubmitResult r = Submit(&request);
  if (r == SubmitResult::kAccepted) answered.wait();
  request.on_complete = std::move(user_callback);
  return r;
}

std::vector<OpResult> Engine::Apply(std::vector<Op> ops) {
  Request request;
  request.kind = RequestKind::kOps;
  request.ops = std::move(ops);
  if (Execute(request) != SubmitResult::kAccepted) return {};
  return std::move(request.results);
}

std::vector<AccountInfo> Engine::Lookup(std::vector<uint64_t> account_ids) {
  Request request;
  request.kind = RequestKind::kLookup;
  request.lookup_ids = std::move(account_ids);
  if (Execute(request) != SubmitResult::kAccepted) return {};
  return std::move(request.accounts);
}

StateDigest Engine::Digest() {
  Request request;
  request.kind = RequestKind::kDigest;
  Execute(request);
  return request.digest;
}

EngineStats Engine::Stats() const {
  EngineStats s;
  const auto& c = threads_->sequencer->counters();
  s.requests = c.requests.load(std::memory_order_relaxed);
  s.ops_sequenced = c.ops_sequenced.load(std::memory_order_relaxed);
  s.duplicates = c.duplicates.load(std::memory_order_relaxed);
  s.refused_before_ordering =
      c.refused_before_ordering.load(std::memory_order_relaxed);
  s.last_seq = c.last_seq.load(std::memory_order_relaxed);
  for (const auto& shard : threads_->shards) {
    const auto& sc = shard->counters();
    EngineStats::Shard x;
    x.txns_applied = sc.txns_applied.load(std::memory_order_relaxed);
    x.multi_shard_txns = sc.multi_shard_txns.load(std::memory_order_relaxed);
    x.deferred_txns = sc.deferred_txns.load(std::memory_order_relaxed);
    x.accounts = sc.accounts.load(std::memory_order_relaxed);
    s.shards.push_back(x);
  }
  return s;
}

}  // namespace coffer

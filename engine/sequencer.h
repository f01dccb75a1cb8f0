// The sequencer: one thread that puts every request in a single total order.
// It stamps each transaction with its sequence numbers and time, decides
// exactly-once (new op, duplicate of a remembered op, or a reused id), splits
// requests by shard, and completes them when every shard has answered.
// It touches no account: its own state is the op-id table and the waiters.
#pragma once

#include <atomic>
#include <cstdint>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/inlined_vector.h"
#include "engine/config.h"
#include "engine/doorbell.h"
#include "engine/op_id_table.h"
#include "engine/queues.h"
#include "engine/request.h"

namespace coffer::internal {

struct SequencerWiring {
  SubmitQueue* submit = nullptr;
  std::vector<RequestQueue*> to_shard;
  std::vector<RequestQueue*> from_shard;
  std::vector<Doorbell*> shard_bells;
  const std::atomic<bool>* stop = nullptr;  // finish in-flight work, return
};

struct SequencerCounters {
  std::atomic<uint64_t> requests{0};
  std::atomic<uint64_t> ops_sequenced{0};
  std::atomic<uint64_t> duplicates{0};
  std::atomic<uint64_t> refused_before_ordering{0};
  std::atomic<uint64_t> last_seq{0};
};

class Sequencer {
 public:
  Sequencer(const EngineConfig& config, uint32_t shard_count);
  Sequencer(const Sequencer&) = delete;
  Sequencer& operator=(const Sequencer&) = delete;

  void Wire(SequencerWiring wiring) { wiring_ = std::move(wiring); }
  Doorbell& bell() { return bell_; }
  const SequencerCounters& counters() const { return counters_; }

  // The worker loop; returns once stop is set and nothing is in flight.
  void Run();

 private:
  bool DrainDone();
  bool AdmitRequests();
  bool HaveWork() const;

  void Sequence(Request* r);
  void SequenceOps(Request* r);
  void SequenceChain(Request* r, uint32_t begin, uint32_t len);
  void FailChain(Request* r, uint32_t begin, uint32_t len, uint32_t bad,
                 ResultCode code);
  void AddTxn(Request* r, const Txn& x);
  void Dispatch(Request* r);
  void OnShardsDone(Request* r);
  void MaybeComplete(Request* r);
  uint64_t NextTimestamp();
  static uint32_t CostOf(const Request& r);

  const EngineConfig config_;
  const uint32_t shard_count_;
  SequencerWiring wiring_;
  Doorbell bell_;
  SequencerCounters counters_;

  OpIdTable op_ids_;
  // Duplicates waiting for an original still in flight: op id -> (request,
  // op index).
  absl::flat_hash_map<uint64_t,
                      absl::InlinedVector<std::pair<Request*, uint32_t>, 1>>
      waiters_;
  uint64_t next_seq_ = 1;
  uint64_t last_timestamp_ns_ = 0;
  uint32_t requests_in_flight_ = 0;
  uint64_t ops_in_flight_ = 0;
  Request* held_ = nullptr;  // taken from the queue, waiting for room
};

}  // namespace coffer::internal

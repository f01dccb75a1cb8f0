// The lock-free queues between engine threads (Boost.Lockfree).
#pragma once

#include <boost/lockfree/queue.hpp>
#include <boost/lockfree/spsc_queue.hpp>
#include <cstdint>

namespace coffer {
struct Request;
}

namespace coffer::internal {

// Producers (any thread) -> sequencer. Fixed capacity, never allocates
// after construction.
using SubmitQueue =
    boost::lockfree::queue<Request*, boost::lockfree::fixed_sized<true>>;

// Sequencer -> shard, and shard -> sequencer: whole requests.
using RequestQueue = boost::lockfree::spsc_queue<Request*>;

// Shard -> shard: "my snapshot records of this transaction are written and
// its accounts are locked on my side".
struct PeerMsg {
  Request* request = nullptr;
  uint32_t txn = 0;
};
using PeerQueue = boost::lockfree::spsc_queue<PeerMsg>;

}  // namespace coffer::internal

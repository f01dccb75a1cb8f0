// Optional second interface of a LoadTarget whose system partitions
// accounts into shards the way Coffer does (engine/partition.h), so the
// transfer workload can choose same-shard or cross-shard pairs. The
// generator finds it with dynamic_cast; targets without shards (the peers)
// do not implement it and get random pairs. Kept apart from target.h so
// that interface stays exactly what the peer targets were written against.
#pragma once

#include <cstdint>

namespace coffer::bench {

class ShardAware {
 public:
  virtual ~ShardAware() = default;
  // Shards the server partitions accounts into (ShardOf(id, shard_count)).
  virtual uint32_t shard_count() const = 0;
};

}  // namespace coffer::bench

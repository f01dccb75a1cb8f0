// Which shard owns an account. Stable and documented (engine/DESIGN.md):
//   shard = (XXH3_64bits(little-endian 8-byte id, seed 0) * shard_count) >> 64
// It depends only on the id and the shard count, so a restart with another
// shard count re-partitions by recomputing it.
#pragma once

#include <cstdint>

namespace coffer {

uint64_t AccountHash(uint64_t account_id);

inline uint32_t ShardOf(uint64_t account_id, uint32_t shard_count) {
  return static_cast<uint32_t>(
      (static_cast<unsigned __int128>(AccountHash(account_id)) * shard_count) >>
      64);
}

}  // namespace coffer

#include "engine/partition.h"

#include <xxhash.h>

#include <bit>
#include <cstring>

namespace coffer {

uint64_t AccountHash(uint64_t account_id) {
  static_assert(std::endian::native == std::endian::little,
                "the partition hash is defined over little-endian ids");
  unsigned char bytes[8];
  std::memcpy(bytes, &account_id, sizeof(bytes));
  return XXH3_64bits(bytes, sizeof(bytes));
}

}  // namespace coffer

// Little-endian field access for frames. Header-only on purpose: these are
// one-instruction helpers on the encode/decode hot path and must inline.
#pragma once

#include <cstdint>
#include <cstring>
#include <vector>

namespace coffer::net::wire {

// x86-64 and AArch64 Linux are little-endian; the static_assert keeps a
// big-endian port from silently writing the wrong byte order.
static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "the wire helpers assume a little-endian host");

inline void Put16(uint8_t* p, uint16_t v) { std::memcpy(p, &v, 2); }
inline void Put32(uint8_t* p, uint32_t v) { std::memcpy(p, &v, 4); }
inline void Put64(uint8_t* p, uint64_t v) { std::memcpy(p, &v, 8); }
inline uint16_t Get16(const uint8_t* p) {
  uint16_t v;
  std::memcpy(&v, p, 2);
  return v;
}
inline uint32_t Get32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}
inline uint64_t Get64(const uint8_t* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}
// 128-bit two's complement, low 8 bytes first.
inline void Put128(uint8_t* p, __int128 v) {
  const auto u = static_cast<unsigned __int128>(v);
  Put64(p, static_cast<uint64_t>(u));
  Put64(p + 8, static_cast<uint64_t>(u >> 64));
}
inline __int128 Get128(const uint8_t* p) {
  const unsigned __int128 u =
      (static_cast<unsigned __int128>(Get64(p + 8)) << 64) | Get64(p);
  return static_cast<__int128>(u);
}

// Grows `out` by `n` zeroed bytes and returns a pointer to them.
inline uint8_t* Append(std::vector<uint8_t>& out, size_t n) {
  const size_t at = out.size();
  out.resize(at + n);
  return out.data() + at;
}

}  // namespace coffer::net::wire

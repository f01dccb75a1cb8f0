// Constants and helpers that net/connection*.cc share: one class, Connection,
// whose definition is split by job (connection.cc: life cycle and closing;
// connection_decode.cc: bytes to frames; connection_handle.cc: frames to
// engine requests and back; connection_encode.cc: replies to bytes).
// Private to those files.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "net/protocol.h"

namespace coffer::net::connection_internal {

// Read size when no large frame is pending: 256 ops per read, and 32 KiB
// per idle connection (1,024 connections: 32 MiB).
constexpr size_t kReadChunkBytes = 32 << 10;
// Request vectors above this are freed on reuse so that one large batch
// does not pin memory for the rest of the connection's life.
constexpr size_t kSlotKeepBytes = 64 << 10;
// Free slots kept for reuse.
constexpr size_t kFreeSlotsKept = 16;
// Engine-side bookkeeping of a request, counted against bytes in flight.
constexpr uint64_t kRequestOverheadBytes = 512;
// What a digest reply may cost (one 48-byte record per currency).
constexpr uint64_t kDigestReplyEstimateBytes = 4096;
// Retries of TrySubmit while the engine's queue is full: start short (the
// sequencer drains fast), back off to at most this.
constexpr std::chrono::microseconds kRetryFirst{50};
constexpr std::chrono::microseconds kRetryMax{2000};
// How long to discard input after the final ERROR before closing (so the
// kernel sends FIN, not RST, and the peer can read the ERROR).
constexpr std::chrono::milliseconds kLingerMax{1000};

inline std::string KindName(uint16_t kind) {
  return std::string(MessageKindName(static_cast<MessageKind>(kind)));
}

template <typename T>
void ShrinkIfLarge(std::vector<T>& v) {
  if (v.capacity() * sizeof(T) > kSlotKeepBytes) {
    std::vector<T>().swap(v);
  } else {
    v.clear();
  }
}

}  // namespace coffer::net::connection_internal

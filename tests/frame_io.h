// Blocking whole-frame reads and writes on a raw socket, for tests that
// stand between a client and the server (relays that delay or lose
// replies).
#pragma once

#include <sys/socket.h>
#include <sys/types.h>

#include <cstdint>
#include <vector>

#include "net/protocol.h"
#include "net/wire.h"

namespace coffer::testing {

// Reads exactly n bytes; false if the peer closed or failed first.
inline bool ReadAll(int fd, uint8_t* p, size_t n) {
  while (n > 0) {
    const ssize_t r = ::recv(fd, p, n, 0);
    if (r <= 0) return false;
    p += r;
    n -= static_cast<size_t>(r);
  }
  return true;
}

inline bool WriteAll(int fd, const std::vector<uint8_t>& bytes) {
  size_t sent = 0;
  while (sent < bytes.size()) {
    const ssize_t r =
        ::send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (r <= 0) return false;
    sent += static_cast<size_t>(r);
  }
  return true;
}

// One whole frame from `fd`, or empty if it closed.
inline std::vector<uint8_t> ReadFrameBytes(int fd) {
  std::vector<uint8_t> frame(net::kHeaderBytes);
  if (!ReadAll(fd, frame.data(), net::kHeaderBytes)) return {};
  const uint32_t body = net::wire::Get32(frame.data() + 20);
  frame.resize(net::kHeaderBytes + body);
  if (!ReadAll(fd, frame.data() + net::kHeaderBytes, body)) return {};
  return frame;
}

}  // namespace coffer::testing

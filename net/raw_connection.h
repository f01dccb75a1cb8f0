// A blocking, frame-at-a-time protocol connection over plain POSIX sockets,
// with a timeout on every send and receive. For tests and diagnostics that
// need to send arbitrary (also malformed) bytes and look at exactly what
// comes back; applications use Client.
#pragma once

#include <chrono>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "net/codec.h"

namespace coffer::net {

class RawConnection {
 public:
  static absl::StatusOr<RawConnection> Connect(
      uint16_t port,
      std::chrono::milliseconds timeout = std::chrono::seconds(10),
      const std::string& host = "127.0.0.1");
  RawConnection(RawConnection&& other) noexcept;
  RawConnection& operator=(RawConnection&& other) noexcept;
  ~RawConnection();

  absl::Status SendBytes(std::span<const uint8_t> bytes);
  absl::Status Send(uint64_t request_id, const Message& m);

  struct Frame {
    FrameHeader header;
    Message message;
  };
  // Reads one whole frame and decodes it. kUnavailable if the peer closed
  // first, kDeadlineExceeded on timeout.
  absl::StatusOr<Frame> ReadFrame();
  // Waits for the peer to close: OK on EOF (or reset) with no bytes left
  // to read; an error if a byte arrives or the timeout passes first.
  absl::Status ExpectClosed();

  // HELLO with `token`; expects HELLO_OK.
  absl::StatusOr<HelloOk> Handshake(const std::string& token = "");

  void ShutdownWrite();
  // SO_RCVBUF, set before a slow-reader test fills it.
  void SetReceiveBuffer(int bytes);
  // Sends without waiting; false when the socket buffer is full.
  absl::StatusOr<size_t> SendSomeNonBlocking(std::span<const uint8_t> bytes);
  int fd() const { return fd_; }

 private:
  explicit RawConnection(int fd) : fd_(fd) {}
  absl::Status ReadExactly(uint8_t* out, size_t n);
  int fd_ = -1;
};

}  // namespace coffer::net

#include "net/raw_connection.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"

namespace coffer::net {
namespace {

absl::Status Errno(const char* what) {
  const int e = errno;
  if (e == EAGAIN || e == EWOULDBLOCK) {
    return absl::DeadlineExceededError(absl::StrCat(what, ": timed out"));
  }
  if (e == ECONNRESET || e == EPIPE) {
    return absl::UnavailableError(absl::StrCat(what, ": ", std::strerror(e)));
  }
  return absl::InternalError(absl::StrCat(what, ": ", std::strerror(e)));
}

}  // namespace

absl::StatusOr<RawConnection> RawConnection::Connect(
    uint16_t port, std::chrono::milliseconds timeout, const std::string& host) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Errno("socket");
  RawConnection c(fd);
  timeval tv{};
  tv.tv_sec = timeout.count() / 1000;
  tv.tv_usec = (timeout.count() % 1000) * 1000;
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  const int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  if (::inet_pton(AF_INET, host.c_str(), &addr.sin_addr) != 1) {
    return absl::InvalidArgumentError("not an IPv4 address: " + host);
  }
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    return Errno("connect");
  }
  return c;
}

RawConnection::RawConnection(RawConnection&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)) {}

RawConnection& RawConnection::operator=(RawConnection&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(other.fd_, -1);
  }
  return *this;
}

RawConnection::~RawConnection() {
  if (fd_ >= 0) ::close(fd_);
}

absl::Status RawConnection::SendBytes(std::span<const uint8_t> bytes) {
  size_t sent = 0;
  while (sent < bytes.size()) {
    const ssize_t n =
        ::send(fd_, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Errno("send");
    }
    sent += static_cast<size_t>(n);
  }
  return absl::OkStatus();
}

absl::StatusOr<size_t> RawConnection::SendSomeNonBlocking(
    std::span<const uint8_t> bytes) {
  const ssize_t n =
      ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
    return Errno("send");
  }
  return static_cast<size_t>(n);
}

absl::Status RawConnection::Send(uint64_t request_id, const Message& m) {
  std::vector<uint8_t> bytes;
  EncodeFrame(request_id, m, bytes);
  return SendBytes(bytes);
}

absl::Status RawConnection::ReadExactly(uint8_t* out, size_t n) {
  size_t got = 0;
  while (got < n) {
    const ssize_t r = ::recv(fd_, out + got, n - got, 0);
    if (r == 0) {
      return absl::UnavailableError(absl::StrCat(
          "connection closed by the server after ", got, " of ", n, " bytes"));
    }
    if (r < 0) {
      if (errno == EINTR) continue;
      return Errno("recv");
    }
    got += static_cast<size_t>(r);
  }
  return absl::OkStatus();
}

absl::StatusOr<RawConnection::Frame> RawConnection::ReadFrame() {
  uint8_t header[kHeaderBytes];
  if (absl::Status s = ReadExactly(header, kHeaderBytes); !s.ok()) return s;
  Frame f;
  f.header = DecodeHeader(header);
  if (f.header.magic != kMagic || f.header.body_bytes > kReplyBodyBytesMax) {
    return absl::DataLossError("malformed frame header from the server");
  }
  std::vector<uint8_t> body(f.header.body_bytes);
  if (absl::Status s = ReadExactly(body.data(), body.size()); !s.ok()) {
    return s;
  }
  if (BodyChecksum(body) != f.header.body_xxh3) {
    return absl::DataLossError("bad body checksum from the server");
  }
  Problem problem;
  if (!DecodeBody(f.header, body, &f.message, &problem)) {
    return absl::DataLossError(
        absl::StrCat("undecodable frame from the server: ", problem.message));
  }
  return f;
}

absl::Status RawConnection::ExpectClosed() {
  uint8_t byte;
  for (;;) {
    const ssize_t r = ::recv(fd_, &byte, 1, 0);
    if (r == 0) return absl::OkStatus();
    if (r > 0) {
      return absl::FailedPreconditionError(
          "a byte arrived where the connection should have closed");
    }
    if (errno == EINTR) continue;
    if (errno == ECONNRESET) return absl::OkStatus();
    return Errno("recv (waiting for close)");
  }
}

absl::StatusOr<HelloOk> RawConnection::Handshake(const std::string& token) {
  Hello hello;
  hello.auth_token = token;
  if (absl::Status s = Send(1, hello); !s.ok()) return s;
  auto f = ReadFrame();
  if (!f.ok()) return f.status();
  if (auto* e = std::get_if<Error>(&f->message)) {
    return absl::PermissionDeniedError(
        absl::StrCat(std::string(ErrorCodeName(e->code)), ": ", e->message));
  }
  if (auto* ok = std::get_if<HelloOk>(&f->message)) return *ok;
  return absl::DataLossError("expected hello_ok");
}

void RawConnection::ShutdownWrite() { ::shutdown(fd_, SHUT_WR); }

void RawConnection::SetReceiveBuffer(int bytes) {
  ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &bytes, sizeof bytes);
}

}  // namespace coffer::net

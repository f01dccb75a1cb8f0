// Connection, decode: bytes from the socket to checked frames.
#include <algorithm>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "boost/asio/post.hpp"
#include "boost/asio/write.hpp"
#include "net/auth.h"
#include "net/connection.h"
#include "net/connection_internal.h"

namespace coffer::net {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;
using connection_internal::KindName;
using connection_internal::kReadChunkBytes;

// ---- Reading
// -----------------------------------------------------------------

bool Connection::CanAdmit() const {
  if (state_ != State::kHandshake && state_ != State::kOpen) return false;
  // One request is always admitted when none is in flight, so a single
  // request larger than max_bytes_in_flight still makes progress.
  if (in_flight_ > 0 &&
      (in_flight_ >= shared_.config.max_requests_in_flight ||
       in_flight_bytes_ >= shared_.config.max_bytes_in_flight)) {
    return false;
  }
  return QueuedBytes() < shared_.config.max_write_queue_bytes;
}

void Connection::MaybeRead() {
  if (reading_ || read_eof_) return;
  if (state_ != State::kHandshake && state_ != State::kOpen) return;
  if (!CanAdmit()) {
    shared_.read_pauses.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  if (read_begin_ == read_end_) {
    read_begin_ = read_end_ = 0;
    if (read_buffer_.size() > kReadChunkBytes) {
      std::vector<uint8_t>(kReadChunkBytes).swap(read_buffer_);
    }
  }
  // Room for the whole frame being received (its size is known once its
  // header is in; CheckHeader already bounded it by max_body_bytes).
  size_t need = kHeaderBytes;
  if (read_end_ - read_begin_ >= kHeaderBytes) {
    need += std::min<size_t>(
        DecodeHeader(read_buffer_.data() + read_begin_).body_bytes,
        shared_.config.max_body_bytes);
  }
  need = std::max(need, std::min(kReadChunkBytes, read_buffer_.size()));
  if (read_buffer_.size() - read_begin_ < need ||
      read_end_ == read_buffer_.size()) {
    std::memmove(read_buffer_.data(), read_buffer_.data() + read_begin_,
                 read_end_ - read_begin_);
    read_end_ -= read_begin_;
    read_begin_ = 0;
  }
  if (read_buffer_.size() < need) {
    read_buffer_.resize(need);
    ServerShared::RaiseTo(shared_.read_buffer_bytes_max, need);
  }
  reading_ = true;
  socket_.async_read_some(
      asio::buffer(read_buffer_.data() + read_end_,
                   read_buffer_.size() - read_end_),
      [self = shared_from_this()](const boost::system::error_code& ec,
                                  size_t n) { self->OnRead(ec, n); });
}

void Connection::OnRead(const boost::system::error_code& ec, size_t n) {
  reading_ = false;
  if (state_ == State::kClosed) return;
  if (state_ == State::kLingering) {
    if (ec) {
      CloseNow();
    } else {
      LingerRead();
    }
    return;
  }
  if (ec == asio::error::eof) {
    read_eof_ = true;
  } else if (ec) {
    CloseNow();  // reset by peer, or aborted: nobody to answer
    return;
  } else {
    read_end_ += n;
    last_activity_ = Clock::now();
  }
  ProcessFrames();
  MaybeRead();
  TryFinish();
}

void Connection::ProcessFrames() {
  while (CanAdmit()) {
    const size_t have = read_end_ - read_begin_;
    if (have < kHeaderBytes) break;
    const uint8_t* p = read_buffer_.data() + read_begin_;
    const FrameHeader h = DecodeHeader(p);
    if (!CheckHeader(h)) return;
    if (have < kHeaderBytes + h.body_bytes) break;
    const std::span<const uint8_t> body(p + kHeaderBytes, h.body_bytes);
    read_begin_ += kHeaderBytes + h.body_bytes;
    frame_pending_ = false;  // the next frame gets its own clock
    frame_received_ns_ = SteadyNowNs();
    shared_.frames_received.fetch_add(1, std::memory_order_relaxed);
    if (!HandleFrame(h, body)) return;
  }
  if (read_begin_ == read_end_ && !reading_) read_begin_ = read_end_ = 0;
  NoteFramePending();
}

void Connection::NoteFramePending() {
  const size_t have = read_end_ - read_begin_;
  bool waiting_for_peer = false;
  // Only while the server wants the bytes: time spent at one of its own
  // bounds (not reading) is not the peer's.
  if (have > 0 && (state_ == State::kHandshake || state_ == State::kOpen) &&
      CanAdmit()) {
    waiting_for_peer =
        have < kHeaderBytes ||
        have < kHeaderBytes +
                   DecodeHeader(read_buffer_.data() + read_begin_).body_bytes;
  }
  if (!waiting_for_peer) {
    frame_pending_ = false;
    return;
  }
  if (frame_pending_) return;
  frame_pending_ = true;
  frame_started_ = Clock::now();
  const auto deadline =
      frame_started_ +
      std::chrono::milliseconds(shared_.config.frame_read_timeout_ms);
  if (deadline < timer_at_) ArmTimer(deadline);
}

// Checks what can be checked from the header alone, so that a bad or
// oversized frame is refused before its body is waited for.
bool Connection::CheckHeader(const FrameHeader& h) {
  if (h.magic != kMagic) {
    Fail(ErrorCode::kBadMagic, 0,
         absl::StrCat("bad magic 0x", absl::Hex(h.magic), ", expected 0x",
                      absl::Hex(kMagic)));
    return false;
  }
  const auto kind = static_cast<MessageKind>(h.kind);
  if (!IsKnownKind(h.kind) || !IsRequestKind(kind)) {
    Fail(ErrorCode::kUnknownKind, h.request_id,
         absl::StrCat("kind ", h.kind, " is not a request kind"));
    return false;
  }
  if (state_ == State::kHandshake && kind != MessageKind::kHello) {
    Fail(ErrorCode::kHandshakeRequired, h.request_id,
         absl::StrCat("the first frame must be hello, got ", KindName(h.kind)));
    return false;
  }
  if (state_ != State::kHandshake && kind == MessageKind::kHello) {
    Fail(ErrorCode::kUnexpectedKind, h.request_id, "hello after handshake");
    return false;
  }
  const uint16_t want_version =
      kind == MessageKind::kHello ? kHelloHeaderVersion : version_;
  if (h.version != want_version) {
    Fail(ErrorCode::kUnsupportedVersion, h.request_id,
         absl::StrCat("frame version ", h.version, ", this connection speaks ",
                      want_version));
    return false;
  }
  if (h.body_bytes > shared_.config.max_body_bytes) {
    Fail(ErrorCode::kFrameTooLarge, h.request_id,
         absl::StrCat("body_bytes ", h.body_bytes, " above max_body_bytes ",
                      shared_.config.max_body_bytes));
    return false;
  }
  Problem problem;
  if (!CheckLayout(h, &problem)) {
    Fail(problem.code, h.request_id, std::move(problem.message));
    return false;
  }
  return true;
}

}  // namespace coffer::net

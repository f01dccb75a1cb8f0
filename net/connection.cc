// Connection: its life cycle, closing and timers. The rest of its
// definition is split by job (net/connection_internal.h).
#include "net/connection.h"

#include <algorithm>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "boost/asio/post.hpp"
#include "boost/asio/write.hpp"
#include "net/auth.h"
#include "net/connection_internal.h"

namespace coffer::net {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;
using connection_internal::kLingerMax;
using connection_internal::kReadChunkBytes;

std::string TooManyConnectionsMessage(const ServerConfig& config) {
  return absl::StrCat("the server is at max_connections (",
                      config.max_connections, ")");
}

Connection::Connection(ServerShared& shared, asio::ip::tcp::socket socket,
                       bool refuse)
    : shared_(shared),
      socket_(std::move(socket)),
      timer_(socket_.get_executor()),
      retry_timer_(socket_.get_executor()),
      refuse_(refuse),
      stages_(shared.StagesFor(&socket_.get_executor().context())),
      inbox_(shared.InboxFor(&socket_.get_executor().context())) {
  if (refuse_) {
    shared_.refusals_lingering.fetch_add(1, std::memory_order_relaxed);
  } else {
    shared_.connections_open.fetch_add(1, std::memory_order_relaxed);
  }
}

Connection::~Connection() {
  if (refuse_) {
    shared_.refusals_lingering.fetch_sub(1, std::memory_order_relaxed);
  } else {
    shared_.connections_open.fetch_sub(1, std::memory_order_relaxed);
  }
  // Last: once removed, shutdown may tear the io threads down.
  shared_.Remove(this);
}

void Connection::Start() {
  asio::post(socket_.get_executor(),
             [self = shared_from_this()] { self->DoStart(); });
}

void Connection::Drain() {
  asio::post(socket_.get_executor(),
             [self = shared_from_this()] { self->DoDrain(); });
}

void Connection::Abort() {
  asio::post(socket_.get_executor(),
             [self = shared_from_this()] { self->CloseNow(); });
}

void Connection::DoStart() {
  if (started_) return;
  started_ = true;
  if (state_ == State::kClosed) return;  // aborted before it started
  last_activity_ = Clock::now();
  boost::system::error_code ec;
  socket_.set_option(asio::ip::tcp::no_delay(true), ec);
  if (ec) {
    CloseNow();
    return;
  }
  ArmTimer(last_activity_ +
           std::chrono::milliseconds(shared_.config.idle_timeout_ms));
  if (refuse_) {
    shared_.connections_refused.fetch_add(1, std::memory_order_relaxed);
    Fail(ErrorCode::kTooManyConnections, 0,
         TooManyConnectionsMessage(shared_.config),
         /*protocol_error=*/false);
    return;
  }
  read_buffer_.resize(kReadChunkBytes);
  if (drain_requested_ || shared_.draining.load(std::memory_order_acquire)) {
    DoDrain();
    return;
  }
  MaybeRead();
}

void Connection::DoDrain() {
  if (!started_) {
    drain_requested_ = true;  // DoStart drains
    return;
  }
  if (state_ != State::kHandshake && state_ != State::kOpen) return;
  state_ = State::kDraining;
  TryFinish();
}

void Connection::CloseNow() {
  if (state_ == State::kClosed) return;
  state_ = State::kClosed;
  ++timer_generation_;
  timer_.cancel();
  retry_timer_.cancel();
  // Requests never handed to the engine are dropped (never acknowledged).
  for (Slot* slot : submit_queue_) {
    --in_flight_;
    in_flight_bytes_ -= slot->cost_bytes;
    in_flight_ids_.erase(slot->request_id);
    ReleaseSlot(slot);
  }
  submit_queue_.clear();
  boost::system::error_code ignored;
  socket_.close(ignored);
}

// ---- Closing
// ----------------------------------------------------------------------

void Connection::Fail(ErrorCode code, uint64_t request_id, std::string message,
                      bool protocol_error) {
  if (state_ == State::kClosing || state_ == State::kLingering ||
      state_ == State::kClosed) {
    return;
  }
  if (protocol_error) {
    shared_.protocol_errors.fetch_add(1, std::memory_order_relaxed);
  }
  // Decoded requests not yet in the engine are dropped: never applied,
  // never acknowledged.
  for (Slot* slot : submit_queue_) {
    --in_flight_;
    in_flight_bytes_ -= slot->cost_bytes;
    in_flight_ids_.erase(slot->request_id);
    ReleaseSlot(slot);
  }
  submit_queue_.clear();
  state_ = State::kClosing;
  EncodeError(request_id, code, kErrorFlagClosing, message, out_, version_);
  shared_.replies_sent.fetch_add(1, std::memory_order_relaxed);
  MaybeWrite();
  TryFinish();
}

void Connection::TryFinish() {
  const bool flushed = !writing_ && out_.empty();
  switch (state_) {
    case State::kHandshake:
    case State::kOpen:
      if (!read_eof_ || in_flight_ > 0 || !CanAdmit()) return;
      // The peer closed its side and every complete frame was handled.
      if (read_end_ > read_begin_) {
        Fail(ErrorCode::kTruncatedFrame, 0,
             absl::StrCat("connection closed inside a frame (",
                          read_end_ - read_begin_, " bytes of it received)"));
      } else if (flushed) {
        CloseNow();
      }
      return;
    case State::kDraining:
      if (in_flight_ == 0 && flushed) {
        Fail(ErrorCode::kShuttingDown, 0,
             "the server is shutting down; requests not answered were not "
             "applied",
             /*protocol_error=*/false);
      }
      return;
    case State::kClosing:
      if (flushed) StartLinger();
      return;
    case State::kLingering:
    case State::kClosed:
      return;
  }
}

void Connection::StartLinger() {
  state_ = State::kLingering;
  boost::system::error_code ignored;
  socket_.shutdown(asio::ip::tcp::socket::shutdown_send, ignored);
  if (read_eof_) {
    CloseNow();
    return;
  }
  linger_deadline_ =
      Clock::now() + std::min<std::chrono::milliseconds>(
                         kLingerMax, std::chrono::milliseconds(
                                         shared_.config.idle_timeout_ms));
  ArmTimer(linger_deadline_);
  read_begin_ = read_end_ = 0;
  if (!reading_) LingerRead();
}

void Connection::LingerRead() {
  if (read_buffer_.empty()) read_buffer_.resize(kHeaderBytes);
  reading_ = true;
  socket_.async_read_some(
      asio::buffer(read_buffer_),
      [self = shared_from_this()](const boost::system::error_code& ec,
                                  size_t n) { self->OnRead(ec, n); });
}

// ---- Timer
// ------------------------------------------------------------------------

void Connection::ArmTimer(Clock::time_point at) {
  const uint64_t generation = ++timer_generation_;
  timer_at_ = at;
  timer_.expires_at(at);
  timer_.async_wait([self = shared_from_this(),
                     generation](const boost::system::error_code&) {
    if (generation == self->timer_generation_) self->OnTimer();
  });
}

void Connection::OnTimer() {
  if (state_ == State::kClosed) return;
  const auto now = Clock::now();
  if (state_ == State::kLingering) {
    if (now >= linger_deadline_) {
      CloseNow();
    } else {
      ArmTimer(linger_deadline_);
    }
    return;
  }
  const auto idle = std::chrono::milliseconds(shared_.config.idle_timeout_ms);
  const bool frame_timed =
      frame_pending_ && (state_ == State::kHandshake || state_ == State::kOpen);
  const auto frame_deadline =
      frame_started_ +
      std::chrono::milliseconds(shared_.config.frame_read_timeout_ms);
  if (frame_timed && now >= frame_deadline) {
    // A peer trickling a frame (slowloris) keeps last_activity_ fresh;
    // this bound does not move.
    shared_.frame_timeouts.fetch_add(1, std::memory_order_relaxed);
    Fail(ErrorCode::kIdleTimeout, 0,
         absl::StrCat("frame not complete after ",
                      shared_.config.frame_read_timeout_ms, " ms (",
                      read_end_ - read_begin_, " bytes of it received)"),
         /*protocol_error=*/false);
    ArmTimer(now + idle);
    return;
  }
  // While a frame deadline runs, the timer must fire by then too.
  auto next = [&](Clock::time_point at) {
    return frame_timed ? std::min(at, frame_deadline) : at;
  };
  const auto deadline = last_activity_ + idle;
  if (now < deadline) {
    ArmTimer(next(deadline));
    return;
  }
  if (writing_) {
    // The peer has not read a byte for idle_timeout_ms: it cannot be
    // answered, and its queued replies are all it can pin.
    shared_.stalled_write_closes.fetch_add(1, std::memory_order_relaxed);
    CloseNow();
    return;
  }
  if (in_flight_ > 0 || state_ == State::kClosing) {
    // Waiting for the engine, not for the peer (but a frame deadline that
    // has not passed yet still stands).
    ArmTimer(next(now + idle));
    return;
  }
  shared_.idle_closes.fetch_add(1, std::memory_order_relaxed);
  Fail(ErrorCode::kIdleTimeout, 0,
       absl::StrCat("no traffic for ", shared_.config.idle_timeout_ms, " ms"),
       /*protocol_error=*/false);
  ArmTimer(now + idle);
}

}  // namespace coffer::net

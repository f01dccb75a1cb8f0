#include "net/connection.h"

#include <algorithm>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "boost/asio/post.hpp"
#include "boost/asio/write.hpp"
#include "net/auth.h"

namespace coffer::net {
namespace {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

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

std::string KindName(uint16_t kind) {
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

}  // namespace

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

bool Connection::HandleFrame(const FrameHeader& h,
                             std::span<const uint8_t> body) {
  if (BodyChecksum(body) != h.body_xxh3) {
    Fail(ErrorCode::kBadChecksum, h.request_id,
         absl::StrCat("body checksum 0x", absl::Hex(BodyChecksum(body)),
                      " differs from header's 0x", absl::Hex(h.body_xxh3)));
    return false;
  }
  const auto kind = static_cast<MessageKind>(h.kind);
  if (kind == MessageKind::kHello) {
    HandleHello(h, body);
    return state_ == State::kOpen;
  }
  if (h.request_id == 0) {
    Fail(ErrorCode::kInvalidField, 0, "request_id 0 is reserved");
    return false;
  }
  if (in_flight_ids_.contains(h.request_id)) {
    Fail(ErrorCode::kDuplicateRequestId, h.request_id,
         absl::StrCat("request_id ", h.request_id, " is already in flight"));
    return false;
  }
  switch (kind) {
    case MessageKind::kPing:
      EncodeFrame(h.request_id, Pong{}, out_, version_);
      shared_.replies_sent.fetch_add(1, std::memory_order_relaxed);
      MaybeWrite();
      return true;
    case MessageKind::kStats:
      HandleStats(h.request_id);
      return true;
    case MessageKind::kStages:
      HandleStages(h.request_id);
      return true;
    default:
      HandleEngineRequest(h, body);
      return state_ == State::kOpen;
  }
}

void Connection::HandleHello(const FrameHeader& h,
                             std::span<const uint8_t> body) {
  Message m;
  Problem problem;
  if (!DecodeBody(h, body, &m, &problem)) {
    Fail(problem.code, h.request_id, std::move(problem.message));
    return;
  }
  const Hello& hello = std::get<Hello>(m);
  const uint16_t low = std::max(hello.min_version, kVersionMin);
  const uint16_t high = std::min(hello.max_version, kVersionMax);
  if (low > high) {
    Fail(ErrorCode::kUnsupportedVersion, h.request_id,
         absl::StrCat("client speaks versions ", hello.min_version, "..",
                      hello.max_version, ", server ", kVersionMin, "..",
                      kVersionMax));
    return;
  }
  if (!shared_.config.auth_token.empty() &&
      !ConstantTimeEquals(hello.auth_token, shared_.config.auth_token)) {
    Fail(ErrorCode::kAuthFailed, h.request_id, "wrong auth token");
    return;
  }
  version_ = high;
  state_ = State::kOpen;
  HelloOk ok = shared_.hello_ok;
  ok.version = version_;
  EncodeFrame(h.request_id, ok, out_, version_);
  shared_.replies_sent.fetch_add(1, std::memory_order_relaxed);
  MaybeWrite();
}

void Connection::HandleStats(uint64_t request_id) {
  StatsReply reply;
  reply.engine = shared_.engine->Stats();
  reply.server = shared_.Counters();
  EncodeFrame(request_id, reply, out_, version_);
  shared_.replies_sent.fetch_add(1, std::memory_order_relaxed);
  MaybeWrite();
}

void Connection::HandleStages(uint64_t request_id) {
  StagesReply reply;
  for (const StageSnapshot& s : shared_.Stages()) {
    const HistogramSnapshot& h = s.histogram;
    reply.stages.push_back({static_cast<uint16_t>(s.stage), h.count,
                            h.Quantile(0.50), h.Quantile(0.99),
                            h.Quantile(0.999), h.max});
  }
  EncodeFrame(request_id, reply, out_, version_);
  shared_.replies_sent.fetch_add(1, std::memory_order_relaxed);
  MaybeWrite();
}

void Connection::HandleEngineRequest(const FrameHeader& h,
                                     std::span<const uint8_t> body) {
  const auto kind = static_cast<MessageKind>(h.kind);
  uint64_t reply_bytes = kHeaderBytes;
  Slot* slot = nullptr;
  switch (kind) {
    case MessageKind::kOps:
    case MessageKind::kLookup: {
      if (h.count > shared_.ops_max) {
        Fail(ErrorCode::kInvalidField, h.request_id,
             absl::StrCat(KindName(h.kind), " count ", h.count,
                          " above max_ops_per_request ", shared_.ops_max));
        return;
      }
      slot = TakeSlot();
      if (kind == MessageKind::kOps) {
        slot->request.kind = RequestKind::kOps;
        DecodeOps(body, &slot->request.ops);
        reply_bytes += uint64_t{h.count} * kOpResultBytes;
      } else {
        slot->request.kind = RequestKind::kLookup;
        DecodeAccountIds(body, &slot->request.lookup_ids);
        reply_bytes +=
            kLookupReplyFixedBytes + uint64_t{h.count} * kAccountInfoBytes;
      }
      break;
    }
    case MessageKind::kHistory: {
      Message m;
      Problem problem;
      if (!DecodeBody(h, body, &m, &problem)) {
        Fail(problem.code, h.request_id, std::move(problem.message));
        return;
      }
      const HistoryRequest& q = std::get<HistoryRequest>(m);
      if (q.limit > shared_.history_limit_max) {
        Fail(ErrorCode::kInvalidField, h.request_id,
             absl::StrCat("history limit ", q.limit, " above ",
                          shared_.history_limit_max));
        return;
      }
      slot = TakeSlot();
      slot->request.kind = RequestKind::kHistory;
      slot->request.history_account = q.account_id;
      slot->request.history_before = q.before;
      slot->request.history_limit = q.limit;
      reply_bytes +=
          kHistoryReplyFixedBytes + uint64_t{q.limit} * kHistoryEntryBytes;
      break;
    }
    case MessageKind::kDigest:
      slot = TakeSlot();
      slot->request.kind = RequestKind::kDigest;
      reply_bytes += kDigestReplyFixedBytes + kDigestReplyEstimateBytes;
      break;
    default:
      Fail(ErrorCode::kUnknownKind, h.request_id,
           absl::StrCat("kind ", h.kind, " is not a request kind"));
      return;
  }
  slot->request_id = h.request_id;
  slot->request.received_ns = frame_received_ns_;
  slot->cost_bytes =
      kHeaderBytes + h.body_bytes + reply_bytes + kRequestOverheadBytes;
  slot->first_try = Clock::now();
  ++in_flight_;
  in_flight_bytes_ += slot->cost_bytes;
  in_flight_ids_.insert(h.request_id);
  ServerShared::RaiseTo(shared_.requests_in_flight_max, in_flight_);
  ServerShared::RaiseTo(shared_.bytes_in_flight_max, in_flight_bytes_);
  // Requests reach the engine in the order they arrived: a new one waits
  // behind any that are waiting for queue space.
  submit_queue_.push_back(slot);
  if (!retry_armed_) SubmitQueued();
}

// ---- Engine hand-off
// -------------------------------------------------------------

Connection::Slot* Connection::TakeSlot() {
  if (!free_slots_.empty()) {
    Slot* s = free_slots_.back();
    free_slots_.pop_back();
    return s;
  }
  slots_.push_back(std::make_unique<Slot>());
  Slot* s = slots_.back().get();
  // Runs on an engine thread: no I/O here, only a hand-off to this
  // connection's io thread, batched with the other completions of the same
  // pass (net/reply_inbox.h). The slot's keep_alive keeps the connection
  // alive until RunCompletion takes it.
  ReplyInbox* inbox = inbox_;
  s->request.on_complete = [s, inbox](Request&) {
    inbox->Push({&Connection::RunCompletion, s});
  };
  return s;
}

void Connection::RunCompletion(void* arg) {
  Slot* s = static_cast<Slot*>(arg);
  std::shared_ptr<Connection> self = std::move(s->keep_alive);
  self->OnEngineDone(s);
}

void Connection::ReleaseSlot(Slot* slot) {
  Request& r = slot->request;
  ShrinkIfLarge(r.ops);
  ShrinkIfLarge(r.results);
  ShrinkIfLarge(r.lookup_ids);
  ShrinkIfLarge(r.accounts);
  ShrinkIfLarge(r.history);
  ShrinkIfLarge(r.currency_totals);
  r.history_account = 0;
  r.history_before = 0;
  r.history_next_before = 0;
  r.history_found = false;
  r.digest = {};
  r.seq = 0;
  if (free_slots_.size() < kFreeSlotsKept) {
    free_slots_.push_back(slot);
    return;
  }
  auto it = std::find_if(slots_.begin(), slots_.end(),
                         [slot](const auto& s) { return s.get() == slot; });
  std::iter_swap(it, slots_.end() - 1);
  slots_.pop_back();
}

void Connection::SubmitQueued() {
  while (!submit_queue_.empty()) {
    Slot* slot = submit_queue_.front();
    slot->keep_alive = shared_from_this();
    const SubmitResult r = shared_.TrySubmit(&slot->request);
    if (r == SubmitResult::kAccepted) {
      submit_queue_.pop_front();
      retry_delay_ = std::chrono::microseconds(0);
      continue;
    }
    slot->keep_alive.reset();
    if (r == SubmitResult::kQueueFull) {
      shared_.submit_retries.fetch_add(1, std::memory_order_relaxed);
      if (Clock::now() - slot->first_try <
          std::chrono::milliseconds(shared_.config.submit_retry_ms)) {
        ArmRetry();
        return;
      }
    }
    // Answered here, not applied: busy (queue stayed full), shutting down
    // (engine closed), or internal (the engine refused the request's shape,
    // which the checks above should make impossible).
    submit_queue_.pop_front();
    --in_flight_;
    in_flight_bytes_ -= slot->cost_bytes;
    in_flight_ids_.erase(slot->request_id);
    const uint64_t id = slot->request_id;
    ReleaseSlot(slot);
    switch (r) {
      case SubmitResult::kQueueFull:
        shared_.busy_replies.fetch_add(1, std::memory_order_relaxed);
        EncodeError(id, ErrorCode::kBusy, 0,
                    absl::StrCat("engine queue full for ",
                                 shared_.config.submit_retry_ms,
                                 " ms; not applied, retry"),
                    out_, version_);
        break;
      case SubmitResult::kClosed:
        Fail(ErrorCode::kShuttingDown, id, "the engine is shutting down",
             /*protocol_error=*/false);
        return;
      default:
        EncodeError(id, ErrorCode::kInternal, 0,
                    absl::StrCat("engine refused the request (",
                                 static_cast<int>(r), "); not applied"),
                    out_, version_);
        break;
    }
    shared_.replies_sent.fetch_add(1, std::memory_order_relaxed);
    MaybeWrite();
  }
}

void Connection::ArmRetry() {
  retry_armed_ = true;
  retry_delay_ = retry_delay_.count() == 0
                     ? kRetryFirst
                     : std::min(retry_delay_ * 2, kRetryMax);
  retry_timer_.expires_after(retry_delay_);
  retry_timer_.async_wait(
      [self = shared_from_this()](const boost::system::error_code& ec) {
        self->retry_armed_ = false;
        if (ec || self->state_ == State::kClosed) return;
        self->SubmitQueued();
        self->ProcessFrames();
        self->MaybeWrite();
        self->MaybeRead();
        self->TryFinish();
      });
}

void Connection::OnEngineDone(Slot* slot) {
  --in_flight_;
  in_flight_bytes_ -= slot->cost_bytes;
  in_flight_ids_.erase(slot->request_id);
  if (state_ == State::kOpen || state_ == State::kDraining) {
    EncodeReply(*slot);
    shared_.replies_sent.fetch_add(1, std::memory_order_relaxed);
    if (stages_ != nullptr && slot->request.released_ns != 0) {
      out_stamps_.push_back(
          {slot->request.received_ns, slot->request.released_ns});
    }
  }
  ReleaseSlot(slot);
  if (state_ == State::kClosed) return;
  ProcessFrames();
  MaybeWrite();
  MaybeRead();
  TryFinish();
}

void Connection::EncodeReply(Slot& slot) {
  const Request& r = slot.request;
  switch (r.kind) {
    case RequestKind::kOps:
      EncodeOpsReply(slot.request_id, r.results, out_, version_);
      break;
    case RequestKind::kLookup:
      EncodeLookupReply(slot.request_id, r.seq, r.accounts, out_, version_);
      break;
    case RequestKind::kHistory:
      EncodeHistoryReply(slot.request_id, r.seq, r.history_next_before,
                         r.history_found, r.history, out_, version_);
      break;
    case RequestKind::kDigest:
      EncodeDigestReply(slot.request_id, r.seq, r.digest, r.currency_totals,
                        out_, version_);
      break;
    default:
      EncodeError(slot.request_id, ErrorCode::kInternal, 0,
                  "unexpected request kind", out_, version_);
      break;
  }
  ServerShared::RaiseTo(shared_.write_queue_bytes_max, QueuedBytes());
}

// ---- Writing
// --------------------------------------------------------------------

void Connection::MaybeWrite() {
  if (writing_ || out_.empty() || state_ == State::kClosed ||
      state_ == State::kLingering) {
    return;
  }
  writing_ = true;
  writing_bytes_.swap(out_);
  out_.clear();
  writing_stamps_.swap(out_stamps_);
  out_stamps_.clear();
  asio::async_write(
      socket_, asio::buffer(writing_bytes_),
      [self = shared_from_this()](const boost::system::error_code& ec, size_t) {
        self->OnWrite(ec);
      });
}

void Connection::OnWrite(const boost::system::error_code& ec) {
  writing_ = false;
  if (state_ == State::kClosed) return;
  if (ec) {
    CloseNow();
    return;
  }
  last_activity_ = Clock::now();
  RecordWritten();
  // Keep the capacity of a normal-sized buffer; free a large one.
  if (writing_bytes_.capacity() > shared_.config.max_write_queue_bytes) {
    std::vector<uint8_t>().swap(writing_bytes_);
  } else {
    writing_bytes_.clear();
  }
  MaybeWrite();
  ProcessFrames();
  MaybeRead();
  TryFinish();
}

void Connection::RecordWritten() {
  if (writing_stamps_.empty()) return;
  // One clock read for every reply the write carried.
  const uint64_t written_ns = SteadyNowNs();
  for (const ReplyStamp& s : writing_stamps_) {
    stages_->released_written_ns.RecordInterval(s.released_ns, written_ns);
    if (s.received_ns != 0) {
      stages_->total_ns.RecordInterval(s.received_ns, written_ns);
    }
  }
  writing_stamps_.clear();
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

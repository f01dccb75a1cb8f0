#include "net/client.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <deque>
#include <future>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "absl/strings/str_cat.h"
#include "boost/asio/connect.hpp"
#include "boost/asio/executor_work_guard.hpp"
#include "boost/asio/io_context.hpp"
#include "boost/asio/ip/tcp.hpp"
#include "boost/asio/post.hpp"
#include "boost/asio/steady_timer.hpp"
#include "boost/asio/write.hpp"
#include "net/protocol.h"

namespace coffer::net {
namespace {

namespace asio = boost::asio;
using asio::ip::tcp;

constexpr size_t kReadChunkBytes = 64 << 10;
constexpr std::chrono::milliseconds kBackoffMax{1000};

MessageKind ReplyKindOf(MessageKind request) {
  return static_cast<MessageKind>(static_cast<uint16_t>(request) | kReplyBit);
}

// A copy of `s` that shares nothing with it. A status handed to a caller
// may end its life on another thread; sharing the reference-counted rep
// would be correct, but the count lives in Abseil's uninstrumented shared
// library, so ThreadSanitizer could not see its synchronization.
absl::Status Detached(const absl::Status& s) {
  return absl::Status(s.code(), s.message());
}

uint64_t SystemClockNs() {
  return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(
          std::chrono::system_clock::now().time_since_epoch())
          .count());
}

std::string ErrorText(const Error& e) {
  return absl::StrCat(std::string(ErrorCodeName(e.code)), ": ", e.message);
}

}  // namespace

struct Client::Impl {
  // One TCP connection; a reconnect makes a new one. Handlers hold the
  // Conn they were started for and do nothing once it is not current.
  struct Conn {
    explicit Conn(asio::io_context& io) : socket(io) {}
    tcp::socket socket;
    std::vector<uint8_t> out;      // frames waiting for the socket
    std::vector<uint8_t> writing;  // frames on the wire
    bool write_in_progress = false;
    std::vector<uint8_t> read_buffer = std::vector<uint8_t>(kReadChunkBytes);
    size_t read_begin = 0;
    size_t read_end = 0;
    bool ready = false;  // HELLO_OK received
    uint64_t hello_id = 0;
    uint16_t version = kVersionMin;  // agreed in HELLO_OK
  };

  struct Pending {
    MessageKind reply_kind;
    Message request;
    // Encoded for the connection's version when first sent, then resent
    // verbatim (same op ids, same issue time); encoded again only for a
    // connection of another version (a server upgraded or rolled back).
    std::vector<uint8_t> frame;
    uint16_t frame_version = 0;
    Done done;
    uint32_t busy_retries = 0;
    uint64_t sends = 0;       // bumps on every (re)send; stale retries skip
    bool from_queue = false;  // holds one of the frames_in_flight slots
  };

  // A call waiting for a slot (coalesce_ops).
  struct Queued {
    Message request;
    Done done;
    uint32_t weight = 1;  // its ops, at least 1: what queued_ops_max counts
    // An ops call that brought its own issue time (an application's retry):
    // it goes in a frame of its own, since a merged frame carries its
    // oldest call's time, and an old time would make the fresh calls beside
    // it answer op_expired.
    bool alone = false;
  };

  explicit Impl(ClientOptions o)
      : options(std::move(o)), work(asio::make_work_guard(io)) {
    thread = std::thread([this] { io.run(); });
  }

  ~Impl() {
    asio::post(io, [this] { Close(); });
    work.reset();
    thread.join();
  }

  // ---- Everything below runs on the client's thread. ----

  void Close() {
    closed = true;
    resolver.cancel();
    if (conn) Drop(conn);
    connect_timer.cancel();
    reconnect_timer.cancel();
    for (auto& t : retry_timers) t->cancel();
    FailAll(absl::CancelledError("client closed"));
    FailQueued(absl::CancelledError("client closed"), /*close=*/true);
  }

  void Submit(Message request, Done done, bool from_queue = false) {
    if (closed) {
      done(absl::CancelledError("client closed"));
      return;
    }
    const uint64_t id = next_id++;
    Pending p;
    p.reply_kind = ReplyKindOf(KindOf(request));
    p.request = std::move(request);
    p.done = std::move(done);
    p.from_queue = from_queue;
    if (from_queue) ++frames_in_flight;
    auto [it, inserted] = pending.emplace(id, std::move(p));
    if (conn && conn->ready) {
      if (!FailUnsendable(it)) SendFrame(id, it->second);
    } else if (!conn && !reconnect_pending) {
      attempts_left = options.reconnect_attempts;
      StartConnect();
    }
  }

  void SendFrame(uint64_t id, Pending& p) {
    if (p.frame.empty() || p.frame_version != conn->version) {
      p.frame.clear();
      EncodeFrame(id, p.request, p.frame, conn->version);
      p.frame_version = conn->version;
    }
    ++p.sends;
    conn->out.insert(conn->out.end(), p.frame.begin(), p.frame.end());
    MaybeWrite(conn);
  }

  void StartConnect() {
    auto c = std::make_shared<Conn>(io);
    conn = c;
    connect_timer.expires_after(
        std::chrono::milliseconds(options.connect_timeout_ms));
    connect_timer.async_wait([this, c](const boost::system::error_code& ec) {
      if (ec || c != conn || c->ready) return;
      Lost(c, absl::DeadlineExceededError(
                  absl::StrCat("connecting to ", options.host, ":",
                               options.port, " timed out")));
    });
    resolver.async_resolve(
        options.host, std::to_string(options.port),
        [this, c](const boost::system::error_code& ec,
                  tcp::resolver::results_type results) {
          if (c != conn) return;
          if (ec) {
            Lost(c, absl::UnavailableError(absl::StrCat(
                        "resolve ", options.host, ": ", ec.message())));
            return;
          }
          asio::async_connect(
              c->socket, results,
              [this, c](const boost::system::error_code& ec,
                        const tcp::endpoint&) { OnConnected(c, ec); });
        });
  }

  void OnConnected(const std::shared_ptr<Conn>& c,
                   const boost::system::error_code& ec) {
    if (c != conn) return;
    if (ec) {
      Lost(c, absl::UnavailableError(absl::StrCat("connect ", options.host, ":",
                                                  options.port, ": ",
                                                  ec.message())));
      return;
    }
    boost::system::error_code ignored;
    c->socket.set_option(tcp::no_delay(true), ignored);
    Hello hello;
    hello.max_version = options.version_max;
    hello.auth_token = options.auth_token;
    c->hello_id = next_id++;
    EncodeFrame(c->hello_id, hello, c->out);
    MaybeWrite(c);
    Read(c);
  }

  void MaybeWrite(const std::shared_ptr<Conn>& c) {
    if (c->write_in_progress || c->out.empty()) return;
    c->write_in_progress = true;
    c->writing.swap(c->out);
    c->out.clear();
    asio::async_write(c->socket, asio::buffer(c->writing),
                      [this, c](const boost::system::error_code& ec, size_t) {
                        c->write_in_progress = false;
                        if (c != conn) return;
                        if (ec) {
                          Lost(c, absl::UnavailableError(
                                      absl::StrCat("write: ", ec.message())));
                          return;
                        }
                        c->writing.clear();
                        MaybeWrite(c);
                      });
  }

  void Read(const std::shared_ptr<Conn>& c) {
    if (c->read_begin == c->read_end) c->read_begin = c->read_end = 0;
    size_t need = kHeaderBytes;
    if (c->read_end - c->read_begin >= kHeaderBytes) {
      need += DecodeHeader(c->read_buffer.data() + c->read_begin).body_bytes;
    }
    need = std::max(need, kReadChunkBytes);
    if (c->read_buffer.size() - c->read_begin < need ||
        c->read_end == c->read_buffer.size()) {
      std::memmove(c->read_buffer.data(), c->read_buffer.data() + c->read_begin,
                   c->read_end - c->read_begin);
      c->read_end -= c->read_begin;
      c->read_begin = 0;
    }
    if (c->read_buffer.size() < need) c->read_buffer.resize(need);
    c->socket.async_read_some(
        asio::buffer(c->read_buffer.data() + c->read_end,
                     c->read_buffer.size() - c->read_end),
        [this, c](const boost::system::error_code& ec, size_t n) {
          if (c != conn) return;
          if (ec) {
            Lost(c, absl::UnavailableError(
                        ec == asio::error::eof
                            ? std::string("server closed the connection")
                            : absl::StrCat("read: ", ec.message())));
            return;
          }
          c->read_end += n;
          const bool keep_reading = ParseFrames(c) && c == conn;
          // Once per read, not per reply: the slots these replies freed
          // take everything queued meanwhile, in as few frames as fit.
          Pump();
          if (keep_reading) Read(c);
        });
  }

  // False when the connection was dropped.
  bool ParseFrames(const std::shared_ptr<Conn>& c) {
    for (;;) {
      const size_t have = c->read_end - c->read_begin;
      if (have < kHeaderBytes) return true;
      const uint8_t* p = c->read_buffer.data() + c->read_begin;
      const FrameHeader h = DecodeHeader(p);
      if (h.magic != kMagic || h.body_bytes > kReplyBodyBytesMax) {
        Lost(c, absl::InternalError("malformed frame from the server"));
        return false;
      }
      if (have < kHeaderBytes + h.body_bytes) return true;
      const std::span<const uint8_t> body(p + kHeaderBytes, h.body_bytes);
      Message m;
      Problem problem;
      if (BodyChecksum(body) != h.body_xxh3 ||
          !DecodeBody(h, body, &m, &problem)) {
        Lost(c, absl::InternalError(absl::StrCat("bad frame from the server: ",
                                                 problem.message)));
        return false;
      }
      c->read_begin += kHeaderBytes + h.body_bytes;
      if (!Dispatch(c, h.request_id, std::move(m))) return false;
    }
  }

  // False when the connection was dropped.
  bool Dispatch(const std::shared_ptr<Conn>& c, uint64_t id, Message m) {
    if (auto* e = std::get_if<Error>(&m)) return OnError(c, id, *e);
    if (!c->ready) {
      auto* ok = std::get_if<HelloOk>(&m);
      if (ok == nullptr || id != c->hello_id) {
        Lost(c, absl::InternalError("expected hello_ok"));
        return false;
      }
      OnReady(c, *ok);
      return true;
    }
    auto it = pending.find(id);
    if (it == pending.end()) return true;  // answer to a request given up
    if (KindOf(m) != it->second.reply_kind) {
      Lost(c, absl::InternalError(absl::StrCat(
                  "reply of kind ", std::string(MessageKindName(KindOf(m))),
                  " to a request expecting ",
                  std::string(MessageKindName(it->second.reply_kind)))));
      return false;
    }
    Take(it)(std::move(m));
    return true;
  }

  void OnReady(const std::shared_ptr<Conn>& c, const HelloOk& ok) {
    if (ok.version < kVersionMin || ok.version > options.version_max) {
      Lost(c, absl::InternalError(
                  absl::StrCat("the server chose protocol version ", ok.version,
                               ", this client asked for ", kVersionMin, "..",
                               options.version_max)));
      return;
    }
    c->ready = true;
    c->version = ok.version;
    connect_timer.cancel();
    {
      std::lock_guard<std::mutex> lock(info_mu);
      info = ok;
    }
    server_frames_in_flight_max = ok.max_requests_in_flight;
    server_ops_per_request_max = ok.max_ops_per_request;
    server_body_bytes_max = ok.max_body_bytes;
    if (ever_connected) reconnects.fetch_add(1, std::memory_order_relaxed);
    ever_connected = true;
    attempts_left = options.reconnect_attempts;
    backoff = std::chrono::milliseconds(options.reconnect_backoff_ms);
    if (first_connect) std::exchange(first_connect, nullptr)(absl::OkStatus());
    // Everything unanswered goes again, oldest first, with the same bytes
    // (re-encoded only for a server of another version).
    for (auto it = pending.begin(); it != pending.end();) {
      auto next = std::next(it);
      if (!FailUnsendable(it)) SendFrame(it->first, it->second);
      it = next;
    }
  }

  // A request this connection's version cannot carry fails (true) rather
  // than go without what it asks: a filtered history on version 1.
  bool FailUnsendable(std::map<uint64_t, Pending>::iterator it) {
    const auto* h = std::get_if<HistoryRequest>(&it->second.request);
    if (h == nullptr || !h->filter.Any() ||
        conn->version >= kVersionIssueTime) {
      return false;
    }
    Finish(it, absl::FailedPreconditionError(absl::StrCat(
                   "history filters need protocol version ", kVersionIssueTime,
                   "; the server speaks ", conn->version)));
    return true;
  }

  bool OnError(const std::shared_ptr<Conn>& c, uint64_t id, const Error& e) {
    if (!c->ready) {
      absl::Status s;
      switch (e.code) {
        case ErrorCode::kAuthFailed:
          s = absl::PermissionDeniedError(ErrorText(e));
          break;
        case ErrorCode::kUnsupportedVersion:
          s = absl::FailedPreconditionError(ErrorText(e));
          break;
        default:
          s = absl::UnavailableError(ErrorText(e));
          break;
      }
      // Auth and version refusals will not change on retry.
      const bool permanent = !absl::IsUnavailable(s);
      if (permanent) attempts_left = 0;
      Lost(c, s);
      return false;
    }
    auto it = id == 0 ? pending.end() : pending.find(id);
    if (it == pending.end()) {
      // About the connection (shutting_down, idle_timeout): it closes
      // next; what is unanswered is resent after reconnecting.
      last_error = ErrorText(e);
      return true;
    }
    Pending& p = it->second;
    switch (e.code) {
      case ErrorCode::kBusy:
        if (p.busy_retries < options.busy_retries) {
          ScheduleBusyRetry(id, p);
          return true;
        }
        Finish(it, absl::ResourceExhaustedError(ErrorText(e)));
        return true;
      case ErrorCode::kShuttingDown:
        last_error = ErrorText(e);
        return true;  // resent after reconnecting
      case ErrorCode::kInternal:
        Finish(it, absl::InternalError(ErrorText(e)));
        return true;
      case ErrorCode::kBackupFailed:
        // The message says why: the destination, another backup, an I/O
        // error. Nothing was published.
        Finish(it, absl::FailedPreconditionError(ErrorText(e)));
        return true;
      default:
        // The server refused this frame; sending it again would not help.
        Finish(it, absl::InvalidArgumentError(ErrorText(e)));
        return true;
    }
  }

  void ScheduleBusyRetry(uint64_t id, Pending& p) {
    const auto delay = std::min<std::chrono::milliseconds>(
        kBackoffMax,
        std::chrono::milliseconds(uint64_t{options.busy_backoff_ms}
                                  << std::min<uint32_t>(p.busy_retries, 10)));
    ++p.busy_retries;
    auto timer = std::make_shared<asio::steady_timer>(io, delay);
    retry_timers.insert(timer);
    timer->async_wait([this, timer, id,
                       sends = p.sends](const boost::system::error_code& ec) {
      retry_timers.erase(timer);
      if (ec || closed) return;
      auto it = pending.find(id);
      // A reconnect in between has resent it already.
      if (it == pending.end() || it->second.sends != sends) return;
      if (conn && conn->ready) SendFrame(id, it->second);
    });
  }

  void Finish(std::map<uint64_t, Pending>::iterator it, absl::Status s) {
    Take(it)(std::move(s));
  }

  // Removes an answered request, freeing its slot; returns its callback.
  Done Take(std::map<uint64_t, Pending>::iterator it) {
    Done done = std::move(it->second.done);
    if (it->second.from_queue) --frames_in_flight;
    pending.erase(it);
    return done;
  }

  void Drop(const std::shared_ptr<Conn>& c) {
    boost::system::error_code ignored;
    c->socket.close(ignored);
    if (conn == c) conn.reset();
  }

  void Lost(const std::shared_ptr<Conn>& c, absl::Status why) {
    if (c != conn) return;
    Drop(c);
    connect_timer.cancel();
    if (!last_error.empty() && absl::IsUnavailable(why)) {
      why = absl::Status(why.code(),
                         absl::StrCat(why.message(), " (", last_error, ")"));
    }
    last_error.clear();
    if (first_connect) {
      std::exchange(first_connect, nullptr)(Detached(why));
      FailAll(why);
      return;
    }
    if (closed || pending.empty()) return;  // reconnect when next needed
    if (attempts_left == 0) {
      // Calls still queued would only start another round of attempts
      // against a server that stayed away: they fail with the rest.
      FailAll(why);
      FailQueued(why, /*close=*/false);
      return;
    }
    --attempts_left;
    reconnect_pending = true;
    reconnect_timer.expires_after(backoff);
    backoff = std::min(backoff * 2, kBackoffMax);
    reconnect_timer.async_wait([this](const boost::system::error_code& ec) {
      reconnect_pending = false;
      if (ec || closed || conn) return;
      if (pending.empty()) return;
      StartConnect();
    });
  }

  void FailAll(const absl::Status& why) {
    auto all = std::move(pending);
    pending.clear();
    frames_in_flight = 0;
    for (auto& [id, p] : all) p.done(Detached(why));
  }

  // ---- The queue of calls waiting for a slot (coalesce_ops). ----

  // Any thread. Never blocks on the connection: queues the call, and asks
  // the client's thread to pump unless a pump is already due.
  void Enqueue(Message request, Done done, bool alone) {
    const auto* ops = std::get_if<OpsRequest>(&request);
    const uint32_t weight = std::max<uint32_t>(
        1, ops == nullptr ? 0 : static_cast<uint32_t>(ops->ops.size()));
    absl::Status refused;
    bool post = false;
    {
      std::lock_guard<std::mutex> lock(queue_mu);
      if (queue_closed) {
        refused = absl::CancelledError("client closed");
      } else if (queued_weight > 0 &&
                 queued_weight + weight > options.queued_ops_max) {
        refused = absl::ResourceExhaustedError(absl::StrCat(
            "client queue full: ", queued_weight, " ops waiting, at most ",
            options.queued_ops_max, " (queued_ops_max); not sent"));
      } else {
        queue.push_back(
            Queued{std::move(request), std::move(done), weight, alone});
        queued_weight += weight;
        queued_ops_now.store(queued_weight, std::memory_order_relaxed);
        post = !pump_due;
        pump_due = true;
      }
    }
    if (!refused.ok()) {
      // Callbacks run on the client's thread, refusals included.
      asio::post(io, [done = std::move(done), refused] { done(refused); });
      return;
    }
    if (post) asio::post(io, [this] { Pump(); });
  }

  uint32_t FrameSlots() const {
    uint32_t slots = std::max<uint32_t>(1, server_frames_in_flight_max);
    if (options.ops_frames_in_flight_max != 0) {
      slots = std::min(slots, options.ops_frames_in_flight_max);
    }
    return slots;
  }

  // Most ops one frame may carry: the server's two limits (a version 2
  // body begins with the issue time).
  uint32_t FrameOpsMax() const {
    const uint32_t record_bytes_max =
        server_body_bytes_max -
        std::min<uint32_t>(server_body_bytes_max, kOpsFixedBytesV2);
    return std::max<uint32_t>(1,
                              std::min<uint32_t>(server_ops_per_request_max,
                                                 record_bytes_max / kOpBytes));
  }

  // A call that may share a frame: ops that fit one, and no open chain at
  // the end (the next call's first op would close it).
  static bool Mergeable(const Queued& q, uint32_t frame_ops_max) {
    const auto* r = std::get_if<OpsRequest>(&q.request);
    return r != nullptr && !q.alone && !r->ops.empty() &&
           r->ops.size() <= frame_ops_max &&
           (r->ops.back().flags & kOpFlagLinked) == 0;
  }

  // Client thread. Fills every free slot from the queue, oldest call first.
  void Pump() {
    if (closed || !options.coalesce_ops) return;
    std::vector<std::vector<Queued>> frames;
    const uint32_t slots = FrameSlots();
    const uint32_t frame_ops_max = FrameOpsMax();
    {
      std::lock_guard<std::mutex> lock(queue_mu);
      while (!queue.empty() && frames_in_flight + frames.size() < slots) {
        std::vector<Queued>& f = frames.emplace_back();
        uint32_t ops = 0;
        do {
          ops += queue.front().weight;
          queued_weight -= queue.front().weight;
          f.push_back(std::move(queue.front()));
          queue.pop_front();
        } while (!queue.empty() && Mergeable(f.front(), frame_ops_max) &&
                 Mergeable(queue.front(), frame_ops_max) &&
                 ops + queue.front().weight <= frame_ops_max);
      }
      queued_ops_now.store(queued_weight, std::memory_order_relaxed);
      // Left behind only for want of a slot: the reply that frees one
      // pumps again, so callers need not post.
      pump_due = !queue.empty();
    }
    for (std::vector<Queued>& f : frames) SubmitFrame(std::move(f));
  }

  // One frame for `calls`: a lone call as it is, several merged.
  void SubmitFrame(std::vector<Queued> calls) {
    frames_made.fetch_add(1, std::memory_order_relaxed);
    calls_framed.fetch_add(calls.size(), std::memory_order_relaxed);
    if (calls.size() == 1) {
      Submit(std::move(calls[0].request), std::move(calls[0].done),
             /*from_queue=*/true);
      return;
    }
    OpsRequest merged;
    merged.issued_ns = UINT64_MAX;
    std::vector<std::pair<uint32_t, Done>> parts;  // ops of each call
    parts.reserve(calls.size());
    for (Queued& q : calls) {
      const OpsRequest& call = std::get<OpsRequest>(q.request);
      const std::vector<Op>& ops = call.ops;
      // The oldest call's time is true of every op in the frame: each was
      // first issued at or after it (engine/DESIGN.md "Exactly once").
      merged.issued_ns = std::min(merged.issued_ns, call.issued_ns);
      merged.ops.insert(merged.ops.end(), ops.begin(), ops.end());
      parts.emplace_back(static_cast<uint32_t>(ops.size()), std::move(q.done));
    }
    const size_t total = merged.ops.size();
    Submit(
        std::move(merged),
        [parts = std::move(parts), total](absl::StatusOr<Message> m) {
          Split(parts, total, std::move(m));
        },
        /*from_queue=*/true);
  }

  // Each call of a merged frame gets its own slice of the reply, or the
  // frame's error.
  static void Split(const std::vector<std::pair<uint32_t, Done>>& parts,
                    size_t total, absl::StatusOr<Message> m) {
    if (m.ok() && std::get<OpsReply>(*m).results.size() != total) {
      m = absl::InternalError(absl::StrCat(
          "the server answered ", std::get<OpsReply>(*m).results.size(),
          " results to ", total, " ops"));
    }
    if (!m.ok()) {
      for (const auto& [n, done] : parts) done(Detached(m.status()));
      return;
    }
    const std::vector<OpResult>& all = std::get<OpsReply>(*m).results;
    size_t at = 0;
    for (const auto& [n, done] : parts) {
      done(OpsReply{
          std::vector<OpResult>(all.begin() + at, all.begin() + at + n)});
      at += n;
    }
  }

  // Client thread. Fails every queued call; `close`: and refuses new ones.
  void FailQueued(const absl::Status& why, bool close) {
    std::deque<Queued> calls;
    {
      std::lock_guard<std::mutex> lock(queue_mu);
      calls.swap(queue);
      queued_weight = 0;
      queued_ops_now.store(0, std::memory_order_relaxed);
      pump_due = false;
      if (close) queue_closed = true;
    }
    for (Queued& q : calls) q.done(Detached(why));
  }

  ClientOptions options;
  asio::io_context io{1};
  asio::executor_work_guard<asio::io_context::executor_type> work;
  tcp::resolver resolver{io};
  asio::steady_timer connect_timer{io};
  asio::steady_timer reconnect_timer{io};
  std::set<std::shared_ptr<asio::steady_timer>> retry_timers;
  std::shared_ptr<Conn> conn;
  std::map<uint64_t, Pending> pending;  // by request id: resend order
  uint64_t next_id = 1;
  bool closed = false;
  bool ever_connected = false;
  bool reconnect_pending = false;
  uint32_t attempts_left = 0;
  std::chrono::milliseconds backoff{20};
  std::string last_error;  // the server's last connection-level ERROR
  std::function<void(absl::Status)> first_connect;

  // Client thread: the limits of the last HELLO_OK and the slots in use.
  uint32_t server_frames_in_flight_max = 1;
  uint32_t server_ops_per_request_max = 1;
  uint32_t server_body_bytes_max = kOpBytes;
  uint32_t frames_in_flight = 0;  // pending requests that came from queue

  // The queue of calls waiting for a slot; callers add, the client's
  // thread takes. Bounded by options.queued_ops_max (Enqueue).
  std::mutex queue_mu;
  std::deque<Queued> queue;    // guarded by queue_mu
  uint64_t queued_weight = 0;  // guarded by queue_mu
  bool pump_due = false;       // guarded: a Pump will run; do not post
  bool queue_closed = false;   // guarded
  std::atomic<uint64_t> queued_ops_now{0};
  std::atomic<uint64_t> frames_made{0};
  std::atomic<uint64_t> calls_framed{0};

  mutable std::mutex info_mu;
  HelloOk info;
  std::atomic<uint64_t> reconnects{0};
  std::thread thread;  // last: starts after every member is built
};

Client::Client(ClientOptions options)
    : impl_(std::make_shared<Impl>(std::move(options))) {}

Client::~Client() = default;

absl::StatusOr<std::unique_ptr<Client>> Client::Connect(ClientOptions options) {
  if (options.version_max < kVersionMin || options.version_max > kVersionMax) {
    return absl::InvalidArgumentError(
        absl::StrCat("version_max ", options.version_max,
                     ": this client speaks ", kVersionMin, "..", kVersionMax));
  }
  std::unique_ptr<Client> client(new Client(std::move(options)));
  Impl* impl = client->impl_.get();
  auto done = std::make_shared<std::promise<absl::Status>>();
  auto result = done->get_future();
  asio::post(impl->io, [impl, done] {
    impl->first_connect = [done](absl::Status s) { done->set_value(s); };
    impl->attempts_left = 0;
    impl->backoff =
        std::chrono::milliseconds(impl->options.reconnect_backoff_ms);
    impl->StartConnect();
  });
  if (absl::Status s = result.get(); !s.ok()) return s;
  return client;
}

void Client::Send(Message request, Done done) {
  Impl* impl = impl_.get();
  auto* ops = std::get_if<OpsRequest>(&request);
  const bool own_issue_time = ops != nullptr && ops->issued_ns != 0;
  if (ops != nullptr && ops->issued_ns == 0) {
    ops->issued_ns =
        impl->options.clock_ns ? impl->options.clock_ns() : SystemClockNs();
  }
  if (impl->options.coalesce_ops) {
    impl->Enqueue(std::move(request), std::move(done), own_issue_time);
    return;
  }
  asio::post(impl->io,
             [impl, request = std::move(request), done = std::move(done)] {
               impl->Submit(std::move(request), std::move(done));
             });
}

void Client::ApplyAsync(
    std::vector<Op> ops,
    std::function<void(absl::StatusOr<std::vector<OpResult>>)> done,
    uint64_t issued_ns) {
  Send(OpsRequest{std::move(ops), issued_ns},
       [done = std::move(done)](absl::StatusOr<Message> m) {
         if (!m.ok()) {
           done(std::move(m).status());
         } else {
           done(std::move(std::get<OpsReply>(*m).results));
         }
       });
}

absl::StatusOr<Message> Client::Call(Message request) {
  auto p = std::make_shared<std::promise<absl::StatusOr<Message>>>();
  auto f = p->get_future();
  Send(std::move(request),
       [p](absl::StatusOr<Message> m) { p->set_value(std::move(m)); });
  if (f.wait_for(std::chrono::milliseconds(impl_->options.call_timeout_ms)) !=
      std::future_status::ready) {
    return absl::DeadlineExceededError(
        absl::StrCat("no reply within ", impl_->options.call_timeout_ms,
                     " ms; the request may still apply (retry with the same "
                     "op ids and issue time)"));
  }
  return f.get();
}

namespace {
template <typename T>
absl::StatusOr<T> Take(absl::StatusOr<Message> m) {
  if (!m.ok()) return m.status();
  return std::move(std::get<T>(*m));
}
}  // namespace

absl::StatusOr<std::vector<OpResult>> Client::Apply(std::vector<Op> ops,
                                                    uint64_t issued_ns) {
  auto r = Take<OpsReply>(Call(OpsRequest{std::move(ops), issued_ns}));
  if (!r.ok()) return r.status();
  return std::move(r->results);
}

absl::StatusOr<LookupReply> Client::Lookup(std::vector<uint64_t> account_ids) {
  return Take<LookupReply>(Call(LookupRequest{std::move(account_ids)}));
}

absl::StatusOr<HistoryReply> Client::History(uint64_t account_id,
                                             uint32_t before, uint32_t limit,
                                             HistoryFilter filter) {
  return Take<HistoryReply>(
      Call(HistoryRequest{account_id, before, limit, filter}));
}

absl::StatusOr<StatsReply> Client::Stats() {
  return Take<StatsReply>(Call(StatsRequest{}));
}

absl::StatusOr<StagesReply> Client::Stages() {
  return Take<StagesReply>(Call(StagesRequest{}));
}

absl::StatusOr<DiskReply> Client::Disk() {
  return Take<DiskReply>(Call(DiskRequest{}));
}

absl::StatusOr<BackupReply> Client::Backup(std::string dir,
                                           uint32_t timeout_ms) {
  auto p = std::make_shared<std::promise<absl::StatusOr<Message>>>();
  auto f = p->get_future();
  Send(BackupRequest{std::move(dir)},
       [p](absl::StatusOr<Message> m) { p->set_value(std::move(m)); });
  if (f.wait_for(std::chrono::milliseconds(timeout_ms)) !=
      std::future_status::ready) {
    return absl::DeadlineExceededError(absl::StrCat(
        "no reply to the backup within ", timeout_ms,
        " ms; it may still complete on the server (check the destination)"));
  }
  return Take<BackupReply>(f.get());
}

absl::StatusOr<DigestReply> Client::Digest() {
  return Take<DigestReply>(Call(DigestRequest{}));
}

absl::Status Client::Ping() { return Take<Pong>(Call(net::Ping{})).status(); }

HelloOk Client::server_info() const {
  std::lock_guard<std::mutex> lock(impl_->info_mu);
  return impl_->info;
}

uint64_t Client::reconnects() const {
  return impl_->reconnects.load(std::memory_order_relaxed);
}

uint64_t Client::queued_ops() const {
  return impl_->queued_ops_now.load(std::memory_order_relaxed);
}

uint64_t Client::frames_made() const {
  return impl_->frames_made.load(std::memory_order_relaxed);
}

uint64_t Client::calls_framed() const {
  return impl_->calls_framed.load(std::memory_order_relaxed);
}

}  // namespace coffer::net

// The Coffer target of coffer-bench: the binary protocol (net/PROTOCOL.md)
// over one non-blocking TCP socket per LoadConnection. A request is one OPS
// frame carrying the whole batch (one engine request); lookups go in a
// LOOKUP frame. Replies may come back in any order: frames are kept in a
// ring in send order, matched by request id, and handed back in send order
// as target.h promises.
//
// Accounts: CreateAccounts sends create_account (currency 1, no flags) for
// every id; the answer's balance_after is the account's balance (0 when new,
// the current one when it already existed, answered account_exists), and a
// second pass credits or debits each account to the wanted balance. So a
// range left by an earlier run is reset in place; coffer-bench still uses a
// fresh range per run by default (--first_account), which keeps old runs'
// accounts out of the check.
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "bench/load/client_library.h"
#include "bench/load/shard_aware.h"
#include "bench/load/target.h"
#include "engine/types.h"
#include "net/client.h"
#include "net/codec.h"
#include "net/protocol.h"
#include "net/wire.h"

namespace coffer::bench {
namespace {

using net::ErrorCode;
using net::FrameHeader;
using net::kHeaderBytes;
using net::MessageKind;

constexpr uint16_t kDefaultPort = 7300;
constexpr uint32_t kCurrency = 1;
// ERROR busy (not applied): the frame is resent after a backoff of
// kBusyBackoffFirstNs doubling up to kBusyBackoffMaxNs, at most
// kBusyResendsMax times per request (the server itself already waited its
// submit_retry_ms before answering busy). The backoff is checked on every
// Flush, which the generator calls at least every 50 ms.
constexpr uint32_t kBusyResendsMax = 20;
constexpr int64_t kBusyBackoffFirstNs = 1'000'000;
constexpr int64_t kBusyBackoffMaxNs = 200'000'000;

int64_t MonotonicNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}
constexpr int kHandshakeTimeoutMs = 10'000;
// Set-up and read-back: frames in flight at once, and how long to wait for
// progress.
constexpr uint32_t kSetupWindow = 8;
constexpr int kSetupTimeoutMs = 120'000;
// Reads per OnReadable before yielding to the caller's other connections.
constexpr int kReadsPerCall = 4;

absl::Status ErrnoStatus(const std::string& what) {
  const int e = errno;
  return absl::UnavailableError(absl::StrCat(what, ": ", std::strerror(e)));
}

// Connects (blocking, with a timeout on the handshake) and completes HELLO.
absl::StatusOr<int> ConnectAndHello(const TargetOptions& options,
                                    net::HelloOk* hello_ok) {
  const uint16_t port = options.port == 0 ? kDefaultPort : options.port;
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  const std::string port_text = std::to_string(port);
  if (int rc = ::getaddrinfo(options.host.c_str(), port_text.c_str(), &hints,
                             &found);
      rc != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "cannot resolve ", options.host, ": ", ::gai_strerror(rc)));
  }
  int fd = -1;
  std::string last_error = "no address";
  for (addrinfo* a = found; a != nullptr; a = a->ai_next) {
    fd = ::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) continue;
    if (::connect(fd, a->ai_addr, a->ai_addrlen) == 0) break;
    last_error = std::strerror(errno);
    ::close(fd);
    fd = -1;
  }
  ::freeaddrinfo(found);
  if (fd < 0) {
    return absl::UnavailableError(absl::StrCat(
        "cannot connect to ", options.host, ":", port, ": ", last_error));
  }
  auto fail = [fd](absl::Status s) {
    ::close(fd);
    return s;
  };
  const int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  timeval tv{};
  tv.tv_sec = kHandshakeTimeoutMs / 1000;
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);

  net::Hello hello;
  hello.auth_token = options.auth_token;
  std::vector<uint8_t> bytes;
  net::EncodeFrame(1, hello, bytes, net::kHelloHeaderVersion);
  size_t sent = 0;
  while (sent < bytes.size()) {
    const ssize_t n =
        ::send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return fail(ErrnoStatus("send HELLO"));
    sent += static_cast<size_t>(n);
  }
  auto read_exactly = [fd](uint8_t* out, size_t n) -> absl::Status {
    size_t got = 0;
    while (got < n) {
      const ssize_t r = ::recv(fd, out + got, n - got, 0);
      if (r == 0) return absl::UnavailableError("server closed during HELLO");
      if (r < 0) {
        if (errno == EINTR) continue;
        return ErrnoStatus("recv HELLO reply");
      }
      got += static_cast<size_t>(r);
    }
    return absl::OkStatus();
  };
  uint8_t header_bytes[kHeaderBytes];
  if (absl::Status s = read_exactly(header_bytes, kHeaderBytes); !s.ok()) {
    return fail(s);
  }
  const FrameHeader h = net::DecodeHeader(header_bytes);
  if (h.magic != net::kMagic || h.body_bytes > 64 * 1024) {
    return fail(absl::DataLossError("malformed HELLO reply"));
  }
  std::vector<uint8_t> body(h.body_bytes);
  if (absl::Status s = read_exactly(body.data(), body.size()); !s.ok()) {
    return fail(s);
  }
  net::Message m;
  net::Problem problem;
  if (net::BodyChecksum(body) != h.body_xxh3 ||
      !net::CheckLayout(h, &problem) ||
      !net::DecodeBody(h, body, &m, &problem)) {
    return fail(absl::DataLossError("undecodable HELLO reply"));
  }
  if (auto* e = std::get_if<net::Error>(&m)) {
    return fail(absl::PermissionDeniedError(absl::StrCat(
        "HELLO refused: ", std::string(net::ErrorCodeName(e->code)), ": ",
        e->message)));
  }
  auto* ok = std::get_if<net::HelloOk>(&m);
  if (ok == nullptr) return fail(absl::DataLossError("expected HELLO_OK"));
  *hello_ok = *ok;
  timeval zero{};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &zero, sizeof zero);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &zero, sizeof zero);
  if (::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK) != 0) {
    return fail(ErrnoStatus("fcntl O_NONBLOCK"));
  }
  return fd;
}

// A workload op as the engine's op (the wire layout).
Op ToOp(const LoadOp& lop) {
  Op op;
  op.op_id = lop.op_id;
  op.account_id = lop.account_id;
  op.amount = static_cast<uint64_t>(lop.amount);
  if (lop.kind == LoadOpKind::kTransfer) {
    op.kind = OpKind::kTransfer;
    op.other_account_id = lop.to_account_id;
  } else {
    op.kind = OpKind::kDebit;
  }
  return op;
}

class CofferConnection final : public LoadConnection {
 public:
  CofferConnection(int fd, const net::HelloOk& hello)
      : fd_(fd), version_(hello.version) {
    frames_.resize(16);
    in_.resize(1u << 20);
  }
  ~CofferConnection() override { ::close(fd_); }

  int fd() const override { return fd_; }

  absl::Status Send(std::span<const LoadOp> ops) override {
    if (!failed_.ok()) return failed_;
    if (ops.empty()) return absl::InvalidArgumentError("empty request");
    // Maximal runs of writes and of lookups, one frame each (a batch of one
    // kind, which is all the generator sends, is one frame).
    size_t begin = 0;
    while (begin < ops.size()) {
      const bool lookup = ops[begin].kind == LoadOpKind::kLookup;
      size_t end = begin + 1;
      while (end < ops.size() &&
             (ops[end].kind == LoadOpKind::kLookup) == lookup) {
        ++end;
      }
      Frame& f = NewFrame(end == ops.size(), /*raw_balances=*/false);
      if (lookup) {
        EncodeLookup(f, ops.subspan(begin, end - begin));
      } else {
        EncodeOps(f, ops.subspan(begin, end - begin));
      }
      Queue(f);
      begin = end;
    }
    return absl::OkStatus();
  }

  // Set-up path: engine ops of any kind in one OPS frame; the results carry
  // balance_after in LoadResult::balance.
  absl::Status SendRaw(std::span<const Op> ops) {
    if (!failed_.ok()) return failed_;
    Frame& f = NewFrame(/*last_of_request=*/true, /*raw_balances=*/true);
    f.lookup = false;
    f.count = static_cast<uint32_t>(ops.size());
    // Set-up ops carry no issue time (0: unknown) in a version 2 frame.
    const size_t fixed =
        version_ >= net::kVersionIssueTime ? net::kOpsFixedBytesV2 : 0;
    f.bytes.assign(kHeaderBytes + fixed + ops.size() * net::kOpBytes, 0);
    std::memcpy(f.bytes.data() + kHeaderBytes + fixed, ops.data(),
                ops.size() * net::kOpBytes);
    FinishFrame(f, MessageKind::kOps);
    Queue(f);
    return absl::OkStatus();
  }

  absl::StatusOr<bool> Flush() override {
    if (!failed_.ok()) return failed_;
    if (!busy_waiting_.empty()) ResendDueBusy();
    while (out_sent_ < out_.size()) {
      const ssize_t n =
          ::send(fd_, out_.data() + out_sent_, out_.size() - out_sent_,
                 MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) return true;
        return Fail(ErrnoStatus("send"));
      }
      out_sent_ += static_cast<size_t>(n);
    }
    out_.clear();
    out_sent_ = 0;
    return false;
  }

  absl::Status OnReadable(
      std::vector<std::vector<LoadResult>>* completed) override {
    if (!failed_.ok()) return failed_;
    for (int reads = 0; reads < kReadsPerCall; ++reads) {
      if (in_end_ == in_.size()) {
        // A frame larger than the buffer: grow (bounded by the header
        // check in ParseFrames, which refuses oversized bodies).
        in_.resize(in_.size() * 2);
      }
      const ssize_t n =
          ::recv(fd_, in_.data() + in_end_, in_.size() - in_end_, MSG_DONTWAIT);
      if (n == 0) {
        return Fail(absl::UnavailableError(
            absl::StrCat("server closed the connection with ", tail_ - head_,
                         " frames unanswered")));
      }
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) break;
        return Fail(ErrnoStatus("recv"));
      }
      const bool filled = in_end_ + static_cast<size_t>(n) == in_.size();
      in_end_ += static_cast<size_t>(n);
      if (absl::Status s = ParseFrames(completed); !s.ok()) return Fail(s);
      if (!filled) break;  // the socket is (very likely) empty now
    }
    // A busy resend may have queued bytes; the caller flushes them.
    return absl::OkStatus();
  }

  bool has_unsent() const { return out_sent_ < out_.size(); }
  uint64_t frames_in_flight() const { return tail_ - head_; }

 private:
  struct Frame {
    uint64_t request_id = 0;
    bool done = false;
    bool last_of_request = true;
    bool lookup = false;
    bool raw_balances = false;
    uint32_t count = 0;
    uint32_t busy_resends = 0;
    int64_t resend_at_ns = 0;    // answered busy: resend from then on
    std::vector<uint8_t> bytes;  // the whole frame, kept for a busy resend
    std::vector<LoadResult> results;
  };

  Frame& NewFrame(bool last_of_request, bool raw_balances) {
    if (tail_ - head_ == frames_.size()) GrowRing();
    Frame& f = frames_[tail_ & (frames_.size() - 1)];
    ++tail_;
    f.request_id = tail_;  // sequential, non-zero, unique while in flight
    f.done = false;
    f.last_of_request = last_of_request;
    f.raw_balances = raw_balances;
    f.busy_resends = 0;
    f.results.clear();
    return f;
  }

  // Doubles the ring, keeping every frame at its request id's new slot.
  void GrowRing() {
    std::vector<Frame> bigger(frames_.size() * 2);
    for (uint64_t seq = head_; seq < tail_; ++seq) {
      bigger[seq & (bigger.size() - 1)] =
          std::move(frames_[seq & (frames_.size() - 1)]);
    }
    frames_ = std::move(bigger);
  }

  void EncodeOps(Frame& f, std::span<const LoadOp> ops) {
    f.lookup = false;
    f.count = static_cast<uint32_t>(ops.size());
    // Version 2 frames say when they were issued, as a real client's do
    // (a resend reuses the frame, so it keeps the first time).
    const size_t fixed =
        version_ >= net::kVersionIssueTime ? net::kOpsFixedBytesV2 : 0;
    f.bytes.resize(kHeaderBytes + fixed + ops.size() * net::kOpBytes);
    uint8_t* p = f.bytes.data() + kHeaderBytes;
    if (fixed != 0) {
      net::wire::Put64(
          p, static_cast<uint64_t>(
                 std::chrono::duration_cast<std::chrono::nanoseconds>(
                     std::chrono::system_clock::now().time_since_epoch())
                     .count()));
      p += fixed;
    }
    for (const LoadOp& lop : ops) {
      const Op op = ToOp(lop);
      std::memcpy(p, &op, net::kOpBytes);  // Op is the wire layout (LE)
      p += net::kOpBytes;
    }
    FinishFrame(f, MessageKind::kOps);
  }

  void EncodeLookup(Frame& f, std::span<const LoadOp> ops) {
    f.lookup = true;
    f.count = static_cast<uint32_t>(ops.size());
    f.bytes.resize(kHeaderBytes + ops.size() * net::kAccountIdBytes);
    uint8_t* p = f.bytes.data() + kHeaderBytes;
    for (const LoadOp& op : ops) {
      net::wire::Put64(p, op.account_id);
      p += net::kAccountIdBytes;
    }
    FinishFrame(f, MessageKind::kLookup);
  }

  void FinishFrame(Frame& f, MessageKind kind) {
    FrameHeader h;
    h.version = version_;
    h.kind = static_cast<uint16_t>(kind);
    h.request_id = f.request_id;
    h.count = f.count;
    h.body_bytes = static_cast<uint32_t>(f.bytes.size() - kHeaderBytes);
    h.body_xxh3 = net::BodyChecksum(
        std::span<const uint8_t>(f.bytes.data() + kHeaderBytes, h.body_bytes));
    net::EncodeHeader(h, f.bytes.data());
  }

  void Queue(const Frame& f) {
    if (out_sent_ > 0 && out_sent_ == out_.size()) {
      out_.clear();
      out_sent_ = 0;
    }
    out_.insert(out_.end(), f.bytes.begin(), f.bytes.end());
  }

  // Queues the busy frames whose backoff has passed.
  void ResendDueBusy() {
    const int64_t now = MonotonicNs();
    size_t kept = 0;
    for (const uint64_t id : busy_waiting_) {
      Frame* f = Find(id);
      if (f == nullptr) continue;
      if (f->resend_at_ns <= now) {
        Queue(*f);
      } else {
        busy_waiting_[kept++] = id;
      }
    }
    busy_waiting_.resize(kept);
  }

  Frame* Find(uint64_t request_id) {
    if (request_id <= head_ || request_id > tail_) return nullptr;
    Frame& f = frames_[(request_id - 1) & (frames_.size() - 1)];
    return f.request_id == request_id && !f.done ? &f : nullptr;
  }

  absl::Status ParseFrames(std::vector<std::vector<LoadResult>>* completed) {
    size_t at = 0;
    while (in_end_ - at >= kHeaderBytes) {
      const uint8_t* p = in_.data() + at;
      const FrameHeader h = net::DecodeHeader(p);
      if (h.magic != net::kMagic) {
        return absl::DataLossError("bad magic in a reply: lost framing");
      }
      if (h.body_bytes > net::kReplyBodyBytesMax) {
        return absl::DataLossError(
            absl::StrCat("reply body of ", h.body_bytes, " bytes"));
      }
      const size_t frame_bytes = kHeaderBytes + h.body_bytes;
      if (in_end_ - at < frame_bytes) {
        if (frame_bytes > in_.size()) in_.resize(frame_bytes);
        break;
      }
      const std::span<const uint8_t> body(p + kHeaderBytes, h.body_bytes);
      if (net::BodyChecksum(body) != h.body_xxh3) {
        return absl::DataLossError("bad body checksum in a reply");
      }
      if (absl::Status s = OnFrame(h, body); !s.ok()) return s;
      at += frame_bytes;
    }
    if (at > 0) {
      std::memmove(in_.data(), in_.data() + at, in_end_ - at);
      in_end_ -= at;
    }
    Deliver(completed);
    return absl::OkStatus();
  }

  absl::Status OnFrame(const FrameHeader& h, std::span<const uint8_t> body) {
    const auto kind = static_cast<MessageKind>(h.kind);
    if (kind == MessageKind::kError) {
      if (body.size() < net::kErrorFixedBytes) {
        return absl::DataLossError("short ERROR frame");
      }
      const auto code = static_cast<ErrorCode>(net::wire::Get16(body.data()));
      const uint32_t message_bytes = net::wire::Get32(body.data() + 4);
      const std::string message(
          reinterpret_cast<const char*>(body.data()) + net::kErrorFixedBytes,
          std::min<size_t>(message_bytes, body.size() - net::kErrorFixedBytes));
      Frame* f = Find(h.request_id);
      if (code == ErrorCode::kBusy && f != nullptr) {
        // Not applied: resend the same frame (same op ids).
        if (++f->busy_resends > kBusyResendsMax) {
          return absl::ResourceExhaustedError(
              absl::StrCat("ERROR busy ", kBusyResendsMax,
                           " times for one request: ", message));
        }
        f->resend_at_ns =
            MonotonicNs() +
            std::min(kBusyBackoffMaxNs,
                     kBusyBackoffFirstNs << std::min(f->busy_resends - 1, 20u));
        busy_waiting_.push_back(f->request_id);
        return absl::OkStatus();
      }
      return absl::InternalError(
          absl::StrCat("server ERROR ", std::string(net::ErrorCodeName(code)),
                       " (request ", h.request_id, "): ", message));
    }
    Frame* f = Find(h.request_id);
    if (f == nullptr) {
      return absl::DataLossError(absl::StrCat(
          "reply for request id ", h.request_id, " that is not in flight"));
    }
    const MessageKind want =
        f->lookup ? MessageKind::kLookupReply : MessageKind::kOpsReply;
    if (kind != want || h.count != f->count) {
      return absl::DataLossError(absl::StrCat(
          "reply kind ", h.kind, " count ", h.count, " for a request of ",
          f->count, f->lookup ? " lookups" : " ops"));
    }
    f->results.resize(f->count);
    if (!f->lookup) {
      if (body.size() != size_t{f->count} * net::kOpResultBytes) {
        return absl::DataLossError("ops_reply of the wrong length");
      }
      const uint8_t* r = body.data();
      for (LoadResult& out : f->results) {
        out.code = static_cast<ResultCode>(net::wire::Get16(r));
        out.duplicate = (net::wire::Get16(r + 2) & kResultFlagDuplicate) != 0;
        out.balance =
            f->raw_balances ? static_cast<int64_t>(net::wire::Get64(r + 8)) : 0;
        r += net::kOpResultBytes;
      }
    } else {
      if (body.size() != net::kLookupReplyFixedBytes +
                             size_t{f->count} * net::kAccountInfoBytes) {
        return absl::DataLossError("lookup_reply of the wrong length");
      }
      const uint8_t* r = body.data() + net::kLookupReplyFixedBytes;
      for (LoadResult& out : f->results) {
        const bool found = net::wire::Get64(r) != 0;
        out.code = found ? ResultCode::kOk : ResultCode::kAccountNotFound;
        out.duplicate = false;
        out.balance = static_cast<int64_t>(net::wire::Get64(r + 8));
        r += net::kAccountInfoBytes;
      }
    }
    f->done = true;
    return absl::OkStatus();
  }

  // Hands back every request whose frames are all answered, in send order.
  void Deliver(std::vector<std::vector<LoadResult>>* completed) {
    while (head_ < tail_) {
      Frame& f = frames_[head_ & (frames_.size() - 1)];
      if (!f.done) break;
      if (f.last_of_request && partial_.empty()) {
        completed->emplace_back(f.results.begin(), f.results.end());
      } else {
        partial_.insert(partial_.end(), f.results.begin(), f.results.end());
        if (f.last_of_request) {
          completed->emplace_back(partial_.begin(), partial_.end());
          partial_.clear();
        }
      }
      ++head_;
    }
  }

  absl::Status Fail(absl::Status s) {
    failed_ = s;
    return s;
  }

  int fd_;
  uint16_t version_;
  absl::Status failed_;
  // Frames in send order: sequence numbers head_ .. tail_-1 are in flight,
  // request id = sequence number + 1, slot = (id - 1) mod ring size.
  std::vector<Frame> frames_;
  uint64_t head_ = 0;
  uint64_t tail_ = 0;
  std::vector<LoadResult> partial_;  // a multi-frame request being joined
  std::vector<uint8_t> out_;
  size_t out_sent_ = 0;
  std::vector<uint8_t> in_;
  size_t in_end_ = 0;
  std::vector<uint64_t> busy_waiting_;  // request ids answered busy
};

// Drives one connection synchronously for set-up and read-back: sends the
// requests `next` produces, at most kSetupWindow in flight, and passes each
// answer to `done` in order.
absl::Status Pipeline(
    CofferConnection& c, const std::function<bool(CofferConnection&)>& next,
    const std::function<absl::Status(const std::vector<LoadResult>&)>& done) {
  std::vector<std::vector<LoadResult>> completed;
  uint64_t in_flight = 0;
  bool more = true;
  auto last_progress = std::chrono::steady_clock::now();
  while (more || in_flight > 0) {
    while (more && in_flight < kSetupWindow) {
      more = next(c);
      if (more) ++in_flight;
    }
    auto pending = c.Flush();
    if (!pending.ok()) return pending.status();
    pollfd p{c.fd(), static_cast<short>(POLLIN | (*pending ? POLLOUT : 0)), 0};
    if (::poll(&p, 1, 100) < 0 && errno != EINTR) return ErrnoStatus("poll");
    if (p.revents & (POLLIN | POLLERR | POLLHUP)) {
      if (absl::Status s = c.OnReadable(&completed); !s.ok()) return s;
    }
    for (const auto& results : completed) {
      --in_flight;
      if (absl::Status s = done(results); !s.ok()) return s;
      last_progress = std::chrono::steady_clock::now();
    }
    completed.clear();
    if (std::chrono::steady_clock::now() - last_progress >
        std::chrono::milliseconds(kSetupTimeoutMs)) {
      return absl::DeadlineExceededError("no answer from the server");
    }
  }
  return absl::OkStatus();
}

uint64_t RandomOpIdBase() {
  std::random_device rd;
  // Top bits random, low 40 bits count set-up ops; bit 63 set so set-up op
  // ids never meet the generator's (workload.h keeps bit 63 clear).
  const uint64_t r = (uint64_t{rd()} << 32) ^ rd();
  return (r << 40) | (uint64_t{1} << 63);
}

// Client mode: blocking calls through a pool of net::Client (the library a
// game server links), thread t on client t mod pool size.
class CofferCaller final : public BlockingCaller {
 public:
  CofferCaller(std::vector<std::unique_ptr<net::Client>> clients,
               ClientLibraryOptions options)
      : clients_(std::move(clients)), options_(options) {}

  absl::StatusOr<std::vector<LoadResult>> Call(
      uint32_t thread_index, std::span<const LoadOp> ops) override {
    net::Client& c = *clients_[thread_index % clients_.size()];
    std::vector<LoadResult> out(ops.size());
    if (!ops.empty() && ops[0].kind == LoadOpKind::kLookup) {
      std::vector<uint64_t> ids;
      for (const LoadOp& op : ops) ids.push_back(op.account_id);
      auto r = c.Lookup(std::move(ids));
      if (!r.ok()) return r.status();
      for (size_t i = 0; i < out.size(); ++i) {
        out[i].code = r->accounts[i].id != 0 ? ResultCode::kOk
                                             : ResultCode::kAccountNotFound;
        out[i].balance = r->accounts[i].balance;
      }
      return out;
    }
    std::vector<Op> request;
    request.reserve(ops.size());
    for (const LoadOp& op : ops) request.push_back(ToOp(op));
    auto r = c.Apply(std::move(request));
    if (!r.ok()) return r.status();
    if (r->size() != ops.size()) {
      return absl::DataLossError("wrong number of results");
    }
    for (size_t i = 0; i < out.size(); ++i) {
      out[i].code = (*r)[i].code;
      out[i].duplicate = (*r)[i].duplicate();
    }
    return out;
  }

  uint64_t frames() const override {
    uint64_t n = 0;
    for (const auto& c : clients_) n += c->frames_made();
    return n;
  }
  uint64_t calls() const override {
    uint64_t n = 0;
    for (const auto& c : clients_) n += c->calls_framed();
    return n;
  }
  std::string settings() const override {
    return absl::StrCat("client library (net::Client): ", clients_.size(),
                        " client(s), blocking Apply per call, coalesce_ops ",
                        options_.coalesce ? "on" : "off",
                        ", ops_frames_in_flight_max ",
                        options_.frames_in_flight_max == 0
                            ? std::string("server's")
                            : absl::StrCat(options_.frames_in_flight_max));
  }

 private:
  std::vector<std::unique_ptr<net::Client>> clients_;
  ClientLibraryOptions options_;
};

class CofferTarget final : public LoadTarget,
                           public ShardAware,
                           public ClientLibrary {
 public:
  CofferTarget(TargetOptions options, int control_fd, net::HelloOk hello)
      : options_(std::move(options)),
        hello_(hello),
        control_(std::make_unique<CofferConnection>(control_fd, hello)),
        setup_op_id_(RandomOpIdBase()) {}

  std::string name() const override { return "coffer"; }

  std::string settings() const override {
    return absl::StrCat(
        "binary protocol v", hello_.version, " over TCP to ", options_.host,
        ":", port(),
        "; a batch = one OPS frame = one engine request (reads: one LOOKUP "
        "frame); pipelined frames matched by request id, handed back in send "
        "order; ERROR busy resent after a backoff (1 ms doubling to 200 ms) "
        "up to ",
        kBusyResendsMax,
        " times; durability as the server runs (with --data_dir a reply "
        "leaves only after its group commit's fdatasync); server: ",
        hello_.shard_count, " shards, max_ops_per_request ",
        hello_.max_ops_per_request, ", max_requests_in_flight ",
        hello_.max_requests_in_flight);
  }

  uint32_t max_batch_ops() const override {
    return std::min<uint32_t>(
        hello_.max_ops_per_request,
        static_cast<uint32_t>((hello_.max_body_bytes - net::kOpsFixedBytesV2) /
                              net::kOpBytes));
  }

  uint32_t shard_count() const override { return hello_.shard_count; }

  absl::StatusOr<std::unique_ptr<BlockingCaller>> OpenClients(
      const ClientLibraryOptions& options) override {
    net::ClientOptions o;
    o.host = options_.host;
    o.port = port();
    o.auth_token = options_.auth_token;
    o.coalesce_ops = options.coalesce;
    o.ops_frames_in_flight_max = options.frames_in_flight_max;
    std::vector<std::unique_ptr<net::Client>> clients;
    for (uint32_t i = 0; i < options.clients; ++i) {
      auto c = net::Client::Connect(o);
      if (!c.ok()) return c.status();
      clients.push_back(std::move(c).value());
    }
    return std::unique_ptr<BlockingCaller>(
        std::make_unique<CofferCaller>(std::move(clients), options));
  }

  absl::StatusOr<std::unique_ptr<LoadConnection>> Connect() override {
    net::HelloOk hello;
    auto fd = ConnectAndHello(options_, &hello);
    if (!fd.ok()) return fd.status();
    return std::unique_ptr<LoadConnection>(
        std::make_unique<CofferConnection>(*fd, hello));
  }

  absl::Status CreateAccounts(uint64_t first_account_id, uint64_t count,
                              int64_t balance) override {
    if (balance < 0) return absl::InvalidArgumentError("negative balance");
    const uint64_t chunk = max_batch_ops();
    std::vector<int64_t> current(count, 0);
    std::vector<Op> ops;
    // Pass 1: create every account; learn each one's balance.
    uint64_t sent = 0;
    uint64_t answered = 0;
    absl::Status s = Pipeline(
        *control_,
        [&](CofferConnection& c) {
          if (sent == count) return false;
          const uint64_t n = std::min(chunk, count - sent);
          ops.assign(n, Op{});
          for (uint64_t i = 0; i < n; ++i) {
            Op& op = ops[i];
            op.op_id = ++setup_op_id_;
            op.kind = OpKind::kCreateAccount;
            op.account_id = first_account_id + sent + i;
            op.currency = kCurrency;
          }
          sent += n;
          return c.SendRaw(ops).ok();
        },
        [&](const std::vector<LoadResult>& results) -> absl::Status {
          for (const LoadResult& r : results) {
            if (r.code != ResultCode::kOk &&
                r.code != ResultCode::kAccountExists) {
              return absl::FailedPreconditionError(absl::StrCat(
                  "create_account of ", first_account_id + answered, ": ",
                  std::string(ResultCodeName(r.code))));
            }
            current[answered++] = r.balance;
          }
          return absl::OkStatus();
        });
    if (!s.ok()) return s;
    // Pass 2: credit or debit each account to `balance`.
    uint64_t next_index = 0;
    s = Pipeline(
        *control_,
        [&](CofferConnection& c) {
          ops.clear();
          while (next_index < count && ops.size() < chunk) {
            const uint64_t i = next_index++;
            if (current[i] == balance) continue;
            Op op;
            op.op_id = ++setup_op_id_;
            op.account_id = first_account_id + i;
            if (current[i] < balance) {
              op.kind = OpKind::kCredit;
              op.amount = static_cast<uint64_t>(balance - current[i]);
            } else {
              op.kind = OpKind::kDebit;
              op.amount = static_cast<uint64_t>(current[i] - balance);
            }
            ops.push_back(op);
          }
          if (ops.empty()) return false;
          return c.SendRaw(ops).ok();
        },
        [&](const std::vector<LoadResult>& results) -> absl::Status {
          for (const LoadResult& r : results) {
            if (r.code != ResultCode::kOk) {
              return absl::FailedPreconditionError(absl::StrCat(
                  "funding an account: ", std::string(ResultCodeName(r.code))));
            }
          }
          return absl::OkStatus();
        });
    return s;
  }

  absl::StatusOr<std::vector<int64_t>> ReadBalances(uint64_t first_account_id,
                                                    uint64_t count) override {
    const uint64_t chunk = max_batch_ops();
    std::vector<int64_t> balances;
    balances.reserve(count);
    std::vector<LoadOp> ids;
    uint64_t sent = 0;
    absl::Status s = Pipeline(
        *control_,
        [&](CofferConnection& c) {
          if (sent == count) return false;
          const uint64_t n = std::min(chunk, count - sent);
          ids.assign(n, LoadOp{});
          for (uint64_t i = 0; i < n; ++i) {
            ids[i].kind = LoadOpKind::kLookup;
            ids[i].account_id = first_account_id + sent + i;
          }
          sent += n;
          return c.Send(ids).ok();
        },
        [&](const std::vector<LoadResult>& results) -> absl::Status {
          for (const LoadResult& r : results) {
            if (r.code != ResultCode::kOk) {
              return absl::NotFoundError(
                  absl::StrCat("account ", first_account_id + balances.size(),
                               " does not exist"));
            }
            balances.push_back(r.balance);
          }
          return absl::OkStatus();
        });
    if (!s.ok()) return s;
    return balances;
  }

 private:
  uint16_t port() const {
    return options_.port == 0 ? kDefaultPort : options_.port;
  }

  TargetOptions options_;
  net::HelloOk hello_;
  std::unique_ptr<CofferConnection> control_;
  uint64_t setup_op_id_;
};

const bool kRegistered =
    RegisterTarget("coffer",
                   [](const TargetOptions& options)
                       -> absl::StatusOr<std::unique_ptr<LoadTarget>> {
                     net::HelloOk hello;
                     auto fd = ConnectAndHello(options, &hello);
                     if (!fd.ok()) return fd.status();
                     return std::unique_ptr<LoadTarget>(
                         std::make_unique<CofferTarget>(options, *fd, hello));
                   });

}  // namespace
}  // namespace coffer::bench

// A C++ client of cofferd: synchronous calls, and a pipelined asynchronous
// API (many requests in flight on one connection, replies matched by
// request id).
//
//   auto client = coffer::net::Client::Connect({.port = 7300}).value();
//   absl::StatusOr<std::vector<coffer::OpResult>> r = client->Apply({debit});
//
// Exactly-once across failures: each request's encoded frame is kept until
// its reply arrives. If the connection drops, the client reconnects and
// sends the same frames again, so ops carry the same op ids and the engine
// answers a retry of an op that had applied with its original result (the
// duplicate flag set) instead of applying it twice. A request is also
// resent after ERROR busy (the server's engine stayed full).
//
// Each ops request carries when it was first issued (protocol version 2):
// the client stamps it with its clock when the call is made, and every
// resend carries the same time, so the server can tell a retry older than
// its op-id retention (answered op_expired, never applied twice) from a new
// op. An application that retries a call itself, after a timeout or a
// restart, passes the same op ids and the call's first issue time
// (`issued_ns`), kept beside its op ids.
//
// Batching (issue 12): with coalesce_ops (the default), ops requests made
// concurrently, from any number of threads, are coalesced into one OPS frame
// per free slot in flight, the way TigerBeetle's clients batch a session.
// When a slot is free, whatever is queued leaves at once (the client never
// waits on a timer for more work); while every slot is busy, calls queue,
// and the next free slot takes as many of them as fit one frame. Each
// caller gets exactly the results of its own ops. Merging never changes
// what a call means: a call's ops stay contiguous and in order, chains never
// span two calls (a call whose last op is linked, an open chain, goes
// alone, as do calls too large for one frame and calls that bring their own
// issue time, a retry's: a merged frame carries its oldest call's issue
// time), and the merged frame is kept
// and resent byte for byte like any other (exactly-once, busy retries).
// Every request, ops or not, leaves in the order it was made; only ops
// requests merge.
//
// Threading: one internal thread runs the connection. Every method may be
// called from any thread; async callbacks run on the internal thread and
// must not block (in particular, must not call the synchronous methods).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "engine/types.h"
#include "net/codec.h"

namespace coffer::net {

struct ClientOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 7300;
  std::string auth_token;
  // Connecting plus HELLO, per attempt.
  uint32_t connect_timeout_ms = 5'000;
  // After a lost connection, attempts to reconnect (waiting
  // reconnect_backoff_ms, doubling up to 1 s, between them) before every
  // request in flight fails with kUnavailable. The first connect (Connect)
  // is tried once.
  uint32_t reconnect_attempts = 5;
  uint32_t reconnect_backoff_ms = 20;
  // ERROR busy: resend after busy_backoff_ms (doubling up to 1 s), at most
  // busy_retries times; then the request fails with kResourceExhausted.
  uint32_t busy_retries = 20;
  uint32_t busy_backoff_ms = 5;
  // Synchronous calls stop waiting after this; the request may still be
  // applied (retry it with the same op ids to learn its outcome).
  uint32_t call_timeout_ms = 30'000;

  // Coalesce concurrent ops requests into shared OPS frames (see the top of
  // this file). False: every request is its own frame, written at once,
  // with no client-side limit on frames in flight (extra ones wait in TCP)
  // and no queue; ops_frames_in_flight_max and queued_ops_max then do
  // nothing.
  bool coalesce_ops = true;
  // Frames in flight on the connection (sent or to be resent, unanswered)
  // before further requests queue: at most the server's
  // max_requests_in_flight (HELLO_OK), lower when this is non-zero. Fewer
  // slots make larger batches; 1 is TigerBeetle's one request per session.
  uint32_t ops_frames_in_flight_max = 0;
  // Ops waiting for a slot (a request without ops counts as one). A call
  // that would go beyond this fails at once with kResourceExhausted (not
  // applied; retry later): the queue never grows without bound and callers
  // are never blocked by it. One call is always accepted into an empty
  // queue, whatever its size.
  uint32_t queued_ops_max = 65'536;

  // The highest protocol version to ask for (kVersionMin..kVersionMax).
  // Version 1 carries no issue time and no history filters.
  uint16_t version_max = kVersionMax;
  // The clock that stamps ops requests (ns since the Unix epoch); empty:
  // the system clock. Tests inject one.
  std::function<uint64_t()> clock_ns;
};

class Client {
 public:
  // Connects and completes HELLO. Errors: kUnavailable (cannot connect),
  // kPermissionDenied (auth_failed), kFailedPrecondition (no common
  // version), kDeadlineExceeded.
  static absl::StatusOr<std::unique_ptr<Client>> Connect(ClientOptions options);
  ~Client();  // requests still in flight fail with kCancelled
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Pipelined: sends `request` (a request kind of Message) and calls `done`
  // with its reply (the Message of the matching reply kind) or an error:
  // kInvalidArgument (the server refused the frame), kResourceExhausted
  // (busy after every retry), kUnavailable (connection lost and not
  // regained), kInternal, kCancelled.
  using Done = std::function<void(absl::StatusOr<Message>)>;
  void Send(Message request, Done done);

  // `issued_ns`: when these ops were first issued (ns since the Unix
  // epoch), for a call that retries an earlier one; 0: now (a new call).
  // Send stamps an OpsRequest whose issued_ns is 0 the same way.
  void ApplyAsync(
      std::vector<Op> ops,
      std::function<void(absl::StatusOr<std::vector<OpResult>>)> done,
      uint64_t issued_ns = 0);

  // Synchronous calls (Send and wait up to call_timeout_ms).
  absl::StatusOr<std::vector<OpResult>> Apply(std::vector<Op> ops,
                                              uint64_t issued_ns = 0);
  absl::StatusOr<LookupReply> Lookup(std::vector<uint64_t> account_ids);
  // A filter needs protocol version 2: on a version 1 server the call
  // fails with kFailedPrecondition.
  absl::StatusOr<HistoryReply> History(uint64_t account_id, uint32_t before,
                                       uint32_t limit,
                                       HistoryFilter filter = {});
  absl::StatusOr<StatsReply> Stats();
  // The per-stage latency breakdown. A server older than STAGES answers
  // ERROR unknown_kind and closes: kInvalidArgument with a message that
  // starts "unknown_kind" (the client reconnects for later calls).
  absl::StatusOr<StagesReply> Stages();
  // Files and bytes of the log, archive and snapshots (DISK).
  absl::StatusOr<DiskReply> Disk();
  absl::StatusOr<DigestReply> Digest();
  // A consistent copy of the server's data directory into `dir`, an
  // absolute path on the server's host that does not exist or is empty
  // (BACKUP, engine/backup.h). Waits up to `timeout_ms` (a copy of a large
  // ledger takes minutes, longer than call_timeout_ms). A refusal or a
  // failure on the server is kFailedPrecondition with its reason. Like
  // every request it is resent after a reconnect: a resent backup whose
  // first attempt completed is refused (the destination is not empty).
  absl::StatusOr<BackupReply> Backup(std::string dir,
                                     uint32_t timeout_ms = 3'600'000);
  absl::Status Ping();
  absl::StatusOr<Message> Call(Message request);

  // The limits the server announced in its last HELLO_OK.
  HelloOk server_info() const;
  // Connections re-established after a loss.
  uint64_t reconnects() const;
  // coalesce_ops: ops (and requests without ops, one each) waiting for a
  // slot now.
  uint64_t queued_ops() const;
  // coalesce_ops: request frames made from the queue (a merged frame counts
  // once, a resend not again), and the calls that went into them.
  uint64_t frames_made() const;
  uint64_t calls_framed() const;

 private:
  struct Impl;
  explicit Client(ClientOptions options);
  std::shared_ptr<Impl> impl_;
};

}  // namespace coffer::net

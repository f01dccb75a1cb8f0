// One client connection of the server: reads frames, turns each into one
// engine Request, submits it without blocking, and writes the replies.
//
// Threading: every member function except Drain/Abort and the engine's
// on_complete runs on the connection's io_context, which one thread runs,
// so the state below needs no lock. The engine calls on_complete on an
// engine thread; it only posts back to this io_context.
//
// Bounds (ServerConfig): requests and bytes in flight, reply bytes queued
// for writing. While any is at its bound the connection neither decodes
// buffered frames nor reads the socket, so a client that sends faster than
// it reads is held back by TCP flow control, not by server memory.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "boost/asio/ip/tcp.hpp"
#include "boost/asio/steady_timer.hpp"
#include "engine/request.h"
#include "net/codec.h"
#include "net/reply_inbox.h"
#include "net/server_shared.h"

namespace coffer::net {

// The text of the ERROR too_many_connections that every refused connection
// gets, whether it lingers as a Connection or is refused at once by the
// acceptor (net/server.cc).
std::string TooManyConnectionsMessage(const ServerConfig& config);

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  // `refuse`: the server is at max_connections; the connection only sends
  // ERROR too_many_connections and closes (and does not count as open).
  Connection(ServerShared& shared, boost::asio::ip::tcp::socket socket,
             bool refuse);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Posts the start of the read loop to the connection's io_context.
  void Start();
  // Graceful shutdown: stop reading, answer everything in flight, send
  // ERROR shutting_down, close. Any thread.
  void Drain();
  // Close now; replies still owed are dropped. Any thread.
  void Abort();

 private:
  enum class State : uint8_t {
    kHandshake,  // waiting for HELLO
    kOpen,
    kDraining,   // server shutdown: answering what is in flight
    kClosing,    // final ERROR queued: flushing it
    kLingering,  // send side shut: discarding input until EOF or deadline
    kClosed,
  };

  // An engine request and what the reply needs; reused (keeps capacity).
  struct Slot {
    Request request;
    uint64_t request_id = 0;
    uint64_t cost_bytes = 0;
    std::chrono::steady_clock::time_point first_try;
    std::shared_ptr<Connection> keep_alive;  // set while in the engine
  };

  void DoStart();
  void DoDrain();
  void CloseNow();

  // Reading and decoding.
  bool CanAdmit() const;
  void MaybeRead();
  void OnRead(const boost::system::error_code& ec, size_t n);
  void ProcessFrames();
  // Starts the frame_read_timeout_ms clock when the buffer's first frame is
  // incomplete and the server is waiting for the peer to send the rest;
  // stops it otherwise.
  void NoteFramePending();
  // False when the frame failed the connection.
  bool HandleFrame(const FrameHeader& h, std::span<const uint8_t> body);
  bool CheckHeader(const FrameHeader& h);
  void HandleHello(const FrameHeader& h, std::span<const uint8_t> body);
  void HandleEngineRequest(const FrameHeader& h, std::span<const uint8_t> body);
  void HandleStats(uint64_t request_id);
  void HandleStages(uint64_t request_id);
  void HandleDisk(uint64_t request_id);
  // BACKUP runs on the server's backup thread (net/backup_runner.h); it
  // counts as in flight until OnBackupDone answers it on this io thread.
  void HandleBackup(const FrameHeader& h, std::span<const uint8_t> body);
  void OnBackupDone(uint64_t request_id, uint64_t cost,
                    absl::StatusOr<BackupResult> result);
  void EncodeBackupAnswer(uint64_t request_id,
                          const absl::StatusOr<BackupResult>& result);

  // Engine hand-off.
  Slot* TakeSlot();
  void ReleaseSlot(Slot* slot);
  void SubmitQueued();
  void ArmRetry();
  void OnEngineDone(Slot* slot);
  // A Completion's run (net/reply_inbox.h): `arg` is the finished Slot.
  static void RunCompletion(void* arg);
  void EncodeReply(Slot& slot);

  // Writing.
  void MaybeWrite();
  void OnWrite(const boost::system::error_code& ec);
  // Records the stages of the replies the completed write carried.
  void RecordWritten();
  size_t QueuedBytes() const { return out_.size() + writing_bytes_.size(); }

  // Closing. Fail sends ERROR (with kErrorFlagClosing) and closes after it
  // is flushed.
  void Fail(ErrorCode code, uint64_t request_id, std::string message,
            bool protocol_error = true);
  void TryFinish();
  void StartLinger();
  void LingerRead();

  // One timer for idle, stalled writes and the linger deadline. Each arm
  // bumps the generation so a wait that was superseded does nothing.
  void ArmTimer(std::chrono::steady_clock::time_point at);
  void OnTimer();

  ServerShared& shared_;
  boost::asio::ip::tcp::socket socket_;
  boost::asio::steady_timer timer_;
  boost::asio::steady_timer retry_timer_;
  const bool refuse_;
  NetStages* const stages_;  // this io thread's; nullptr: not measured
  ReplyInbox* const inbox_;  // this io thread's: where completions arrive
  State state_ = State::kHandshake;
  bool started_ = false;
  bool drain_requested_ = false;
  uint16_t version_ = kVersionMax;

  // Input: bytes [read_begin_, read_end_) of read_buffer_ are unparsed.
  std::vector<uint8_t> read_buffer_;
  size_t read_begin_ = 0;
  size_t read_end_ = 0;
  bool reading_ = false;
  bool read_eof_ = false;

  // Output: out_ collects replies while writing_bytes_ is on the wire.
  std::vector<uint8_t> out_;
  std::vector<uint8_t> writing_bytes_;
  bool writing_ = false;
  // The stamps of the engine replies in out_ and in writing_bytes_, for
  // the released_written and total stages when the write completes. One
  // per reply, so bounded like the replies themselves (the write queue
  // bound plus the requests in flight).
  struct ReplyStamp {
    uint64_t received_ns;
    uint64_t released_ns;
  };
  std::vector<ReplyStamp> out_stamps_;
  std::vector<ReplyStamp> writing_stamps_;
  // When ProcessFrames found the current frame complete in read_buffer_.
  uint64_t frame_received_ns_ = 0;

  // Requests decoded and not yet answered (queued or in the engine).
  uint32_t in_flight_ = 0;
  uint64_t in_flight_bytes_ = 0;
  absl::flat_hash_set<uint64_t> in_flight_ids_;
  std::deque<Slot*> submit_queue_;  // decoded, waiting for TrySubmit
  bool retry_armed_ = false;
  std::chrono::microseconds retry_delay_{0};
  std::vector<std::unique_ptr<Slot>> slots_;  // every slot ever made
  std::vector<Slot*> free_slots_;

  std::chrono::steady_clock::time_point last_activity_;
  // While frame_pending_: when the server started waiting for the rest of
  // the buffer's first frame.
  bool frame_pending_ = false;
  std::chrono::steady_clock::time_point frame_started_;
  std::chrono::steady_clock::time_point timer_at_;  // when timer_ fires
  std::chrono::steady_clock::time_point linger_deadline_;
  uint64_t timer_generation_ = 0;
};

}  // namespace coffer::net

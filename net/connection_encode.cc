// Connection, encode: finished requests to reply bytes on the socket.
#include <algorithm>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "boost/asio/post.hpp"
#include "boost/asio/write.hpp"
#include "net/auth.h"
#include "net/connection.h"

namespace coffer::net {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

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

}  // namespace coffer::net

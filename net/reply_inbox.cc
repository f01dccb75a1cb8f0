#include "net/reply_inbox.h"

#include "boost/asio/post.hpp"
#include "common/assert.h"

namespace coffer::net {

ReplyInbox::ReplyInbox(boost::asio::io_context& io) : io_(io) {}

void ReplyInbox::Push(Completion c) {
  if (!queue_.bounded_push(c)) {
    boost::asio::post(io_, [this, c] { Run(c); });
    return;
  }
  // acq_rel: whichever drain takes the flag back (an exchange, so it reads
  // this write) is ordered after the push above and so finds the item.
  if (!drain_posted_.exchange(true, std::memory_order_acq_rel)) PostDrain();
}

void ReplyInbox::PostDrain() {
  boost::asio::post(io_, [this] { Drain(); });
}

void ReplyInbox::Drain() {
  // Clear the flag before popping: a push that finds it cleared posts a
  // new drain, one that found it set is seen by the pops below.
  drain_posted_.exchange(false, std::memory_order_acq_rel);
  Completion c;
  for (uint32_t i = 0; i < kDrainBatchMax; ++i) {
    if (!queue_.pop(c)) return;
    Run(c);
  }
  // More than a batch: leave the rest to another drain, after the handlers
  // already queued on this io thread.
  if (!drain_posted_.exchange(true, std::memory_order_acq_rel)) PostDrain();
}

void ReplyInbox::Run(Completion c) {
  // Every completion was announced by Expect (the connection calls it when
  // the engine accepts the request); one more would mean a request
  // completed twice.
  COFFER_ASSERT_MSG(awaited_ > 0, "a completion nobody expected");
  --awaited_;
  c.run(c.arg);
}

}  // namespace coffer::net

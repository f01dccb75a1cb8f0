#include "net/reply_inbox.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>

#include "boost/asio/buffer.hpp"
#include "boost/asio/post.hpp"
#include "common/assert.h"

namespace coffer::net {
namespace {

int MakeEventFd() {
  const int fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  COFFER_ASSERT_MSG(fd >= 0, "eventfd for a reply inbox");
  return fd;
}

}  // namespace

ReplyInbox::ReplyInbox(boost::asio::io_context& io)
    : io_(io), wake_(io, MakeEventFd()) {
  ArmRead();
}

ReplyInbox::~ReplyInbox() {
  boost::system::error_code ignored;
  wake_.close(ignored);
}

void ReplyInbox::Push(Completion c) {
  if (!queue_.bounded_push(c)) {
    boost::asio::post(io_, [this, c] { Run(c); });
    return;
  }
  // acq_rel: whichever drain takes the flag back (an exchange, so it reads
  // this write) is ordered after the push above and so finds the item.
  if (!signalled_.exchange(true, std::memory_order_acq_rel)) Signal();
}

void ReplyInbox::Signal() {
  const uint64_t one = 1;
  ssize_t n;
  do {
    n = ::write(wake_.native_handle(), &one, sizeof one);
  } while (n < 0 && errno == EINTR);
  // The counter cannot overflow (one write per drain, the read resets it),
  // so EAGAIN cannot happen; any failure would strand completions.
  COFFER_ASSERT_MSG(n == sizeof one, "eventfd write for a reply inbox");
}

void ReplyInbox::ArmRead() {
  wake_.async_read_some(boost::asio::buffer(&wake_count_, sizeof wake_count_),
                        [this](const boost::system::error_code& ec, size_t) {
                          if (ec == boost::asio::error::operation_aborted)
                            return;  // closed
                          COFFER_ASSERT_MSG(!ec,
                                            "eventfd read for a reply inbox");
                          Drain();
                          ArmRead();
                        });
}

void ReplyInbox::Drain() {
  // Clear the flag before popping: a push that finds it cleared signals
  // again, one that found it set is seen by the pops below.
  signalled_.exchange(false, std::memory_order_acq_rel);
  Completion c;
  for (uint32_t i = 0; i < kDrainBatchMax; ++i) {
    if (!queue_.pop(c)) return;
    Run(c);
  }
  // More than a batch: leave the rest to another drain, after the handlers
  // already queued on this io thread.
  if (!signalled_.exchange(true, std::memory_order_acq_rel)) Signal();
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

#include "net/io_context_pool.h"

#include <string>

#include "common/thread_name.h"

namespace coffer::net {

IoContextPool::IoContextPool(uint32_t threads) {
  for (uint32_t i = 0; i < threads; ++i) {
    // Concurrency hint 1: each context is run by exactly one thread, so
    // Asio can skip locking inside the scheduler's hot paths where it may.
    contexts_.push_back(std::make_unique<boost::asio::io_context>(1));
    guards_.emplace_back(contexts_.back()->get_executor());
  }
}

IoContextPool::~IoContextPool() {
  Stop();
  Join();
}

void IoContextPool::Start(std::function<void(size_t)> run_context) {
  for (size_t i = 0; i < contexts_.size(); ++i) {
    threads_.emplace_back([this, i, run_context] {
      if (run_context) {
        run_context(i);
      } else {
        contexts_[i]->run();
      }
    });
    NameThread(threads_.back(), "coffer-io-" + std::to_string(i));
  }
}

boost::asio::io_context& IoContextPool::Next() {
  boost::asio::io_context& c = *contexts_[next_];
  next_ = (next_ + 1) % contexts_.size();
  return c;
}

void IoContextPool::Stop() {
  for (auto& c : contexts_) c->stop();
}

void IoContextPool::Join() {
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
  threads_.clear();
}

}  // namespace coffer::net

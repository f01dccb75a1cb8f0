// A pool of io_contexts, each run by one thread (as in Asio's
// io_context_pool example). A connection lives on one io_context for its
// whole life, so its handlers never run concurrently and need no strand.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

#include "boost/asio/executor_work_guard.hpp"
#include "boost/asio/io_context.hpp"

namespace coffer::net {

class IoContextPool {
 public:
  explicit IoContextPool(uint32_t threads);
  ~IoContextPool();  // Stop() and Join()
  IoContextPool(const IoContextPool&) = delete;
  IoContextPool& operator=(const IoContextPool&) = delete;

  // Starts one thread per context. Each runs `run_context(i)`, which must
  // run At(i) until it stops (io_context::run when none is given).
  void Start(std::function<void(size_t)> run_context = nullptr);
  // Round robin; called only by the accepting thread.
  boost::asio::io_context& Next();
  boost::asio::io_context& At(size_t i) { return *contexts_[i]; }
  size_t size() const { return contexts_.size(); }

  // Abandons pending handlers.
  void Stop();
  void Join();

 private:
  using Guard =
      boost::asio::executor_work_guard<boost::asio::io_context::executor_type>;
  std::vector<std::unique_ptr<boost::asio::io_context>> contexts_;
  std::vector<Guard> guards_;
  std::vector<std::thread> threads_;
  size_t next_ = 0;
};

}  // namespace coffer::net

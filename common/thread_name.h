// Names a thread, so that top -H, perf and /proc/<pid>/task/*/comm tell
// Coffer's threads apart (bench/RESULTS.md reads CPU per thread by these
// names).
#pragma once

#include <pthread.h>

#include <string>
#include <string_view>
#include <thread>

namespace coffer {

// Named by the thread that started it, so the name is there as soon as the
// constructor that starts it returns. Linux keeps at most 15 bytes of a
// name: a longer one is cut there.
inline void NameThread(std::thread& thread, std::string_view name) {
  constexpr size_t kNameBytesMax = 15;
  std::string cut(name.substr(0, kNameBytesMax));
  pthread_setname_np(thread.native_handle(), cut.c_str());
}

}  // namespace coffer

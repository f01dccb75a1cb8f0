// One step of a spin-wait: tells the core that this thread is waiting, so a
// sibling hyperthread gets the pipeline and the loop does not flood the
// memory system with loads.
#pragma once

#include <thread>

namespace coffer {

inline void CpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#else
  std::this_thread::yield();
#endif
}

}  // namespace coffer

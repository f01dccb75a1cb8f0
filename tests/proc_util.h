// What the hardening tests measure about this process from /proc: open
// descriptors and resident memory; and the percentile of a latency sample.
#pragma once

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <thread>
#include <vector>

namespace coffer::testing {

// Under AddressSanitizer freed memory sits in a quarantine (up to 256 MiB)
// before it is reused, so resident memory grows without a leak: memory
// bounds are not asserted there (LeakSanitizer checks for leaks instead).
#if defined(__SANITIZE_ADDRESS__)
inline constexpr bool kResidentMemoryIsMeaningful = false;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
inline constexpr bool kResidentMemoryIsMeaningful = false;
#else
inline constexpr bool kResidentMemoryIsMeaningful = true;
#endif
#else
inline constexpr bool kResidentMemoryIsMeaningful = true;
#endif

// The names of this process's threads (/proc/self/task/*/comm).
inline std::vector<std::string> ThreadNames() {
  std::vector<std::string> names;
  for (const auto& task :
       std::filesystem::directory_iterator("/proc/self/task")) {
    std::ifstream comm(task.path() / "comm");
    std::string name;
    if (std::getline(comm, name)) names.push_back(name);
  }
  return names;
}

// Entries of /proc/self/fd (the directory handle itself excluded).
inline size_t OpenDescriptors() {
  size_t n = 0;
  for ([[maybe_unused]] const auto& e :
       std::filesystem::directory_iterator("/proc/self/fd")) {
    ++n;
  }
  return n > 0 ? n - 1 : 0;
}

// What each open descriptor is ("3 -> socket:[123]", one per line): for
// the message of a failed descriptor check.
inline std::string DescribeDescriptors() {
  std::string out;
  for (const auto& e : std::filesystem::directory_iterator("/proc/self/fd")) {
    std::error_code ec;
    const auto target = std::filesystem::read_symlink(e.path(), ec);
    out += e.path().filename().string() + " -> " +
           (ec ? std::string("?") : target.string()) + "\n";
  }
  return out;
}

// Resident set size of this process, from /proc/self/statm.
inline uint64_t ResidentBytes() {
  std::ifstream in("/proc/self/statm");
  uint64_t size_pages = 0, resident_pages = 0;
  in >> size_pages >> resident_pages;
  return resident_pages * static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
}

// The p-th percentile (0 < p <= 1) of `samples` (nearest rank); 0 if empty.
inline double Percentile(std::vector<double> samples, double p) {
  if (samples.empty()) return 0;
  std::sort(samples.begin(), samples.end());
  const size_t rank = static_cast<size_t>(std::ceil(p * samples.size()));
  return samples[std::clamp<size_t>(rank, 1, samples.size()) - 1];
}

// Polls `done` every millisecond until it holds or `timeout` passes; true
// if it held. The way tests wait for asynchronous effects without sleeping
// a fixed time.
inline bool WaitUntil(const std::function<bool()>& done,
                      std::chrono::milliseconds timeout) {
  const auto until = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (done()) return true;
    if (std::chrono::steady_clock::now() >= until) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

// The first IPv4 address of an interface that is up and not loopback
// ("" if there is none): what a test binds to act as a non-loopback
// listener.
inline std::string NonLoopbackIpv4() {
  ifaddrs* all = nullptr;
  if (::getifaddrs(&all) != 0) return "";
  std::string found;
  for (ifaddrs* i = all; i != nullptr && found.empty(); i = i->ifa_next) {
    if (i->ifa_addr == nullptr || i->ifa_addr->sa_family != AF_INET ||
        (i->ifa_flags & IFF_UP) == 0) {
      continue;
    }
    const auto* a = reinterpret_cast<const sockaddr_in*>(i->ifa_addr);
    const uint32_t host_order = ntohl(a->sin_addr.s_addr);
    if ((host_order >> 24) == 127) continue;
    char text[INET_ADDRSTRLEN] = {};
    if (::inet_ntop(AF_INET, &a->sin_addr, text, sizeof text) != nullptr) {
      found = text;
    }
  }
  ::freeifaddrs(all);
  return found;
}

}  // namespace coffer::testing

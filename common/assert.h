// Always-on assertions (TIGER_STYLE): COFFER_ASSERT checks an invariant in
// every build, release included; NDEBUG does not remove it. A violated
// invariant means the process's state is already wrong, so it stops at once
// (fail-stop) rather than carry on and acknowledge, log or reply with bad
// data: one line to stderr, then std::abort(), whose SIGABRT lets a core dump
// be taken. A restart recovers from the log, which only ever holds
// transactions that were checked.
//
// Use it for what the code itself guarantees. Bad input from a client, a
// peer or the disk is an error to report with a Status or a result code,
// never an assertion.
//
// The failure path is a cold function that is never inlined, so the check on
// the hot path is one compare and one branch predicted not taken.
#pragma once

#include <cstdio>
#include <cstdlib>

namespace coffer::detail {

[[noreturn, gnu::cold, gnu::noinline]] inline void AssertFailed(
    const char* expression, const char* message, const char* file,
    int line) noexcept {
  // One write of one whole line, so that lines from threads failing at once
  // do not interleave.
  char text[1024];
  int size;
  if (message != nullptr) {
    size =
        std::snprintf(text, sizeof(text),
                      "coffer: FATAL: invariant violated: %s (%s) at %s:%d\n",
                      expression, message, file, line);
  } else {
    size = std::snprintf(text, sizeof(text),
                         "coffer: FATAL: invariant violated: %s at %s:%d\n",
                         expression, file, line);
  }
  if (size > 0) {
    const size_t length = static_cast<size_t>(size) < sizeof(text)
                              ? static_cast<size_t>(size)
                              : sizeof(text) - 1;
    std::fwrite(text, 1, length, stderr);
    std::fflush(stderr);
  }
  std::abort();
}

}  // namespace coffer::detail

// Stops the process with SIGABRT unless `cond` holds. Always compiled in.
#define COFFER_ASSERT(cond)                                               \
  do {                                                                    \
    if (!(cond)) [[unlikely]] {                                           \
      ::coffer::detail::AssertFailed(#cond, nullptr, __FILE__, __LINE__); \
    }                                                                     \
  } while (false)

// As COFFER_ASSERT, with `msg` (a string literal) saying what went wrong.
#define COFFER_ASSERT_MSG(cond, msg)                                  \
  do {                                                                \
    if (!(cond)) [[unlikely]] {                                       \
      ::coffer::detail::AssertFailed(#cond, msg, __FILE__, __LINE__); \
    }                                                                 \
  } while (false)

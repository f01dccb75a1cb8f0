// COFFER_PREFETCH_OPTIMIZE: put on a function whose job is to issue
// prefetches through absl's raw_hash_set::prefetch.
//
// GCC 12 at -O2 with NDEBUG drops every instruction of that prefetch
// (checked with objdump; -O3 keeps them), so such a function is compiled at
// -O3. Clang has no per-function optimize attribute and keeps the
// prefetches anyway.
#pragma once

#if defined(__GNUC__) && !defined(__clang__)
#define COFFER_PREFETCH_OPTIMIZE __attribute__((optimize("O3")))
#else
#define COFFER_PREFETCH_OPTIMIZE
#endif

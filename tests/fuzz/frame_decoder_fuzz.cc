// libFuzzer entry point; the body is FuzzFrameDecoder
// (frame_decoder_fuzz_body.cc).
#include <cstddef>
#include <cstdint>

#include "tests/fuzz/fuzz_bodies.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  coffer::fuzz::FuzzFrameDecoder(data, size);
  return 0;
}

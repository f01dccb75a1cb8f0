// Comparison of the client's auth token with the server's.
#pragma once

#include <string_view>

namespace coffer::net {

// True iff a == b. The time taken depends only on the lengths (both at
// most kAuthTokenBytesMax after decoding), never on where the first
// differing byte is, so a client cannot find the token byte by byte by
// timing refusals.
bool ConstantTimeEquals(std::string_view a, std::string_view b);

}  // namespace coffer::net

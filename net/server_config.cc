#include "net/server_config.h"

#include <algorithm>
#include <thread>

#include "absl/strings/str_cat.h"
#include "boost/asio/ip/address.hpp"
#include "net/protocol.h"

namespace coffer::net {

bool IsLoopbackAddress(const std::string& address) {
  if (address == "localhost") return true;
  boost::system::error_code ec;
  const auto a = boost::asio::ip::make_address(address, ec);
  if (ec) return false;
  if (a.is_v6() && a.to_v6().is_v4_mapped()) {
    return boost::asio::ip::make_address_v4(boost::asio::ip::v4_mapped,
                                            a.to_v6())
        .is_loopback();
  }
  return a.is_loopback();
}

absl::Status ServerConfig::Validate() const {
  auto bad = [](absl::string_view field, absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat(field, ": ", why));
  };
  boost::system::error_code ec;
  if (listen_address != "localhost") {
    boost::asio::ip::make_address(listen_address, ec);
    if (ec) return bad("listen_address", "not an IP address");
  }
  if (!IsLoopbackAddress(listen_address) && auth_token.empty()) {
    return bad("auth_token",
               absl::StrCat("required to listen on the non-loopback address ",
                            listen_address));
  }
  if (auth_token.size() > kAuthTokenBytesMax) {
    return bad("auth_token",
               absl::StrCat("longer than ", kAuthTokenBytesMax, " bytes"));
  }
  if (max_connections == 0) return bad("max_connections", "must be >= 1");
  if (max_ops_per_request == 0) {
    return bad("max_ops_per_request", "must be >= 1");
  }
  if (max_history_limit == 0) return bad("max_history_limit", "must be >= 1");
  if (protocol_version_min < kVersionMin ||
      protocol_version_min > kVersionMax) {
    return bad("protocol_version_min",
               absl::StrCat("must be ", kVersionMin, "..", kVersionMax));
  }
  if (max_requests_in_flight == 0) {
    return bad("max_requests_in_flight", "must be >= 1");
  }
  if (max_bytes_in_flight == 0)
    return bad("max_bytes_in_flight", "must be >= 1");
  if (max_write_queue_bytes == 0) {
    return bad("max_write_queue_bytes", "must be >= 1");
  }
  if (max_body_bytes < kHelloFixedBytes + kAuthTokenBytesMax) {
    return bad(
        "max_body_bytes",
        absl::StrCat("must be >= ", kHelloFixedBytes + kAuthTokenBytesMax,
                     " (a HELLO with the longest token)"));
  }
  if (max_body_bytes > (256u << 20)) {
    return bad("max_body_bytes", "must be <= 256 MiB");
  }
  if (idle_timeout_ms == 0) return bad("idle_timeout_ms", "must be >= 1");
  if (reply_spin_us > kReplySpinUsMax) {
    return bad("reply_spin_us", absl::StrCat("must be <= ", kReplySpinUsMax,
                                             " (a spin is for one fsync)"));
  }
  if (frame_read_timeout_ms == 0) {
    return bad("frame_read_timeout_ms", "must be >= 1");
  }
  return absl::OkStatus();
}

uint32_t ServerConfig::ResolvedIoThreads() const {
  if (io_threads != 0) return io_threads;
  return std::max(1u, std::thread::hardware_concurrency() / 4);
}

}  // namespace coffer::net

// The frame decoder: the 32-byte header, CheckLayout on arbitrary header
// values, then DecodeBody (and the record decoders the server uses for OPS
// and LOOKUP) on a body of exactly body_bytes, as a connection hands it
// over. What decodes must re-encode to a frame that decodes again to the
// same bytes (encoder and decoder agree on every kind).
#include <cstring>
#include <span>
#include <vector>

#include "net/codec.h"
#include "net/protocol.h"
#include "tests/fuzz/fuzz_bodies.h"

namespace coffer::fuzz {

using net::FrameHeader;
using net::kHeaderBytes;
using net::MessageKind;

void FuzzFrameDecoder(const uint8_t* data, size_t size) {
  if (size < kHeaderBytes) return;
  FrameHeader h = net::DecodeHeader(data);
  uint8_t again[kHeaderBytes];
  net::EncodeHeader(h, again);
  FuzzCheck(std::memcmp(again, data, kHeaderBytes) == 0,
            "header does not re-encode to its own bytes");

  // Layout checks on the header as sent (any count, any body_bytes).
  net::Problem problem;
  (void)net::CheckLayout(h, &problem);
  if (net::IsKnownKind(h.kind)) {
    (void)net::MessageKindName(static_cast<MessageKind>(h.kind));
    (void)net::IsRequestKind(static_cast<MessageKind>(h.kind));
  }

  // A connection hands DecodeBody exactly body_bytes; the rest of the input
  // is the body. (The checksum is the caller's to check; skipping it lets
  // the fuzzer reach the body decoders.)
  const std::span<const uint8_t> body(data + kHeaderBytes, size - kHeaderBytes);
  if (body.size() > UINT32_MAX) return;
  h.body_bytes = static_cast<uint32_t>(body.size());
  net::Message m;
  problem = {};
  if (!net::DecodeBody(h, body, &m, &problem)) {
    FuzzCheck(!problem.message.empty(), "refusal without a message");
    FuzzCheck(static_cast<uint16_t>(problem.code) >= 1 &&
                  static_cast<uint16_t>(problem.code) <= net::kErrorCodeMax,
              "refusal with an undefined error code");
    (void)net::ErrorCodeName(problem.code);
    return;
  }
  FuzzCheck(static_cast<uint16_t>(net::KindOf(m)) == h.kind,
            "decoded message of another kind");
  const auto kind = static_cast<MessageKind>(h.kind);
  if (kind == MessageKind::kOps) {
    std::vector<Op> ops;
    net::DecodeOps(body, &ops);
    FuzzCheck(ops.size() == h.count, "DecodeOps count");
  } else if (kind == MessageKind::kLookup) {
    std::vector<uint64_t> ids;
    net::DecodeAccountIds(body, &ids);
    FuzzCheck(ids.size() == h.count, "DecodeAccountIds count");
  } else if (kind == MessageKind::kError) {
    (void)net::ErrorCodeName(std::get<net::Error>(m).code);
  }

  // Re-encode; the result must be a valid frame of the same kind whose
  // decoding re-encodes to the same bytes.
  std::vector<uint8_t> first;
  net::EncodeFrame(h.request_id, m, first, h.version);
  FuzzCheck(first.size() >= kHeaderBytes, "encoded frame shorter than header");
  const FrameHeader h1 = net::DecodeHeader(first.data());
  const std::span<const uint8_t> body1(first.data() + kHeaderBytes,
                                       first.size() - kHeaderBytes);
  FuzzCheck(h1.magic == net::kMagic && h1.kind == h.kind &&
                h1.request_id == h.request_id && h1.body_bytes == body1.size(),
            "re-encoded header");
  FuzzCheck(h1.body_xxh3 == net::BodyChecksum(body1), "re-encoded checksum");
  net::Message m1;
  FuzzCheck(net::DecodeBody(h1, body1, &m1, &problem),
            "re-encoded frame does not decode");
  std::vector<uint8_t> second;
  net::EncodeFrame(h1.request_id, m1, second, h1.version);
  FuzzCheck(first == second, "encode(decode(encode(m))) != encode(m)");
}

}  // namespace coffer::fuzz

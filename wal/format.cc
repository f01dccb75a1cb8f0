#include "wal/format.h"

// For XXH3_state_t on the stack (no allocation, which could fail, per
// record).
#define XXH_STATIC_LINKING_ONLY
#include <xxhash.h>

#include <cstring>

#include "absl/strings/ascii.h"
#include "absl/strings/str_format.h"

namespace coffer::wal {

void PutU16(char* dst, uint16_t v) {
  for (int i = 0; i < 2; ++i) dst[i] = static_cast<char>(v >> (8 * i));
}
void PutU32(char* dst, uint32_t v) {
  for (int i = 0; i < 4; ++i) dst[i] = static_cast<char>(v >> (8 * i));
}
void PutU64(char* dst, uint64_t v) {
  for (int i = 0; i < 8; ++i) dst[i] = static_cast<char>(v >> (8 * i));
}
uint16_t GetU16(const char* src) {
  uint16_t v = 0;
  for (int i = 1; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(src[i]);
  return v;
}
uint32_t GetU32(const char* src) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(src[i]);
  return v;
}
uint64_t GetU64(const char* src) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(src[i]);
  return v;
}

std::string SegmentFileName(uint64_t first_seq) {
  return absl::StrFormat("wal-%020d.log", first_seq);
}

bool ParseSegmentFileName(std::string_view name, uint64_t* first_seq) {
  constexpr std::string_view kPrefix = "wal-";
  constexpr std::string_view kSuffix = ".log";
  if (name.size() != kPrefix.size() + 20 + kSuffix.size()) return false;
  if (name.substr(0, kPrefix.size()) != kPrefix) return false;
  if (name.substr(name.size() - kSuffix.size()) != kSuffix) return false;
  std::string_view digits = name.substr(kPrefix.size(), 20);
  // 20 digits can exceed UINT64_MAX (18446744073709551615): reject overflow.
  uint64_t v = 0;
  for (char c : digits) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) return false;
    uint64_t d = static_cast<uint64_t>(c - '0');
    if (v > (UINT64_MAX - d) / 10) return false;
    v = v * 10 + d;
  }
  *first_seq = v;
  return true;
}

std::string EncodeSegmentHeader(const SegmentHeader& header) {
  std::string out(kSegmentHeaderBytes, '\0');
  std::memcpy(out.data(), kSegmentMagic.data(), kSegmentMagic.size());
  PutU32(out.data() + 8, kSegmentVersion);
  PutU32(out.data() + 12, static_cast<uint32_t>(kSegmentHeaderBytes));
  PutU64(out.data() + 16, header.first_seq);
  PutU64(out.data() + 24, header.segment_bytes);
  // Bytes 32..55 stay zero (room for later fields without a new layout).
  PutU64(out.data() + kSegmentHeaderChecksummed,
         XXH3_64bits(out.data(), kSegmentHeaderChecksummed));
  return out;
}

bool DecodeSegmentHeader(std::string_view data, SegmentHeader* header,
                         std::string* why) {
  if (data.size() < kSegmentHeaderBytes) {
    *why = absl::StrFormat("segment header needs %d bytes, file has %d",
                           kSegmentHeaderBytes, data.size());
    return false;
  }
  const char* p = data.data();
  uint64_t stored = GetU64(p + kSegmentHeaderChecksummed);
  uint64_t actual = XXH3_64bits(p, kSegmentHeaderChecksummed);
  if (stored != actual) {
    *why = absl::StrFormat(
        "segment header checksum mismatch (stored %016x, computed %016x)",
        stored, actual);
    return false;
  }
  // With a good checksum these can only be wrong if another program (or a
  // future version) wrote the file.
  if (std::string_view(p, 8) != kSegmentMagic) {
    *why = "bad segment magic";
    return false;
  }
  if (GetU32(p + 8) != kSegmentVersion) {
    *why = absl::StrFormat("unsupported segment version %d", GetU32(p + 8));
    return false;
  }
  if (GetU32(p + 12) != kSegmentHeaderBytes) {
    *why =
        absl::StrFormat("unsupported segment header size %d", GetU32(p + 12));
    return false;
  }
  header->first_seq = GetU64(p + 16);
  header->segment_bytes = GetU64(p + 24);
  return true;
}

uint64_t RecordChecksum(std::string_view header24, std::string_view payload) {
  // Small records (the common case: a few transactions) are hashed in one
  // shot from a stack copy, which takes XXH3's fast short-input paths;
  // larger ones stream. Both give the hash of the concatenation.
  constexpr size_t kOneShotMax = 1024;
  if (header24.size() + payload.size() <= kOneShotMax) {
    char buf[kOneShotMax];
    std::memcpy(buf, header24.data(), header24.size());
    if (!payload.empty()) {
      std::memcpy(buf + header24.size(), payload.data(), payload.size());
    }
    return XXH3_64bits(buf, header24.size() + payload.size());
  }
  XXH3_state_t state;
  XXH3_INITSTATE(&state);
  XXH3_64bits_reset(&state);
  XXH3_64bits_update(&state, header24.data(), header24.size());
  XXH3_64bits_update(&state, payload.data(), payload.size());
  return XXH3_64bits_digest(&state);
}

void AppendRecord(std::string* dst, RecordType type, uint64_t first_seq,
                  uint64_t last_seq, std::string_view payload) {
  char header[kRecordHeaderBytes] = {};
  PutU32(header, static_cast<uint32_t>(payload.size()));
  header[4] = static_cast<char>(type);
  // header[5] (u8) and header[6..7] (u16) are reserved and stay zero.
  PutU64(header + 8, first_seq);
  PutU64(header + 16, last_seq);
  PutU64(header + kRecordHeaderChecksummed,
         RecordChecksum(std::string_view(header, kRecordHeaderChecksummed),
                        payload));
  dst->append(header, kRecordHeaderBytes);
  dst->append(payload);
}

RecordHeader DecodeRecordHeader(const char* src) {
  RecordHeader h;
  h.payload_bytes = GetU32(src);
  h.type = static_cast<uint8_t>(src[4]);
  h.reserved8 = static_cast<uint8_t>(src[5]);
  h.reserved16 = GetU16(src + 6);
  h.first_seq = GetU64(src + 8);
  h.last_seq = GetU64(src + 16);
  h.checksum = GetU64(src + 24);
  return h;
}

bool PlausibleRecordHeader(const RecordHeader& h, uint64_t room) {
  return IsKnownRecordType(h.type) && h.reserved8 == 0 && h.reserved16 == 0 &&
         h.payload_bytes <= kMaxPayloadBytes && h.payload_bytes <= room &&
         h.last_seq >= h.first_seq;
}

}  // namespace coffer::wal

// On-disk layout of log segments: constants and record framing. The format
// is specified in wal/FORMAT.md; keep the two in step. Numbers here are
// format: changing one breaks every existing log.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace coffer::wal {

// The payload of a record is opaque to wal/: the engine encodes and decodes
// it. Values are format (append-only).
enum class RecordType : uint8_t { kTransactions = 1 };

// One record as the reader hands it out. `payload` points into the reader's
// buffer and is valid only during the callback.
struct Record {
  RecordType type;
  uint64_t first_seq;
  uint64_t last_seq;
  std::string_view payload;
};

inline constexpr std::string_view kSegmentMagic = "COFFWAL1";
inline constexpr uint32_t kSegmentVersion = 1;
inline constexpr size_t kSegmentHeaderBytes = 64;
// Bytes of the segment header covered by its checksum (the checksum sits
// right after them, at offset 56).
inline constexpr size_t kSegmentHeaderChecksummed = 56;

inline constexpr size_t kRecordHeaderBytes = 32;
// Record header bytes covered by the record checksum, together with the
// payload (the checksum sits right after them, at offset 24).
inline constexpr size_t kRecordHeaderChecksummed = 24;
// A larger payload_bytes is an impossible header. The cap bounds what a
// damaged length field can make the reader believe, and bounds a record to
// what the engine could ever batch.
inline constexpr uint32_t kMaxPayloadBytes = 256u << 20;

inline constexpr bool IsKnownRecordType(uint8_t type) {
  return type == static_cast<uint8_t>(RecordType::kTransactions);
}

// ---- little-endian fixed-width integers --------------------------------
void PutU16(char* dst, uint16_t v);
void PutU32(char* dst, uint32_t v);
void PutU64(char* dst, uint64_t v);
uint16_t GetU16(const char* src);
uint32_t GetU32(const char* src);
uint64_t GetU64(const char* src);

// ---- segment files ------------------------------------------------------
// "wal-<first_seq as 20 decimal digits>.log": names sort in seq order.
std::string SegmentFileName(uint64_t first_seq);
// True for exactly that pattern (temp and renamed-aside files do not match).
bool ParseSegmentFileName(std::string_view name, uint64_t* first_seq);

struct SegmentHeader {
  uint64_t first_seq = 0;
  // The size the writer preallocated for the segment (informational: the
  // reader goes by the file's actual length).
  uint64_t segment_bytes = 0;
};

// The 64-byte header.
std::string EncodeSegmentHeader(const SegmentHeader& header);
// Parses and verifies the first 64 bytes of `data`. On failure returns
// false and says why in *why.
bool DecodeSegmentHeader(std::string_view data, SegmentHeader* header,
                         std::string* why);

// ---- records ------------------------------------------------------------
struct RecordHeader {
  uint32_t payload_bytes = 0;
  uint8_t type = 0;
  uint8_t reserved8 = 0;
  uint16_t reserved16 = 0;
  uint64_t first_seq = 0;
  uint64_t last_seq = 0;
  uint64_t checksum = 0;
};

// XXH3_64bits of the 24 header bytes before the checksum followed by the
// payload (one hash over the concatenation).
uint64_t RecordChecksum(std::string_view header24, std::string_view payload);

// Appends header + payload to *dst.
void AppendRecord(std::string* dst, RecordType type, uint64_t first_seq,
                  uint64_t last_seq, std::string_view payload);

// Reads the 32 bytes at `src` without checking anything.
RecordHeader DecodeRecordHeader(const char* src);

// The checks that need no hashing: known type, zero reserved fields, a
// payload that fits under the cap and in the `room` bytes after the header,
// last_seq >= first_seq.
bool PlausibleRecordHeader(const RecordHeader& h, uint64_t room);

}  // namespace coffer::wal

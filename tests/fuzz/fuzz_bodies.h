// The bodies of Coffer's fuzz targets as plain functions. Each
// <name>_fuzz.cc wraps one in LLVMFuzzerTestOneInput for libFuzzer
// (tools/fuzz); tests/fuzz_corpus_test.cc runs every committed corpus and
// regression input through the same functions in the normal GCC suite, so
// every input that once crashed stays a test in every build.
//
// A body returns normally for any input. A property it checks that does
// not hold is a bug: FuzzCheck prints what and aborts (libFuzzer saves the
// input; the gtest process dies and its test fails).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace coffer::fuzz {

// net/protocol.h header + net/codec.h CheckLayout/DecodeBody/DecodeOps for
// every message kind, and re-encoding what decoded.
void FuzzFrameDecoder(const uint8_t* data, size_t size);
// A real server Connection on a loopback socket fed the input as a client:
// framing, HELLO decoding, version negotiation, the auth check, and what
// follows a handshake.
void FuzzHandshake(const uint8_t* data, size_t size);
// wal::ReadLog (with and without repair) over segments cut from the input,
// each record's payload through engine/log_codec's DecodeRequest.
void FuzzLogReader(const uint8_t* data, size_t size);
// wal::ReadSnapshotFile + engine/snapshot_codec's DecodeSnapshot.
void FuzzSnapshot(const uint8_t* data, size_t size);
// engine/log_codec's DecodeRequest on its own.
void FuzzLogRecord(const uint8_t* data, size_t size);

// Aborts with `what` when `ok` is false.
void FuzzCheck(bool ok, std::string_view what);

}  // namespace coffer::fuzz

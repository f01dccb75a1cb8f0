// Replays every committed fuzz input through the fuzz targets' bodies
// (tests/fuzz/fuzz_bodies.h): the seed corpora in tests/fuzz/corpus/<target>
// and every input that once crashed or hung, kept in
// tests/fuzz/regressions/<target>. A body aborts on a broken property, and
// this binary runs in the ASan and TSan builds too, so each past finding
// stays a test in every build.
#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/fuzz/fuzz_bodies.h"

namespace coffer::fuzz {
namespace {

namespace fs = std::filesystem;

std::vector<fs::path> InputsOf(const std::string& subdir,
                               const std::string& target) {
  std::vector<fs::path> files;
  const fs::path dir = fs::path(COFFER_FUZZ_DIR) / subdir / target;
  if (!fs::is_directory(dir)) return files;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.is_regular_file()) files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  return files;
}

std::vector<uint8_t> ReadAll(const fs::path& path) {
  std::ifstream f(path, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(f), {});
}

void Replay(const std::string& target, void (*body)(const uint8_t*, size_t)) {
  const std::vector<fs::path> corpus = InputsOf("corpus", target);
  ASSERT_FALSE(corpus.empty())
      << "no seed corpus in " << COFFER_FUZZ_DIR << "/corpus/" << target;
  std::vector<fs::path> all = corpus;
  const std::vector<fs::path> regressions = InputsOf("regressions", target);
  all.insert(all.end(), regressions.begin(), regressions.end());
  for (const fs::path& path : all) {
    SCOPED_TRACE(path.string());
    const std::vector<uint8_t> input = ReadAll(path);
    body(input.data(), input.size());  // aborts on a broken property
  }
  // Empty input and one byte: every body must shrug them off.
  const uint8_t zero = 0;
  body(&zero, 0);
  body(&zero, 1);
}

TEST(FuzzCorpusTest, FrameDecoder) {
  Replay("frame_decoder", FuzzFrameDecoder);
}
TEST(FuzzCorpusTest, Handshake) { Replay("handshake", FuzzHandshake); }
TEST(FuzzCorpusTest, LogReader) { Replay("log_reader", FuzzLogReader); }
TEST(FuzzCorpusTest, Snapshot) { Replay("snapshot", FuzzSnapshot); }
TEST(FuzzCorpusTest, LogRecord) { Replay("log_record", FuzzLogRecord); }

}  // namespace
}  // namespace coffer::fuzz

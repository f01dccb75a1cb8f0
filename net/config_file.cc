#include "net/config_file.h"

#include <algorithm>
#include <fstream>
#include <sstream>

#include "absl/flags/commandlineflag.h"
#include "absl/flags/reflection.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace coffer::net {

std::string FindFlagInArgv(int argc, char** argv, const std::string& flag) {
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    if (a == "--") break;
    if (absl::StartsWith(absl::string_view(a.data(), a.size()), "--")) {
      a.remove_prefix(2);
    } else if (!a.empty() && a[0] == '-') {
      a.remove_prefix(1);
    } else {
      continue;
    }
    if (a == flag && i + 1 < argc) return argv[i + 1];
    if (a.size() > flag.size() && a.substr(0, flag.size()) == flag &&
        a[flag.size()] == '=') {
      return std::string(a.substr(flag.size() + 1));
    }
  }
  return "";
}

absl::Status ApplyConfigText(const std::string& path, const std::string& text,
                             const std::vector<std::string>& allowed) {
  int line_number = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_number;
    line = absl::StripAsciiWhitespace(line);
    if (line.empty() || line[0] == '#') continue;
    auto where = [&] { return absl::StrCat(path, ":", line_number, ": "); };
    const size_t eq = line.find('=');
    if (eq == absl::string_view::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat(where(), "expected `name = value`"));
    }
    const std::string name(absl::StripAsciiWhitespace(line.substr(0, eq)));
    const absl::string_view value =
        absl::StripAsciiWhitespace(line.substr(eq + 1));
    if (std::find(allowed.begin(), allowed.end(), name) == allowed.end()) {
      return absl::InvalidArgumentError(
          absl::StrCat(where(), "unknown setting '", name, "'"));
    }
    absl::CommandLineFlag* flag = absl::FindCommandLineFlag(name);
    std::string error;
    if (flag == nullptr || !flag->ParseFrom(value, &error)) {
      return absl::InvalidArgumentError(
          absl::StrCat(where(), name, ": ", error));
    }
  }
  return absl::OkStatus();
}

absl::Status ApplyConfigFile(const std::string& path,
                             const std::vector<std::string>& allowed) {
  std::ifstream in(path);
  if (!in) {
    return absl::NotFoundError(absl::StrCat("cannot read config file ", path));
  }
  std::stringstream text;
  text << in.rdbuf();
  return ApplyConfigText(path, text.str(), allowed);
}

}  // namespace coffer::net

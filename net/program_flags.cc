#include "net/program_flags.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <string_view>

#include "absl/flags/commandlineflag.h"
#include "absl/flags/reflection.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace coffer::net {
namespace {

[[noreturn]] void UsageError(const char* program, const std::string& what) {
  std::fprintf(stderr, "%s: %s (see --help)\n", program, what.c_str());
  std::exit(2);
}

void PrintHelp(const std::string& usage, const std::string& flags_under) {
  std::printf("%s\n\nFlags:\n", usage.c_str());
  std::vector<absl::CommandLineFlag*> flags;
  for (const auto& [name, flag] : absl::GetAllFlags()) {
    if (absl::StrContains(flag->Filename(), flags_under)) {
      flags.push_back(flag);
    }
  }
  std::sort(flags.begin(), flags.end(),
            [](auto* a, auto* b) { return a->Name() < b->Name(); });
  for (const absl::CommandLineFlag* f : flags) {
    std::printf("  --%s (default: %s)\n      %s\n",
                std::string(f->Name()).c_str(),
                f->DefaultValue().empty() ? "\"\"" : f->DefaultValue().c_str(),
                f->Help().c_str());
  }
}

// "-5", "-0x10": an operand (a negative number, which the program then
// refuses with a message about its range), not a flag named "5".
bool LooksLikeNegativeNumber(std::string_view arg) {
  return arg.size() >= 2 && arg[0] == '-' && arg[1] >= '0' && arg[1] <= '9';
}

template <typename T>
bool RangeOf(const absl::CommandLineFlag& flag, std::string* range) {
  if (!flag.IsOfType<T>()) return false;
  *range = absl::StrCat("from ", std::numeric_limits<T>::min(), " to ",
                        std::numeric_limits<T>::max());
  return true;
}

// Abseil's own message for a bad integer ("Illegal value '-5' specified for
// flag 'op_id'") does not say what is allowed; this one does.
std::string BadValueMessage(const absl::CommandLineFlag& flag,
                            const std::string& value,
                            const std::string& error) {
  std::string range;
  if (RangeOf<uint64_t>(flag, &range) || RangeOf<int64_t>(flag, &range) ||
      RangeOf<uint32_t>(flag, &range) || RangeOf<int32_t>(flag, &range) ||
      RangeOf<uint16_t>(flag, &range) || RangeOf<int16_t>(flag, &range)) {
    return absl::StrCat("--", flag.Name(), " must be a whole number ", range,
                        "; got '", value, "'");
  }
  return absl::StrCat("--", flag.Name(), ": ", error);
}

}  // namespace

std::vector<std::string> ParseProgramFlags(int argc, char** argv,
                                           const std::string& usage,
                                           const std::string& flags_under) {
  const char* program = argc > 0 ? argv[0] : "coffer";
  if (const char* slash = std::strrchr(program, '/')) program = slash + 1;
  std::vector<std::string> positional;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "--") {
      for (++i; i < argc; ++i) positional.emplace_back(argv[i]);
      break;
    }
    if (arg.size() < 2 || arg[0] != '-' || LooksLikeNegativeNumber(arg)) {
      positional.emplace_back(arg);
      continue;
    }
    arg.remove_prefix(arg[1] == '-' ? 2 : 1);
    const size_t eq = arg.find('=');
    const std::string name(arg.substr(0, eq));
    const bool has_value = eq != std::string_view::npos;
    std::string value(has_value ? arg.substr(eq + 1) : std::string_view());
    if (name == "help" || name == "h" || name == "helpfull" ||
        name == "helpshort") {
      PrintHelp(usage, flags_under);
      std::exit(0);
    }
    absl::CommandLineFlag* flag = absl::FindCommandLineFlag(name);
    if (flag == nullptr && !has_value && name.size() > 2 &&
        name.compare(0, 2, "no") == 0) {
      absl::CommandLineFlag* negated =
          absl::FindCommandLineFlag(name.substr(2));
      if (negated != nullptr && negated->IsOfType<bool>()) {
        flag = negated;
        value = "false";
      }
    }
    if (flag == nullptr || flag->IsRetired()) {
      UsageError(program, "unknown flag --" + name);
    }
    if (!has_value && value.empty()) {
      if (flag->IsOfType<bool>()) {
        value = "true";
      } else if (i + 1 < argc) {
        value = argv[++i];
      } else {
        UsageError(program, "--" + name + " needs a value");
      }
    }
    std::string error;
    if (!flag->ParseFrom(value, &error)) {
      UsageError(program, BadValueMessage(*flag, value, error));
    }
  }
  return positional;
}

}  // namespace coffer::net

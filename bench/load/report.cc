#include "bench/load/report.h"

#include <algorithm>
#include <fstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "engine/types.h"

namespace coffer::bench {
namespace {

double Us(uint64_t ns) { return ns / 1000.0; }

std::string CodeName(size_t i) {
  if (i == 255) return "unknown";
  const auto code = static_cast<ResultCode>(i);
  if (i > kResultCodeMax) return absl::StrCat("code_", i);
  return std::string(ResultCodeName(code));
}

std::string Number(double v) { return absl::StrFormat("%.3f", v); }

}  // namespace

MachineInfo ReadMachineInfo() {
  MachineInfo m;
  m.nproc = std::thread::hardware_concurrency();
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) == 0) {
      const size_t colon = line.find(':');
      if (colon != std::string::npos) {
        m.cpu_model = line.substr(line.find_first_not_of(" \t", colon + 1));
      }
      break;
    }
  }
  return m;
}

std::string JsonString(const std::string& s) {
  std::string out = "\"";
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20) {
          out += absl::StrFormat("\\u%04x", c);
        } else {
          out += ch;
        }
    }
  }
  return out + "\"";
}

std::string FormatSummary(const RunResult& r) {
  std::string s;
  absl::StrAppend(&s, "target     ", r.target_name, ": ", r.target_settings,
                  "\n");
  absl::StrAppendFormat(
      &s, "measured   %u ops in %u requests over %.3f s (setup %.2f s)\n",
      r.ops, r.requests, r.elapsed_s, r.setup_s);
  absl::StrAppendFormat(&s, "throughput %.0f ops/s, %.0f requests/s\n",
                        r.ops_per_s, r.requests_per_s);
  const LogHistogram& h = r.latency_ns;
  absl::StrAppendFormat(
      &s,
      "latency    per request, us: p50 %.1f  p90 %.1f  p99 %.1f  p99.9 %.1f  "
      "max %.1f\n",
      Us(h.Quantile(0.5)), Us(h.Quantile(0.9)), Us(h.Quantile(0.99)),
      Us(h.Quantile(0.999)), Us(h.max()));
  if (r.send_lag_ns.count() > 0) {
    absl::StrAppendFormat(
        &s,
        "send lag   open loop, us after the intended time: p50 %.1f  p99 "
        "%.1f  max %.1f\n",
        Us(r.send_lag_ns.Quantile(0.5)), Us(r.send_lag_ns.Quantile(0.99)),
        Us(r.send_lag_ns.max()));
  }
  absl::StrAppend(&s, "codes      ");
  bool first = true;
  for (size_t i = 0; i < r.codes.size(); ++i) {
    if (r.codes[i] == 0) continue;
    absl::StrAppend(&s, first ? "" : ", ", CodeName(i), " ", r.codes[i]);
    first = false;
  }
  absl::StrAppend(&s, first ? "(none)" : "", "  (", r.ops_total,
                  " answered, warm-up included)\n");
  absl::StrAppend(&s, "duplicates ", r.duplicates, " (resent ", r.retries_sent,
                  ", of which ", r.retries_sent_in_flight,
                  " before the original's answer)\n");
  if (r.client_calls > 0) {
    absl::StrAppendFormat(&s,
                          "client     %u calls in %u request frames (%.2f "
                          "calls per frame, warm-up included)\n",
                          r.client_calls, r.client_frames,
                          static_cast<double>(r.client_calls) /
                              std::max<uint64_t>(1, r.client_frames));
  }
  absl::StrAppend(&s, "errors     ", r.errors, "\n");
  for (const std::string& m : r.error_messages) {
    absl::StrAppend(&s, "           ", m, "\n");
  }
  if (r.check.performed) {
    absl::StrAppend(&s, "check      ", r.check.ok ? "passed" : "FAILED", ": ",
                    r.check.accounts, " accounts, total ", r.check.actual_total,
                    " (expected ", r.check.expected_total, "), ",
                    r.check.mismatches, " mismatches, ", r.check.negative,
                    " negative\n");
    for (const std::string& d : r.check.details) {
      absl::StrAppend(&s, "           ", d, "\n");
    }
  } else {
    absl::StrAppend(&s, "check      not performed\n");
  }
  if (r.valid) {
    absl::StrAppend(&s, "result     valid\n");
  } else {
    absl::StrAppend(&s, "result     NOT VALID, not a result:\n");
    for (const std::string& why : r.invalid_reasons) {
      absl::StrAppend(&s, "           ", why, "\n");
    }
  }
  return s;
}

std::string FormatJson(const JsonFields& config, const MachineInfo& machine,
                       const RunResult& r) {
  std::string s = "{\n  \"config\": {";
  for (size_t i = 0; i < config.size(); ++i) {
    absl::StrAppend(&s, i == 0 ? "" : ", ", JsonString(config[i].first), ": ",
                    config[i].second);
  }
  absl::StrAppend(&s,
                  "},\n  \"target\": {\"name\": ", JsonString(r.target_name),
                  ", \"settings\": ", JsonString(r.target_settings),
                  ", \"shards\": ", r.shard_count, "},\n");
  absl::StrAppend(&s, "  \"machine\": {\"nproc\": ", machine.nproc,
                  ", \"cpu_model\": ", JsonString(machine.cpu_model), "},\n");
  const LogHistogram& h = r.latency_ns;
  absl::StrAppend(&s, "  \"results\": {\n");
  absl::StrAppend(&s, "    \"ops\": ", r.ops, ", \"requests\": ", r.requests,
                  ", \"elapsed_s\": ", Number(r.elapsed_s),
                  ", \"setup_s\": ", Number(r.setup_s),
                  ", \"threads\": ", r.threads,
                  ", \"first_account\": ", r.first_account, ",\n");
  absl::StrAppend(&s, "    \"ops_per_s\": ", Number(r.ops_per_s),
                  ", \"requests_per_s\": ", Number(r.requests_per_s), ",\n");
  absl::StrAppend(&s,
                  "    \"latency_us\": {\"p50\": ", Number(Us(h.Quantile(0.5))),
                  ", \"p90\": ", Number(Us(h.Quantile(0.9))),
                  ", \"p99\": ", Number(Us(h.Quantile(0.99))),
                  ", \"p999\": ", Number(Us(h.Quantile(0.999))),
                  ", \"max\": ", Number(Us(h.max())),
                  ", \"mean\": ", Number(h.mean() / 1000.0), "},\n");
  const LogHistogram& lag = r.send_lag_ns;
  absl::StrAppend(
      &s, "    \"send_lag_us\": {\"p50\": ", Number(Us(lag.Quantile(0.5))),
      ", \"p99\": ", Number(Us(lag.Quantile(0.99))),
      ", \"max\": ", Number(Us(lag.max())), "},\n");
  absl::StrAppend(&s, "    \"codes\": {");
  bool first = true;
  for (size_t i = 0; i < r.codes.size(); ++i) {
    if (r.codes[i] == 0) continue;
    absl::StrAppend(&s, first ? "" : ", ", JsonString(CodeName(i)), ": ",
                    r.codes[i]);
    first = false;
  }
  absl::StrAppend(&s, "},\n    \"ops_total\": ", r.ops_total,
                  ", \"duplicates\": ", r.duplicates,
                  ", \"retries_sent\": ", r.retries_sent,
                  ", \"retries_sent_in_flight\": ", r.retries_sent_in_flight,
                  ", \"unexpected_codes\": ", r.unexpected_codes,
                  ", \"errors\": ", r.errors,
                  ", \"client_frames\": ", r.client_frames,
                  ", \"client_calls\": ", r.client_calls, ",\n");
  absl::StrAppend(&s, "    \"error_messages\": [");
  for (size_t i = 0; i < r.error_messages.size(); ++i) {
    absl::StrAppend(&s, i == 0 ? "" : ", ", JsonString(r.error_messages[i]));
  }
  absl::StrAppend(&s, "],\n    \"check\": {\"performed\": ",
                  r.check.performed ? "true" : "false",
                  ", \"ok\": ", r.check.ok ? "true" : "false",
                  ", \"accounts\": ", r.check.accounts,
                  ", \"mismatches\": ", r.check.mismatches,
                  ", \"negative\": ", r.check.negative,
                  ", \"expected_total\": ", r.check.expected_total,
                  ", \"actual_total\": ", r.check.actual_total,
                  ", \"details\": [");
  for (size_t i = 0; i < r.check.details.size(); ++i) {
    absl::StrAppend(&s, i == 0 ? "" : ", ", JsonString(r.check.details[i]));
  }
  absl::StrAppend(&s, "]}\n  },\n  \"valid\": ", r.valid ? "true" : "false",
                  ",\n  \"invalid_reasons\": [");
  for (size_t i = 0; i < r.invalid_reasons.size(); ++i) {
    absl::StrAppend(&s, i == 0 ? "" : ", ", JsonString(r.invalid_reasons[i]));
  }
  absl::StrAppend(&s, "]\n}\n");
  return s;
}

}  // namespace coffer::bench

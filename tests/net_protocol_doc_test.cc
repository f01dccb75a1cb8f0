// net/PROTOCOL.md is checked against the code: its code tables against the
// enums, and each worked hex example byte for byte against what the codec
// writes for the same message (and decodes back to it). On a mismatch the test
// prints the block the document should contain (with its field annotations),
// which is also how the blocks were written in the first place.
#include <cctype>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "engine/engine.h"
#include "engine/latency_histogram.h"
#include "gtest/gtest.h"
#include "net/codec.h"

namespace coffer::net {
namespace {

struct Field {
  size_t bytes;
  std::string name;
};

struct Example {
  std::string name;
  uint64_t request_id;
  Message message;
  std::vector<Field> body;  // annotation of the body, in order
};

std::vector<Field> OpFields(const std::string& prefix, const Op& op) {
  return {
      {8, prefix + "op_id " + std::to_string(op.op_id)},
      {8, prefix + "account_id " + std::to_string(op.account_id)},
      {8, prefix + "other_account_id " + std::to_string(op.other_account_id)},
      {8, prefix + "amount " + std::to_string(op.amount)},
      {8, prefix + "aux " + std::to_string(op.aux)},
      {8, prefix + "user_data " + std::to_string(op.user_data)},
      {4, prefix + "reason " + std::to_string(op.reason)},
      {4, prefix + "currency " + std::to_string(op.currency)},
      {4, prefix + "account_flags " + std::to_string(op.account_flags)},
      {1, prefix + "kind " + std::to_string(static_cast<int>(op.kind)) + " (" +
              std::string(OpKindName(op.kind)) + ")"},
      {1, prefix + "reserved"},
      {2, prefix + "flags " + std::to_string(op.flags) +
              (op.flags & kOpFlagLinked ? " (linked)" : "")}};
}

std::vector<Field> ResultFields(const std::string& prefix, const OpResult& r) {
  return {{2, prefix + "code " + std::to_string(static_cast<int>(r.code)) +
                  " (" + std::string(ResultCodeName(r.code)) + ")"},
          {2, prefix + "flags " + std::to_string(r.flags)},
          {4, prefix + "reserved"},
          {8, prefix + "balance_after " + std::to_string(r.balance_after)},
          {8, prefix + "seq " + std::to_string(r.seq)}};
}

std::vector<Example> Examples() {
  std::vector<Example> all;
  all.push_back({"hello",
                 1,
                 Hello{1, 2, "s3cret"},
                 {{2, "min_version 1"},
                  {2, "max_version 2"},
                  {2, "token_bytes 6"},
                  {2, "reserved"},
                  {6, "auth token \"s3cret\""}}});
  all.push_back({"hello_ok",
                 1,
                 HelloOk{2, 4, 1u << 20, 8192, 128, 1000},
                 {{2, "version 2"},
                  {2, "reserved"},
                  {4, "shard_count 4"},
                  {4, "max_body_bytes 1048576"},
                  {4, "max_ops_per_request 8192"},
                  {4, "max_requests_in_flight 128"},
                  {4, "max_history_limit 1000"}}});
  // A purchase as one linked chain: pay 120 gems to the shop, then credit
  // the item token. Both apply or neither does.
  Op pay;
  pay.op_id = 0x5001;
  pay.kind = OpKind::kTransfer;
  pay.account_id = 2001;
  pay.other_account_id = 2002;
  pay.amount = 120;
  pay.reason = 7;
  pay.user_data = 0xABCD;
  pay.flags = kOpFlagLinked;
  Op item;
  item.op_id = 0x5002;
  item.kind = OpKind::kCredit;
  item.account_id = 2003;
  item.amount = 1;
  item.reason = 7;
  std::vector<Field> v1_body = OpFields("op[0] ", pay);
  const std::vector<Field> second = OpFields("op[1] ", item);
  v1_body.insert(v1_body.end(), second.begin(), second.end());
  // Issued 2026-12-01T20:00:00Z.
  const uint64_t issued_ns = 1'796'155'200'000'000'000;
  std::vector<Field> ops_body = {{8, "issued_ns " + std::to_string(issued_ns) +
                                         " (2026-12-01T20:00:00Z)"}};
  ops_body.insert(ops_body.end(), v1_body.begin(), v1_body.end());
  all.push_back({"ops", 2, OpsRequest{{pay, item}, issued_ns}, ops_body});
  all.push_back({"ops_v1", 2, OpsRequest{{pay, item}}, v1_body});
  const OpResult paid{ResultCode::kOk, 0, 0, 380, 41};
  const OpResult credited{ResultCode::kOk, 0, 0, 1, 42};
  std::vector<Field> reply_body = ResultFields("result[0] ", paid);
  const std::vector<Field> r1 = ResultFields("result[1] ", credited);
  reply_body.insert(reply_body.end(), r1.begin(), r1.end());
  all.push_back({"ops_reply", 2, OpsReply{{paid, credited}}, reply_body});
  // Then a debit of 500 from 2001 (op id 0x5003) is refused at seq 43,
  // balance 380; this is the answer to its retry.
  const OpResult refused{ResultCode::kInsufficientFunds, kResultFlagDuplicate,
                         0, 380, 43};
  all.push_back({"ops_reply_refused", 3, OpsReply{{refused}},
                 ResultFields("result[0] ", refused)});
  all.push_back({"lookup", 4, LookupRequest{{2001}}, {{8, "account_id 2001"}}});
  AccountInfo a;
  a.id = 2001;
  a.balance = 380;
  a.held = 0;
  a.currency = 2;
  a.history_count = 3;  // create, credit 500, transfer_out 120
  all.push_back({"lookup_reply",
                 4,
                 LookupReply{43, {a}},
                 {{8, "seq 43 (the read reflects ops 1..43)"},
                  {8, "account[0] id 2001"},
                  {8, "account[0] balance 380"},
                  {8, "account[0] held 0"},
                  {8, "account[0] overdraft_limit 0"},
                  {8, "account[0] balance_cap 0"},
                  {4, "account[0] currency 2"},
                  {4, "account[0] flags 0"},
                  {4, "account[0] history_count 3"},
                  {4, "account[0] reserved"}}});
  all.push_back({"history",
                 5,
                 HistoryRequest{2001, 0, 20},
                 {{8, "account_id 2001"},
                  {4, "before 0 (from the newest)"},
                  {4, "limit 20"},
                  {8, "timestamp_min_ns 0 (no bound)"},
                  {8, "timestamp_max_ns 0 (no bound)"},
                  {4, "reason 0"},
                  {4, "filter_flags 0"}}});
  // The purchases of reason 7 on 2026-12-01 (UTC), newest first.
  all.push_back(
      {"history_filtered",
       8,
       HistoryRequest{
           2001,
           0,
           20,
           {1'796'083'200'000'000'000, 1'796'169'599'999'999'999, 7, true}},
       {{8, "account_id 2001"},
        {4, "before 0 (from the newest)"},
        {4, "limit 20"},
        {8,
         "timestamp_min_ns 1796083200000000000 "
         "(2026-12-01T00:00:00Z)"},
        {8, "timestamp_max_ns 1796169599999999999 (the day's last ns)"},
        {4, "reason 7"},
        {4, "filter_flags 1 (reason)"}}});
  all.push_back({"ping", 6, Ping{}, {}});
  // One sample each: every quantile is the exact max.
  std::vector<Field> stages_body;
  const StagesReply stages{
      {{1, 1, 2150, 2150, 2150, 2150}, {6, 1, 812000, 812000, 812000, 812000}}};
  for (size_t i = 0; i < stages.stages.size(); ++i) {
    const StageRecord& r = stages.stages[i];
    const std::string at = "stage[" + std::to_string(i) + "] ";
    const std::vector<Field> fields = {
        {2, at + "stage " + std::to_string(r.stage) + " (" +
                std::string(StageName(static_cast<Stage>(r.stage))) + ")"},
        {2, at + "reserved"},
        {4, at + "reserved"},
        {8, at + "count " + std::to_string(r.count)},
        {8, at + "p50_ns " + std::to_string(r.p50_ns)},
        {8, at + "p99_ns " + std::to_string(r.p99_ns)},
        {8, at + "p999_ns " + std::to_string(r.p999_ns)},
        {8, at + "max_ns " + std::to_string(r.max_ns)}};
    stages_body.insert(stages_body.end(), fields.begin(), fields.end());
  }
  all.push_back({"stages_reply", 7, stages, stages_body});
  const std::string msg = "bad magic 0x4f4c4c45, expected 0x52464f43";
  all.push_back({"error",
                 0,
                 Error{ErrorCode::kBadMagic, kErrorFlagClosing, msg},
                 {{2, "code 1 (bad_magic)"},
                  {2, "flags 1 (closing)"},
                  {4, "message_bytes " + std::to_string(msg.size())},
                  {msg.size(), "message \"" + msg + "\""}}});
  return all;
}

// The block PROTOCOL.md should hold for `e`: one line per field.
std::string Annotated(const Example& e, const std::vector<uint8_t>& bytes) {
  const FrameHeader h = DecodeHeader(bytes.data());
  std::vector<Field> fields = {
      {4, "magic \"COFR\""},
      {2, "version " + std::to_string(h.version)},
      {2, absl::StrFormat(
              "kind 0x%02x (%s)", h.kind,
              std::string(MessageKindName(static_cast<MessageKind>(h.kind))))},
      {8, "request_id " + std::to_string(h.request_id)},
      {4, "count " + std::to_string(h.count)},
      {4, "body_bytes " + std::to_string(h.body_bytes)},
      {8, absl::StrFormat("body_xxh3 0x%016x", h.body_xxh3)}};
  fields.insert(fields.end(), e.body.begin(), e.body.end());
  std::string out;
  size_t at = 0;
  for (const Field& f : fields) {
    // Long fields wrap at 16 bytes a line; the name goes on the first.
    for (size_t line = 0; line < f.bytes; line += 16) {
      std::string hex;
      for (size_t i = line; i < std::min(f.bytes, line + 16); ++i) {
        absl::StrAppendFormat(&hex, "%02x ", bytes.at(at + i));
      }
      std::string text =
          absl::StrFormat("%-49s%s", hex, line == 0 ? f.name : "");
      text.erase(text.find_last_not_of(' ') + 1);
      out += text + "\n";
    }
    at += f.bytes;
  }
  EXPECT_EQ(at, bytes.size()) << "annotation of " << e.name;
  return out;
}

// name -> bytes of every `<!-- example: name -->` block in the document.
std::map<std::string, std::vector<uint8_t>> DocumentBlocks(
    const std::string& text) {
  std::map<std::string, std::vector<uint8_t>> blocks;
  std::istringstream in(text);
  std::string line, current;
  bool inside = false;
  const std::string marker = "<!-- example: ";
  while (std::getline(in, line)) {
    if (line.rfind(marker, 0) == 0) {
      current = line.substr(marker.size(), line.find(" -->") - marker.size());
      blocks[current];
      continue;
    }
    if (line.rfind("```", 0) == 0) {
      if (inside) current.clear();
      inside = !inside && !current.empty();
      continue;
    }
    if (!inside) continue;
    // Leading two-digit hex tokens are bytes; the rest is annotation.
    std::istringstream tokens(line);
    std::string t;
    while (tokens >> t && t.size() == 2 && std::isxdigit(t[0]) &&
           std::isxdigit(t[1])) {
      blocks[current].push_back(
          static_cast<uint8_t>(std::stoul(t, nullptr, 16)));
    }
  }
  return blocks;
}

std::string ReadDocument() {
  const std::filesystem::path doc =
      std::filesystem::path(COFFER_SOURCE_DIR) / "net" / "PROTOCOL.md";
  std::ifstream in(doc);
  EXPECT_TRUE(in) << "cannot read " << doc;
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// number -> name for the rows of the table after `<!-- table: name -->`
// (first column a number, decimal or 0x hex; second the name).
std::map<uint32_t, std::string> DocumentTable(const std::string& text,
                                              const std::string& table) {
  std::map<uint32_t, std::string> rows;
  const size_t at = text.find("<!-- table: " + table + " -->");
  EXPECT_NE(at, std::string::npos) << "no table " << table;
  if (at == std::string::npos) return rows;
  std::istringstream in(text.substr(at));
  std::string line;
  std::getline(in, line);  // the marker
  while (std::getline(in, line) && !line.empty() && line[0] == '|') {
    std::vector<std::string> cells;
    std::istringstream cols(line.substr(1));
    std::string cell;
    while (std::getline(cols, cell, '|')) {
      cell.erase(0, cell.find_first_not_of(' '));
      cell.erase(cell.find_last_not_of(' ') + 1);
      cells.push_back(cell);
    }
    if (cells.size() < 2 || cells[0].empty() ||
        !std::isdigit(static_cast<unsigned char>(cells[0][0]))) {
      continue;  // header or separator
    }
    rows[static_cast<uint32_t>(std::stoul(cells[0], nullptr, 0))] = cells[1];
  }
  return rows;
}

TEST(NetProtocolDoc, CodeTablesMatchTheSource) {
  const std::string text = ReadDocument();
  auto results = DocumentTable(text, "result_codes");
  EXPECT_EQ(results.size(), kResultCodeMax + 1u);
  for (uint16_t c = 0; c <= kResultCodeMax; ++c) {
    EXPECT_EQ(results[c], ResultCodeName(static_cast<ResultCode>(c))) << c;
  }
  auto errors = DocumentTable(text, "error_codes");
  EXPECT_EQ(errors.size(), kErrorCodeMax + 0u);
  for (uint16_t c = 1; c <= kErrorCodeMax; ++c) {
    EXPECT_EQ(errors[c], ErrorCodeName(static_cast<ErrorCode>(c))) << c;
  }
  auto kinds = DocumentTable(text, "message_kinds");
  size_t known = 0;
  for (uint32_t k = 0; k <= 0xFFFF; ++k) {
    if (!IsKnownKind(static_cast<uint16_t>(k))) continue;
    ++known;
    EXPECT_EQ(kinds[k], MessageKindName(static_cast<MessageKind>(k))) << k;
  }
  EXPECT_EQ(kinds.size(), known);
  auto ops = DocumentTable(text, "op_kinds");
  EXPECT_EQ(ops.size(), kOpKindMax + 0u);
  for (uint8_t k = 1; k <= kOpKindMax; ++k) {
    EXPECT_EQ(ops[k], OpKindName(static_cast<OpKind>(k))) << int{k};
  }
  auto stages = DocumentTable(text, "stages");
  EXPECT_EQ(stages.size(), kStageMax + 0u);
  for (uint16_t k = 1; k <= kStageMax; ++k) {
    EXPECT_EQ(stages[k], StageName(static_cast<Stage>(k))) << k;
  }
  auto entries = DocumentTable(text, "entry_kinds");
  EXPECT_EQ(entries.size(), 10u);
  for (uint8_t k = 1; k <= 10; ++k) {
    EXPECT_EQ(entries[k], EntryKindName(static_cast<EntryKind>(k))) << int{k};
  }
}

TEST(NetProtocolDoc, HexExamplesMatchTheCodec) {
  const auto blocks = DocumentBlocks(ReadDocument());
  for (const Example& e : Examples()) {
    SCOPED_TRACE(e.name);
    // Examples named *_v1 are frames of protocol version 1.
    const uint16_t version = e.name.ends_with("_v1") ? 1 : kVersionMax;
    std::vector<uint8_t> bytes;
    EncodeFrame(e.request_id, e.message, bytes, version);
    auto it = blocks.find(e.name);
    const bool matches = it != blocks.end() && it->second == bytes;
    EXPECT_TRUE(matches) << "PROTOCOL.md should contain:\n<!-- example: "
                         << e.name << " -->\n```\n"
                         << Annotated(e, bytes) << "```\n";
    if (!matches) continue;
    // And the document's bytes decode to the message.
    const FrameHeader h = DecodeHeader(it->second.data());
    const std::span<const uint8_t> body(it->second.data() + kHeaderBytes,
                                        h.body_bytes);
    EXPECT_EQ(BodyChecksum(body), h.body_xxh3);
    Message back;
    Problem problem;
    ASSERT_TRUE(DecodeBody(h, body, &back, &problem)) << problem.message;
    std::vector<uint8_t> again;
    EncodeFrame(h.request_id, back, again, h.version);
    EXPECT_EQ(again, it->second);
  }
  // No stale examples in the document.
  for (const auto& [name, bytes] : blocks) {
    bool known = false;
    for (const Example& e : Examples()) known |= e.name == name;
    EXPECT_TRUE(known) << "PROTOCOL.md has an example nobody checks: " << name;
  }
}

const Message& ExampleMessage(const std::string& name) {
  static const std::vector<Example> all = Examples();
  for (const Example& e : all) {
    if (e.name == name) return e.message;
  }
  ADD_FAILURE() << "no example " << name;
  std::abort();
}

Op NewOp(uint64_t op_id, OpKind kind, uint64_t account, int64_t amount) {
  Op op;
  op.op_id = op_id;
  op.kind = kind;
  op.account_id = account;
  op.amount = amount;
  return op;
}

// The worked examples tell one story: a real engine, brought to the state
// the text describes, gives exactly the replies the document shows.
TEST(NetProtocolDoc, WorkedExamplesAreOneStory) {
  EngineConfig config;
  config.shard_count = 4;
  auto engine = Engine::Create(config).value();
  std::vector<Op> setup;
  for (uint64_t account : {2001, 2002, 2003}) {
    Op create = NewOp(account, OpKind::kCreateAccount, account, 0);
    create.currency = 2;
    setup.push_back(create);
  }
  setup.push_back(NewOp(0x4000, OpKind::kCredit, 2001, 500));
  // Other players' activity up to seq 40: the purchase lands at 41.
  Op other = NewOp(3000, OpKind::kCreateAccount, 3000, 0);
  other.currency = 2;
  setup.push_back(other);
  while (setup.size() < 40) {
    setup.push_back(NewOp(0x4000 + setup.size(), OpKind::kCredit, 3000, 1));
  }
  for (const OpResult& r : engine->Apply(setup)) ASSERT_TRUE(r.ok());

  const auto& purchase = std::get<OpsRequest>(ExampleMessage("ops"));
  const auto& paid = std::get<OpsReply>(ExampleMessage("ops_reply"));
  const std::vector<OpResult> got = engine->Apply(purchase.ops);
  ASSERT_EQ(got.size(), paid.results.size());
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i].code, paid.results[i].code) << i;
    EXPECT_EQ(got[i].balance_after, paid.results[i].balance_after) << i;
    EXPECT_EQ(got[i].seq, paid.results[i].seq) << i;
    EXPECT_EQ(got[i].flags, paid.results[i].flags) << i;
  }

  const Op debit = NewOp(0x5003, OpKind::kDebit, 2001, 500);
  const OpResult first = engine->Apply({debit})[0];
  const OpResult retry = engine->Apply({debit})[0];
  const auto& refused = std::get<OpsReply>(ExampleMessage("ops_reply_refused"));
  ASSERT_EQ(refused.results.size(), 1u);
  EXPECT_FALSE(first.duplicate());
  EXPECT_EQ(retry.code, refused.results[0].code);
  EXPECT_EQ(retry.flags, refused.results[0].flags);
  EXPECT_EQ(retry.balance_after, refused.results[0].balance_after);
  EXPECT_EQ(retry.seq, refused.results[0].seq);

  const auto& ask = std::get<LookupRequest>(ExampleMessage("lookup"));
  const auto& answer = std::get<LookupReply>(ExampleMessage("lookup_reply"));
  Request lookup;
  lookup.kind = RequestKind::kLookup;
  lookup.lookup_ids = ask.account_ids;
  ASSERT_EQ(engine->Execute(lookup), SubmitResult::kAccepted);
  EXPECT_EQ(lookup.seq, answer.seq);
  ASSERT_EQ(lookup.accounts.size(), answer.accounts.size());
  const AccountInfo& want = answer.accounts[0];
  const AccountInfo& have = lookup.accounts[0];
  EXPECT_EQ(have.id, want.id);
  EXPECT_EQ(have.balance, want.balance);
  EXPECT_EQ(have.held, want.held);
  EXPECT_EQ(have.currency, want.currency);
  EXPECT_EQ(have.flags, want.flags);
  EXPECT_EQ(have.history_count, want.history_count);
  EXPECT_EQ(have.overdraft_limit, want.overdraft_limit);
  EXPECT_EQ(have.balance_cap, want.balance_cap);
}

}  // namespace
}  // namespace coffer::net

// Hostile and malformed sweep files (issue 14): each is refused with one FILE:LINE:COL error,
// quickly and in bounded memory, before anything expands or runs.
#include "common/error.h"
#include "common/utf8_check.h"
#include "store/store_test_util.h"
#include "sweep/expand.h"
#include "sweep/run_names.h"

#include <gtest/gtest.h>

#include <chrono>

namespace matquant::sweep {
namespace {

using store::testing::TempDir;
using store::testing::write_text;

std::vector<std::string> problems(const std::string& yaml, const PlanOptions& options = {}) {
  std::vector<std::string> errors;
  const SweepDefinition definition = parse_sweep(yaml, "s.yaml", errors);
  if (errors.empty()) expand_sweep(definition, errors, options);
  return errors;
}

// Exactly one problem, which starts with `where` and contains `what`.
void expect_one(const std::string& yaml, const std::string& where, const std::string& what,
                const PlanOptions& options = {}) {
  const auto errors = problems(yaml, options);
  ASSERT_EQ(errors.size(), 1u) << (errors.empty() ? std::string("no error") : errors[0] + " ...");
  EXPECT_EQ(errors[0].rfind(where, 0), 0u) << errors[0];
  EXPECT_NE(errors[0].find(what), std::string::npos) << errors[0];
}

TEST(HostileInput, RecursiveAliasIsACycleAtTheAlias) {
  // These crashed `sweep plan` with SIGSEGV (exit 139): yaml-cpp shares the aliased node, so the
  // mapping contains itself and reading it never ended.
  expect_one("sweep: t\nconfig: &a\n  train: *a\n", "s.yaml:3:10: ", "cycle");
  expect_one("sweep: t\ngrid: &g\n  seed: [*g]\n", "s.yaml:3:10: ", "cycle");
  expect_one("sweep: t\ninclude: &l\n  - *l\n", "s.yaml:3:5: ", "cycle");
}

TEST(HostileInput, AliasBombIsRefusedByExpandedSizeQuickly) {
  // 10^9 scalars after expansion from a 400-byte file; it took 16 s and printed one 183 MB error.
  std::string yaml = "sweep: bomb\na0: &a0 [x, x, x, x, x, x, x, x, x, x]\n";
  for (int i = 1; i <= 8; ++i) {
    yaml += "a" + std::to_string(i) + ": &a" + std::to_string(i) + " [";
    for (int k = 0; k < 10; ++k) yaml += std::string(k ? ", " : "") + "*a" + std::to_string(i - 1);
    yaml += "]\n";
  }
  yaml += "config: {name: *a8}\n";
  const auto start = std::chrono::steady_clock::now();
  const auto errors = problems(yaml);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_NE(errors[0].find("more than 100000 nodes"), std::string::npos) << errors[0];
  EXPECT_EQ(errors[0].rfind("s.yaml:", 0), 0u);
  EXPECT_LT(errors[0].size(), 300u);
  EXPECT_LT(seconds, 1.0);
}

TEST(HostileInput, AliasesWithinTheLimitStillWork) {
  std::vector<std::string> errors;
  const auto definition = parse_sweep("sweep: t\nconfig: &c {train.steps: 3}\ninclude: [*c]\n", "s.yaml", errors);
  EXPECT_TRUE(errors.empty()) << errors[0];
  const auto plan = expand_sweep(definition, errors);
  ASSERT_EQ(plan.runs.size(), 1u);  // the include point equals the base config: one run
  EXPECT_EQ(plan.runs[0].spec["train"]["steps"], 3);
}

TEST(HostileInput, DeepNestingAndOversizedTextAreRefused) {
  expect_one("sweep: t\nconfig: {name: " + std::string(500, '[') + std::string(500, ']') + "}\n", "s.yaml:2:",
             "nested more than 64 levels");
  const std::string big = "sweep: t\n# " + std::string(size_t(5) << 20, 'x') + "\n";
  expect_one(big, "s.yaml: ", "larger than the limit of 4194304 bytes for a sweep file");
}

TEST(HostileInput, RunCountIsLimitedBeforeExpanding) {
  // A 100 x 100 x 100 grid (10^6 runs) grew `sweep plan` to 13.6 GB; the count is now known first.
  std::string yaml = "sweep: g\ngrid:\n";
  for (const char* key : {"seed", "train.steps", "train.warmup_steps"}) {
    yaml += std::string("  ") + key + ": [";
    for (int i = 1; i <= 100; ++i) yaml += (i > 1 ? "," : "") + std::to_string(i);
    yaml += "]\n";
  }
  const auto start = std::chrono::steady_clock::now();
  expect_one(yaml, "s.yaml: ", "expands to 1000000 runs (grid 100 x 100 x 100), more than the limit of 10000");
  EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), 1.0);

  const std::string small = "sweep: s\ngrid: {seed: [1, 2, 3], train.steps: [1, 2]}\ninclude: [{seed: 9}]\nseeds: [0, 1]\n";
  std::vector<std::string> errors;
  const auto definition = parse_sweep(small, "s.yaml", errors);
  EXPECT_EQ(planned_run_count(definition), (3u * 2 + 1) * 2);
  PlanOptions options;
  options.max_runs = 13;
  expect_one(small, "s.yaml: ", "14 runs (grid 3 x 2, 1 include point(s), x 2 seeds)", options);
  options.max_runs = 14;
  EXPECT_TRUE(problems(small, options).empty());
}

TEST(HostileInput, RunCountSaturatesInsteadOfOverflowing) {
  SweepDefinition definition;
  definition.axes.resize(5);
  for (auto& axis : definition.axes) axis.points.resize(1u << 16);  // 2^80 grid points
  EXPECT_EQ(planned_run_count(definition), std::numeric_limits<size_t>::max());
}

TEST(HostileInput, InvalidUtf8IsNamedByLineColumnAndOffset) {
  // Passed `plan`, then `run` died with exit 70 in the JSON library when it wrote the spec.
  expect_one("sweep: t\nconfig: {name: \"caf\xe9\"}\n", "s.yaml:2:20: ", "not valid UTF-8 at byte offset 28 (0xE9)");
  expect_one(std::string("sweep: t\n\0\0\n", 12), "s.yaml:2:1: ", "control character 0x00 at byte offset 9");
  EXPECT_TRUE(problems("# caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\nsweep: t\n").empty());  // UTF-8 in a comment
}

TEST(HostileInput, Utf8CheckRejectsOverlongSurrogateAndTruncatedForms) {
  EXPECT_TRUE(find_invalid_utf8("plain \xc3\xa9 \xed\x9f\xbf \xf4\x8f\xbf\xbf").valid());
  EXPECT_EQ(find_invalid_utf8("ab\xc0\xaf").offset, 2u);         // overlong '/'
  EXPECT_EQ(find_invalid_utf8("\xe0\x80\xaf").offset, 0u);       // overlong, 3 bytes
  EXPECT_EQ(find_invalid_utf8("x\xed\xa0\x80").offset, 1u);      // a UTF-16 surrogate
  EXPECT_EQ(find_invalid_utf8("\xf4\x90\x80\x80").offset, 0u);   // above U+10FFFF
  EXPECT_EQ(find_invalid_utf8("ok\xe2\x82").offset, 2u);         // cut short at the end
  EXPECT_EQ(find_invalid_utf8("\x80").offset, 0u);               // a stray continuation byte
  const auto p = find_invalid_utf8("a\nbc\n\xff");
  EXPECT_EQ(p.line, 3);
  EXPECT_EQ(p.column, 1);
  EXPECT_EQ(p.byte, 0xff);
}

TEST(HostileInput, UnknownBuiltinModelIsRefusedAtPlan) {
  expect_one("sweep: t\nconfig: {model: \"builtin:nope\"}\n", "s.yaml:2:17: ",
             "model: unknown built-in model 'builtin:nope' (known: builtin:tiny-llama, builtin:small-llama");
  EXPECT_TRUE(problems("sweep: t\nconfig: {model: \"builtin:tiny-gemma2\"}\n").empty());
}

TEST(HostileInput, MissingInputsAreFoundWhenPlanChecksThem) {
  TempDir dir;
  boost::filesystem::create_directories(dir.file("model"));
  boost::filesystem::create_directories(dir.file("tasks"));
  write_text(dir.file("train.txt"), "some text\n");
  const std::string good = "sweep: t\nconfig:\n  model: " + dir.file("model") + "\n  data.train: " + dir.file("train.txt") +
                           "\n  eval: {tasks: [piqa], task_dir: " + dir.file("tasks") + "}\n";
  write_text(dir.file("s.yaml"), good);
  PlanOptions checked;
  checked.check_inputs = true;
  try {
    load_sweep_plan(dir.file("s.yaml"), checked);
    FAIL() << "a model directory without config.json was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidInput);
    EXPECT_NE(std::string(e.what()).find(":3:10: model: model directory " + dir.file("model") + " has no config.json"),
              std::string::npos)
        << e.what();
  }
  write_text(dir.file("model/config.json"), "{}");
  EXPECT_EQ(load_sweep_plan(dir.file("s.yaml"), checked).runs.size(), 1u);

  write_text(dir.file("s.yaml"), "sweep: t\ngrid: {data.train: [missing.txt, synthetic]}\n"
                                 "config: {eval: {tasks: [piqa], task_dir: no-such-dir}}\n");
  try {
    load_sweep_plan(dir.file("s.yaml"), checked);
    FAIL() << "missing inputs were accepted";
  } catch (const Error& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("2 problem(s)"), std::string::npos) << message;  // each missing input once
    EXPECT_NE(message.find(":2:21: data.train: data file missing.txt does not exist"), std::string::npos) << message;
    EXPECT_NE(message.find(":3:42: eval.task_dir: task directory no-such-dir does not exist"), std::string::npos) << message;
  }
  // Expansion alone (tests, `sweep status`) does not look at the file system.
  EXPECT_EQ(load_sweep_plan(dir.file("s.yaml")).runs.size(), 2u);

  // A task file given directly (eval.task_files) is checked as the directory is.
  write_text(dir.file("s.yaml"), "sweep: t\nconfig: {eval: {tasks: [piqa], task_files: [piqa=no-such.jsonl]}}\n");
  try {
    load_sweep_plan(dir.file("s.yaml"), checked);
    FAIL() << "a missing task file was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("eval.task_files: task file no-such.jsonl does not exist"), std::string::npos)
        << e.what();
  }
}

TEST(HostileInput, DuplicateKeysAndSecondDocumentsAreRefused) {
  // yaml-cpp kept the first `grid:` and Load ignored everything after `---`, silently.
  expect_one("sweep: t\ngrid: {seed: [1]}\ngrid: {seed: [2]}\n", "s.yaml:3:1: ", "'grid' is given twice in one mapping (first at line 2)");
  expect_one("sweep: t\nconfig:\n  train: {steps: 1, steps: 2}\n", "s.yaml:3:21: ", "'steps' is given twice");
  expect_one("sweep: t\nconfig: {train: {steps: 3}, train.steps: 4}\n", "s.yaml:2:29: ",
             "train.steps: given twice (first at s.yaml:2:25)");
  expect_one("sweep: t\n---\nsweep: u\n", "s.yaml:", "holds one YAML document; a second one starts here");
  expect_one("sweep: t\n? [a, b]\n: 1\n", "s.yaml:2:3: ", "a mapping key must be plain text");
  EXPECT_TRUE(problems("---\nsweep: t\n...\n").empty());  // explicit start and end of the one document
}

TEST(HostileInput, NamesUseADocumentedCharacterSet) {
  EXPECT_EQ(name_problem("llama/qat/matquant"), "");       // the reference sweeps' grouping
  EXPECT_EQ(name_problem("t/builtin:tiny-llama-0.1_1"), "");
  EXPECT_EQ(name_problem("mix@3.5,e=2+x"), "");
  EXPECT_NE(name_problem(""), "");
  EXPECT_NE(name_problem("/abs"), "");
  EXPECT_NE(name_problem("a/"), "");
  EXPECT_NE(name_problem("a//b"), "");
  EXPECT_NE(name_problem("a/../b").find("'..'"), std::string::npos);
  EXPECT_NE(name_problem("./a").find("'.'"), std::string::npos);
  EXPECT_NE(name_problem("a b").find("uses ' ', which is not allowed"), std::string::npos);
  EXPECT_NE(name_problem("caf\xc3\xa9").find("non-ASCII"), std::string::npos);
  EXPECT_NE(name_problem(std::string(201, 'a')), "");

  expect_one("sweep: \"a/../b\"\n", "s.yaml:1:8: ", "sweep: the sweep name 'a/../b' has a part '..'");
  expect_one("sweep: t\nconfig: {name: \"x//y\"}\n", "s.yaml:2:16: ", "run name 'x//y' has an empty part");
  expect_one("sweep: t\nname: \"{base} run\"\n", "s.yaml: ", "run name 'qat run' uses ' ', which is not allowed");
  // Derived from a value that is not a name: the message says how to name the run instead.
  expect_one("sweep: t\ngrid: {distillation: [\"\", \"[8, 4, 2, 8->2]\"]}\n", "s.yaml",
             "give the axis points labels");
}

TEST(HostileInput, OutOfRangeIntegersAndDirectoriesSayWhatIsWrong) {
  expect_one("sweep: t\nconfig: {train.steps: 99999999999999999999}\n", "s.yaml:2:23: ",
             "train.steps: 1e+20 is out of range (integers are at most 9223372036854775807)");
  expect_one("sweep: t\ngrid: {bits: [[8, 99999999999999999999]]}\n", "s.yaml:2:15: ", "bits: 1e+20 is out of range");

  TempDir dir;
  std::vector<std::string> errors;
  try {
    read_sweep_file(dir.file(""), errors);
    FAIL() << "a directory was read as a sweep file";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidInput);
    EXPECT_NE(std::string(e.what()).find("is a directory"), std::string::npos) << e.what();
  }
}

TEST(HostileInput, WrongKindsOfValuesAreErrorsNotExceptions) {
  expect_one("sweep: [a, b]\n", "s.yaml:1:8: ", "sweep: expected text");
  expect_one("sweep: t\ngrid:\n  m:\n    - {label: [x], variant: sp}\n", "s.yaml:4:", "");
}

}  // namespace
}  // namespace matquant::sweep

// Sweep files: grid, zip, exclude, include, seeds, names; every problem reported at once.
#include "sweep/expand.h"
#include "sweep/job_graph.h"

#include <gtest/gtest.h>

#include <set>

namespace matquant::sweep {
namespace {

using nlohmann::json;

SweepPlan expand(const std::string& yaml, std::vector<std::string>& errors) {
  SweepDefinition definition = parse_sweep(yaml, "s.yaml", errors);
  if (!errors.empty()) return {};
  return expand_sweep(definition, errors);
}

SweepPlan expand_ok(const std::string& yaml) {
  std::vector<std::string> errors;
  SweepPlan plan = expand(yaml, errors);
  std::string all;
  for (const auto& e : errors) all += e + "\n";
  EXPECT_TRUE(errors.empty()) << all;
  return plan;
}

std::vector<std::string> names(const SweepPlan& plan) {
  std::vector<std::string> out;
  for (const auto& run : plan.runs) out.push_back(run.name);
  return out;
}

TEST(Expand, GridIsTheCartesianProductInFileOrder) {
  const auto plan = expand_ok(R"yaml(
sweep: t
config: {train: {steps: 3}}
grid:
  base: [qat, omniquant]
  lambdas: [[1, 1, 1], [0.1, 0.1, 1], ["sqrt(2)", "sqrt(2)", 1]]
)yaml");
  ASSERT_EQ(plan.runs.size(), 6u);
  EXPECT_EQ(plan.runs[0].name, "t/qat-1_1_1");
  EXPECT_EQ(plan.runs[1].name, "t/qat-0.1_0.1_1");
  EXPECT_EQ(plan.runs[3].spec["base"], "omniquant");
  for (const auto& run : plan.runs) EXPECT_EQ(run.spec["train"]["steps"], 3);
}

TEST(Expand, ZipMovesListsTogetherAndBundlesSetSeveralFields) {
  const auto plan = expand_ok(R"(
sweep: z
zip:
  - variant: [baseline, baseline, matquant]
    bits: [[8], [4], [8, 4, 2]]
grid:
  method:
    - {label: qat, base: qat}
    - {label: omni, base: omniquant, train.epochs: 1}
)");
  ASSERT_EQ(plan.runs.size(), 6u);
  EXPECT_EQ(plan.runs[0].name, "z/qat-baseline-8");
  EXPECT_EQ(plan.runs[1].name, "z/qat-baseline-4");
  EXPECT_EQ(plan.runs[2].name, "z/qat-matquant-8_4_2");
  EXPECT_EQ(plan.runs[4].spec["train"]["epochs"], 1);
  EXPECT_EQ(plan.runs[4].spec["bits"], json({4}));
}

TEST(Expand, ExcludeDropsMatchesAndIncludeAddsPoints) {
  const auto plan = expand_ok(R"(
sweep: e
grid:
  base: [qat, omniquant]
  variant: [matquant, ep]
exclude:
  - {base: omniquant, variant: ep}
include:
  - {variant: sliced}
  - {variant: baseline, bits: [2], name: int2-baseline}
)");
  EXPECT_EQ(plan.excluded, 1u);
  EXPECT_EQ(names(plan), (std::vector<std::string>{"e/qat-matquant", "e/qat-ep", "e/omniquant-matquant", "e/sliced",
                                                    "int2-baseline"}));
}

TEST(Expand, SeedsReplicateEveryRunAndTemplatesName) {
  const auto plan = expand_ok(R"(
sweep: s
name: "{base}/{variant}/r{seed}"
grid: {variant: [baseline, matquant]}
seeds: [0, 1, 2]
)");
  ASSERT_EQ(plan.runs.size(), 6u);
  EXPECT_EQ(plan.runs[0].name, "qat/baseline/r0");
  EXPECT_EQ(plan.runs[5].name, "qat/matquant/r2");
  std::set<std::string> keys;
  for (const auto& run : plan.runs) keys.insert(run.run_key);
  EXPECT_EQ(keys.size(), 6u);
}

TEST(Expand, EqualSpecsAreMergedAndNamesStayUnique) {
  const auto plan = expand_ok(R"(
sweep: d
grid: {lambdas: [[1, 1, 1], [1.0, 1.0, 1.0]]}
)");
  EXPECT_EQ(plan.runs.size(), 1u);
  EXPECT_EQ(plan.duplicates, 1u);
}

TEST(Expand, EveryProblemIsReportedWithLineAndColumn) {
  std::vector<std::string> errors;
  expand(R"(sweep: bad
config:
  train: {stpes: 10}
  scope: ffn+mlp
grid:
  lambdas: [[1, 1]]
  variant: baseline
unknown_top: 1
)",
         errors);
  std::string all;
  for (const auto& e : errors) all += e + "\n";
  EXPECT_NE(all.find("s.yaml:3:11: train.stpes: unknown field (did you mean 'train.steps'?)"), std::string::npos) << all;
  EXPECT_NE(all.find("s.yaml:4:10: scope: 'ffn+mlp' is not one of: ffn, ffn+attn"), std::string::npos) << all;
  EXPECT_NE(all.find("s.yaml:7:12: grid.variant: an axis is a non-empty list of values"), std::string::npos) << all;
  EXPECT_NE(all.find("s.yaml:8:1: unknown_top: unknown top-level key"), std::string::npos) << all;
}

TEST(Expand, CrossFieldErrorsAreReportedOnceNotPerRun) {
  std::vector<std::string> errors;
  expand(R"(sweep: once
config: {lambdas: [1, 1]}
grid: {base: [qat, omniquant], seed: [0, 1, 2]}
)",
         errors);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_NE(errors[0].find("s.yaml:2:19: lambdas: has 2 entries for 3 bits"), std::string::npos) << errors[0];
}

TEST(Expand, YamlSyntaxErrorsAreLocated) {
  std::vector<std::string> errors;
  parse_sweep("grid: {base: [qat\n", "s.yaml", errors);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].rfind("s.yaml:", 0), 0u);
  EXPECT_NE(errors[0].find("YAML syntax"), std::string::npos);
}

TEST(JobGraph, JobsAreSharedAndOrderedByModel) {
  const auto plan = expand_ok(R"(
sweep: g
config: {eval: {precisions: [bf16, "8", "4"]}}
grid:
  model: [models/b, models/a]
  variant: [baseline, sliced]
)");
  // Per model: baseline int8 and sliced share one training job and the int8 evaluation.
  const JobGraph graph = build_job_graph(plan.runs);
  size_t trains = 0;
  for (const auto& job : graph.jobs) trains += job.kind == "train";
  EXPECT_EQ(trains, 2u);
  EXPECT_EQ(graph.jobs.size() - trains, 6u);  // bf16, int8, int4 per model
  EXPECT_EQ(graph.jobs[0].spec["model"], "models/a");  // sorted by model: a before b
  for (const auto& job : graph.jobs) {
    if (job.kind == "eval") EXPECT_EQ(job.runs.size(), 2u) << job.label;
    if (job.kind == "eval" && job.precision != "bf16") EXPECT_EQ(graph.jobs[graph.index.at(job.depends_on)].kind, "train");
  }
}

}  // namespace
}  // namespace matquant::sweep

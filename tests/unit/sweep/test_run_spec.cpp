// Run spec fields: types, defaults (derived ones too), cross-field rules, messages with origins.
#include "sweep/run_spec.h"
#include "sweep/spec_fields.h"

#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <iterator>

namespace matquant::sweep {
namespace {

using nlohmann::json;

json complete(const FlatSpec& flat, std::vector<std::string>& errors) { return complete_spec(flat, "test", errors); }

FlatSpec flat(std::initializer_list<std::pair<const std::string, json>> values) {
  FlatSpec out;
  for (const auto& [key, value] : values) out[key] = {value, "f.yaml:3:7"};
  return out;
}

TEST(RunSpec, DefaultsFillEveryField) {
  std::vector<std::string> errors;
  const json spec = complete({}, errors);
  ASSERT_TRUE(errors.empty());
  EXPECT_EQ(spec["model"], "builtin:tiny-llama");
  EXPECT_EQ(spec["bits"], json({8, 4, 2}));
  EXPECT_EQ(spec["lambdas"], json({1, 1, 1}));
  EXPECT_EQ(spec["train"]["learning_rate"], 1e-5);  // QAT peak (paper)
  EXPECT_EQ(spec["train"]["batch_size"], 8);
  EXPECT_EQ(spec["eval"]["precisions"], json({"8", "4", "2", "6", "3"}));
  for (const auto& field : spec_fields()) EXPECT_FALSE(spec_at(spec, field.key).is_null()) << field.key;
}

TEST(RunSpec, DerivedDefaultsFollowBaseAndVariant) {
  std::vector<std::string> errors;
  const json omni = complete(flat({{"base", "omniquant"}}), errors);
  EXPECT_EQ(omni["train"]["learning_rate"], 1e-2);  // OmniQuant clipping rate
  EXPECT_EQ(omni["train"]["batch_size"], 4);
  const json baseline = complete(flat({{"variant", "baseline"}, {"bits", 4}}), errors);
  EXPECT_EQ(baseline["bits"], json({4}));
  EXPECT_EQ(baseline["source_bits"], 4);
  EXPECT_EQ(baseline["eval"]["precisions"], json({"4"}));
  const json sliced = complete(flat({{"variant", "sliced"}}), errors);
  EXPECT_EQ(sliced["bits"], json({8}));
  ASSERT_TRUE(errors.empty()) << errors.front();
}

TEST(RunSpec, NumbersAreNormalisedAndSqrtIsExact) {
  std::vector<std::string> errors;
  const json spec = complete(flat({{"lambdas", json::array({"sqrt(2)", 1.0, 0.1})}}), errors);
  ASSERT_TRUE(errors.empty());
  EXPECT_EQ(spec["lambdas"][0].get<double>(), std::sqrt(2.0));
  EXPECT_TRUE(spec["lambdas"][1].is_number_integer());
  EXPECT_EQ(spec["lambdas"].dump(), "[1.4142135623730951,1,0.1]");
}

TEST(RunSpec, UnknownFieldSuggestsTheClosest) {
  std::vector<std::string> errors;
  complete(flat({{"train.stpes", 10}}), errors);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0], "f.yaml:3:7: train.stpes: unknown field (did you mean 'train.steps'?)");
  EXPECT_EQ(closest_spec_key("lamdas"), "lambdas");
  EXPECT_EQ(closest_spec_key("completely_unrelated_words"), "");
}

TEST(RunSpec, TypeErrorsNameTheOriginAndType) {
  std::vector<std::string> errors;
  complete(flat({{"train.steps", "many"}, {"variant", "fancy"}, {"eval.perplexity", 1}}), errors);
  ASSERT_EQ(errors.size(), 3u);
  EXPECT_NE(errors[0].find("f.yaml:3:7: eval.perplexity: expected true/false"), std::string::npos) << errors[0];
  EXPECT_NE(errors[1].find("train.steps: expected integer, got \"many\""), std::string::npos) << errors[1];
  EXPECT_NE(errors[2].find("variant: 'fancy' is not one of: baseline, matquant, sp, ep, sliced"), std::string::npos);
}

TEST(RunSpec, CrossFieldRulesAreChecked) {
  const auto problems = [](const FlatSpec& f) {
    std::vector<std::string> errors;
    complete(f, errors);
    std::string all;
    for (const auto& e : errors) all += e + "\n";
    return all;
  };
  EXPECT_NE(problems(flat({{"lambdas", json({1, 1})}})).find("lambdas: has 2 entries for 3 bits"), std::string::npos);
  EXPECT_NE(problems(flat({{"variant", "baseline"}, {"bits", json({8, 4})}})).find("trains one precision"), std::string::npos);
  EXPECT_NE(problems(flat({{"variant", "sliced"}, {"bits", 4}})).find("bits must be [8]"), std::string::npos);
  EXPECT_NE(problems(flat({{"distillation", "[8, 4, 2, 8->]"}})).find("distillation:"), std::string::npos);
  EXPECT_NE(problems(flat({{"eval.precisions", json({"9"})}})).find("eval.precisions: '9'"), std::string::npos);
  EXPECT_NE(problems(flat({{"eval.precisions", json({"wedge@3"})}})).find("wedge"), std::string::npos);
  EXPECT_NE(problems(flat({{"variant", "baseline"}, {"bits", 4}, {"eval.precisions", json({"8"})}}))
                .find("int8 cannot be sliced from a 4-bit checkpoint"),
            std::string::npos);
  EXPECT_NE(problems(flat({{"eval.tasks", json({"arc_easy"})}})).find("eval.task_dir"), std::string::npos);
  EXPECT_NE(problems(flat({{"eval.tasks", json({"arc-easy"})}, {"eval.task_dir", "d"}})).find("unknown task 'arc-easy'"),
            std::string::npos);
  EXPECT_NE(problems(flat({{"train.let", true}})).find("base: omniquant"), std::string::npos);
  EXPECT_EQ(problems(flat({{"distillation", "[8, 4, 2, 8->4;2]"}, {"eval.precisions", json({8, "pyramid@3.5", "bf16"})}})), "");
}

TEST(RunSpec, NestedJsonSpecsFlattenToDottedKeys) {
  std::vector<std::string> errors;
  const FlatSpec f = flatten_json_spec({{"train", {{"steps", 5}}}, {"model", "m"}}, "spec.json", errors);
  ASSERT_EQ(f.size(), 2u);
  EXPECT_EQ(f.at("train.steps").value, 5);
  const json spec = complete(f, errors);
  EXPECT_EQ(spec["train"]["steps"], 5);
  EXPECT_EQ(spec["model"], "m");
}

}  // namespace
}  // namespace matquant::sweep

namespace matquant::sweep {
namespace {

// The field table is declared once in code; the documentation must not drift from it.
TEST(RunSpec, ContractsDocumentEveryField) {
  std::ifstream in(std::string(MATQUANT_SOURCE_DIR) + "/docs/contracts.md");
  ASSERT_TRUE(in);
  const std::string doc((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  for (const auto& field : spec_fields()) {
    EXPECT_NE(doc.find("| `" + field.key + "` |"), std::string::npos) << field.key << " is missing from docs/contracts.md";
  }
}

}  // namespace
}  // namespace matquant::sweep

// Run spec fields: types, defaults (derived ones too), cross-field rules, messages with origins.
#include "sweep/paper_defaults.h"
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
  EXPECT_EQ(spec["lambdas"], json({0.1, 0.1, 1}));  // Appendix B, Gemma
  EXPECT_EQ(spec["train"]["learning_rate"], 1e-5);  // QAT peak (paper)
  EXPECT_EQ(spec["train"]["batch_size"], 16);
  EXPECT_EQ(spec["train"]["steps"], 763);
  EXPECT_EQ(spec["train"]["let"], false);
  EXPECT_EQ(spec["eval"]["precisions"], json({"8", "4", "2", "6", "3"}));
  for (const auto& field : spec_fields()) EXPECT_FALSE(spec_at(spec, field.key).is_null()) << field.key;
}

TEST(RunSpec, DerivedDefaultsFollowBaseAndVariant) {
  std::vector<std::string> errors;
  const json omni = complete(flat({{"base", "omniquant"}}), errors);
  EXPECT_EQ(omni["train"]["learning_rate"], 1e-3);  // Appendix B: constant 1e-3
  EXPECT_EQ(omni["train"]["batch_size"], 4);
  const json baseline = complete(flat({{"variant", "baseline"}, {"bits", 4}}), errors);
  EXPECT_EQ(baseline["bits"], json({4}));
  EXPECT_EQ(baseline["source_bits"], 4);
  EXPECT_EQ(baseline["eval"]["precisions"], json({"4"}));
  const json sliced = complete(flat({{"variant", "sliced"}}), errors);
  EXPECT_EQ(sliced["bits"], json({8}));
  ASSERT_TRUE(errors.empty()) << errors.front();
}

// Appendix B (seed 001): each default below is a number stated there or derived from one.
TEST(RunSpec, OmittedLambdasFollowTheVariant) {
  std::vector<std::string> errors;
  const auto lambdas = [&](const FlatSpec& f) { return complete(f, errors)["lambdas"]; };
  // (0.1, 0.1, 1) for the Gemma experiments: 1 for the lowest precision, 0.1 for the others.
  EXPECT_EQ(lambdas(flat({{"variant", "matquant"}, {"bits", json({8, 4, 2})}})).dump(), "[0.1,0.1,1]");
  EXPECT_EQ(lambdas(flat({{"variant", "matquant"}, {"bits", json({2, 8, 4})}})).dump(), "[1,0.1,0.1]");
  EXPECT_EQ(lambdas(flat({{"variant", "matquant"}, {"bits", json({8, 4})}})).dump(), "[0.1,1]");
  // (1, 1, 1) for every Extra-Precision run.
  EXPECT_EQ(lambdas(flat({{"variant", "ep"}, {"bits", json({8, 4, 2})}})), json({1, 1, 1}));
  EXPECT_EQ(lambdas(flat({{"variant", "baseline"}, {"bits", 2}})), json({1}));
  EXPECT_EQ(lambdas(flat({{"variant", "sp"}})), json({1}));
  ASSERT_TRUE(errors.empty()) << errors.front();
}

TEST(RunSpec, OmniQuantDefaultsAreTheOnesOfAppendixB) {
  std::vector<std::string> errors;
  const json omni = complete(flat({{"base", "omniquant"}}), errors);
  ASSERT_TRUE(errors.empty()) << errors.front();
  EXPECT_EQ(omni["train"]["learning_rate"].dump(), "0.001");  // one constant rate, clipping and LET
  EXPECT_EQ(omni["train"]["let_learning_rate"].dump(), "0.001");
  EXPECT_EQ(omni["train"]["let"], true);  // Eq. 5 minimises over LET's delta and s too
  EXPECT_EQ(omni["train"]["samples"], 128);
  EXPECT_EQ(omni["train"]["batch_size"], 4);
  EXPECT_EQ(omni["train"]["epochs"], 38);  // 10M tokens / (128 x 2048) = 38.1
  const json rate = complete(flat({{"base", "omniquant"}, {"train.learning_rate", 0.01}}), errors);
  EXPECT_EQ(rate["train"]["let_learning_rate"].dump(), "0.01");  // follows the clipping rate
  const json off = complete(flat({{"base", "omniquant"}, {"train.let", false}}), errors);
  EXPECT_EQ(off["train"]["let"], false);
  ASSERT_TRUE(errors.empty()) << errors.front();
}

TEST(RunSpec, TrainingBudgetsFollowAppendixB) {
  std::vector<std::string> errors;
  const auto train = [&](FlatSpec f) { return complete(f, errors)["train"]; };
  const json standard = train(flat({{"base", "omniquant"}, {"variant", "baseline"}, {"bits", 4}}));
  // int2 baseline: 20M tokens instead of 10M -> twice the epochs.
  const json int2 = train(flat({{"base", "omniquant"}, {"variant", "baseline"}, {"bits", 2}}));
  EXPECT_EQ(standard["epochs"], 38);
  EXPECT_EQ(int2["epochs"], 76);
  EXPECT_EQ(train(flat({{"base", "omniquant"}, {"variant", "baseline"}, {"bits", 2}, {"scope", "ffn+attn"}}))["epochs"], 76);
  // Only the baseline: S.P. int2 and MatQuant keep 10M.
  EXPECT_EQ(train(flat({{"base", "omniquant"}, {"variant", "sp"}, {"bits", 2}}))["epochs"], 38);
  EXPECT_EQ(train(flat({{"base", "omniquant"}, {"variant", "sliced"}}))["epochs"], 38);
  // Co-distillation: 8.3M tokens -> 0.83 x 38.1 = 31.7 -> 32 epochs.
  const json codistill = train(flat({{"base", "omniquant"}, {"distillation", "[8, 4, 2, 8->2]"}}));
  EXPECT_EQ(codistill["epochs"], 32);
  EXPECT_DOUBLE_EQ(budget_scale({"omniquant", "matquant", {8, 4, 2}, "ffn", "[8, 4, 8->2]"}), 0.83);
  EXPECT_EQ(budget_scale({"omniquant", "baseline", {2}, "ffn", ""}), 2.0);
  // QAT: 100M tokens at 16 x 8192 per step = 763 steps; FFN + Attention 300M = 2289; the
  // int2 baseline and co-distillation keep 100M.
  EXPECT_EQ(train(flat({{"base", "qat"}}))["steps"], 763);
  EXPECT_EQ(train(flat({{"base", "qat"}, {"scope", "ffn+attn"}}))["steps"], 2289);
  EXPECT_EQ(train(flat({{"base", "qat"}, {"variant", "baseline"}, {"bits", 2}}))["steps"], 763);
  EXPECT_EQ(train(flat({{"base", "qat"}, {"distillation", "[8, 4, 8->2]"}}))["steps"], 763);
  EXPECT_EQ(train(flat({{"base", "qat"}}))["warmup_steps"], 150);
  // The other base's length field is unused and keeps the standard value.
  EXPECT_EQ(train(flat({{"base", "qat"}, {"scope", "ffn+attn"}}))["epochs"], 38);
  EXPECT_EQ(int2["steps"], 763);
  // A value given is used as is, whatever the run.
  EXPECT_EQ(train(flat({{"base", "omniquant"}, {"variant", "baseline"}, {"bits", 2}, {"train.epochs", 6}}))["epochs"], 6);
  ASSERT_TRUE(errors.empty()) << errors.front();
}

// The resolved defaults are what the spec records: completing a completed spec changes nothing,
// and leaving a field out gives the key of writing its default.
TEST(RunSpec, DerivedDefaultsAreRecordedAndStable) {
  std::vector<std::string> errors;
  for (const FlatSpec& f : {flat({}), flat({{"base", "omniquant"}, {"variant", "baseline"}, {"bits", 2}}),
                            flat({{"base", "omniquant"}, {"distillation", "[8, 4, 8->2]"}}),
                            flat({{"base", "qat"}, {"scope", "ffn+attn"}, {"variant", "ep"}})}) {
    const json once = complete(f, errors);
    const json twice = complete(flatten_json_spec(once, "spec.json", errors), errors);
    EXPECT_EQ(once, twice);
  }
  const json omitted = complete(flat({{"base", "omniquant"}}), errors);
  const json written = complete(flat({{"base", "omniquant"}, {"lambdas", json({0.1, 0.1, 1.0})}, {"train.let", true},
                                      {"train.learning_rate", 0.001}, {"train.epochs", 38}}),
                                errors);
  EXPECT_EQ(omitted, written);
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
  // eval.task_files: TASK=PATH entries for tasks of eval.tasks; a task with a file needs no task_dir.
  EXPECT_EQ(problems(flat({{"eval.tasks", json({"boolq"})}, {"eval.task_files", json({"boolq=b.jsonl"})}})), "");
  EXPECT_NE(problems(flat({{"eval.tasks", json({"boolq", "piqa"})}, {"eval.task_files", json({"boolq=b.jsonl"})}}))
                .find("no file for: piqa"),
            std::string::npos);
  EXPECT_NE(problems(flat({{"eval.tasks", json({"boolq"})}, {"eval.task_files", json({"boolq"})}}))
                .find("'boolq' is not TASK=PATH"),
            std::string::npos);
  EXPECT_NE(problems(flat({{"eval.tasks", json({"boolq"})}, {"eval.task_files", json({"piqa=p.jsonl", "boolq=b"})}}))
                .find("'piqa' is not one of eval.tasks"),
            std::string::npos);
  EXPECT_NE(problems(flat({{"eval.tasks", json({"boolq"})}, {"eval.task_files", json({"boolq=a", "boolq=b"})}}))
                .find("given more than one file"),
            std::string::npos);
  EXPECT_EQ(problems(flat({{"eval.precisions", json({"fp32", "bf16"})}})), "");
  // Selective checkpointing refines checkpointing, in the single-process trainer.
  EXPECT_NE(problems(flat({{"train.activation_checkpointing_policy", "selective"}}))
                .find("train.activation_checkpointing_policy: selective needs train.activation_checkpointing: true"),
            std::string::npos);
  EXPECT_NE(problems(flat({{"train.activation_checkpointing", true}, {"train.activation_checkpointing_policy", "selective"},
                           {"resources.gpus", 2}}))
                .find("single-process QAT"),
            std::string::npos);
  EXPECT_NE(problems(flat({{"train.activation_checkpointing_policy", "some"}})).find("train.activation_checkpointing_policy"),
            std::string::npos);
  EXPECT_EQ(problems(flat({{"train.activation_checkpointing", true}, {"train.activation_checkpointing_policy", "selective"}})), "");
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

// Canonical text and keys: stable, blind to names and number spelling, shared where the work is.
#include "sweep/run_keys.h"
#include "sweep/run_spec.h"

#include <gtest/gtest.h>

namespace matquant::sweep {
namespace {

using nlohmann::json;

json complete(std::initializer_list<std::pair<const std::string, json>> values) {
  FlatSpec flat;
  for (const auto& [key, value] : values) flat[key] = {value, "t"};
  std::vector<std::string> errors;
  json spec = complete_spec(flat, "t", errors);
  EXPECT_TRUE(errors.empty()) << (errors.empty() ? "" : errors.front());
  return spec;
}

TEST(RunKeys, Sha256MatchesTheStandardVector) {
  // FIPS 180-2, appendix B.1.
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(RunKeys, CanonicalTextSortsKeysAndDropsWhitespace) {
  const json value = json::parse(R"({"b": 1, "a": {"z": [0.1, 2], "c": "x"}})");
  EXPECT_EQ(canonical_text(value), R"({"a":{"c":"x","z":[0.1,2]},"b":1})");
}

TEST(RunKeys, NameAndNumberSpellingDoNotChangeTheKey) {
  const json a = complete({{"name", "first"}, {"lambdas", json({0.1, 0.1, 1.0})}});
  const json b = complete({{"name", "second"}});  // the default lambdas are (0.1, 0.1, 1)
  EXPECT_EQ(run_key(a), run_key(b));
  const json c = complete({{"lambdas", json({1, 1, 1})}});
  EXPECT_NE(run_key(a), run_key(c));
  EXPECT_EQ(run_key(a).size(), 64u);
}

TEST(RunKeys, EvaluationSettingsChangeTheRunButNotTheTrainingJob) {
  const json a = complete({{"eval.precisions", json({"8", "4"})}});
  const json b = complete({{"eval.precisions", json({"2"})}});
  EXPECT_NE(run_key(a), run_key(b));
  EXPECT_EQ(train_job_key(a), train_job_key(b));
  EXPECT_EQ(eval_job_key(a, "4"), eval_job_key(b, "4"));
  const json c = complete({{"eval.batch_size", 3}});
  EXPECT_NE(eval_job_key(a, "4"), eval_job_key(c, "4"));
}

TEST(RunKeys, OffloadingTheOptimizerStateIsNotPartOfTheKeys) {
  const json plain = complete({});
  const json offloaded = complete({{"train.offload_optimizer_state", true}});
  EXPECT_EQ(run_key(plain), run_key(offloaded));
  EXPECT_EQ(train_job_key(plain), train_job_key(offloaded));
  // Keys made before the field existed are kept.
  json old = plain;
  old["train"].erase("offload_optimizer_state");
  EXPECT_EQ(train_job_key(old), train_job_key(plain));
}

TEST(RunKeys, TheCheckpointingPolicyIsNotPartOfTheKeys) {
  // Selective and full recomputation give the same gradients (tests/unit/train/test_activation_checkpoint.cpp).
  const json full = complete({{"train.activation_checkpointing", true}});
  const json selective =
      complete({{"train.activation_checkpointing", true}, {"train.activation_checkpointing_policy", "selective"}});
  EXPECT_EQ(run_key(full), run_key(selective));
  EXPECT_EQ(train_job_key(full), train_job_key(selective));
  json old = full;
  old["train"].erase("activation_checkpointing_policy");
  EXPECT_EQ(train_job_key(old), train_job_key(full));
}

TEST(RunKeys, PostTrainingFieldsKeyOnlyTheRunsTheyApplyTo) {
  // A QAT run keys as it did before GPTQ and smoothing existed.
  const json qat = complete({});
  json old = qat;
  old.erase("gptq");
  old.erase("smoothing");
  EXPECT_EQ(run_key(old), run_key(qat));
  EXPECT_EQ(train_job_key(old), train_job_key(qat));
  EXPECT_EQ(run_key(qat), run_key(complete({{"gptq.dampening", 0.1}})));
  // For GPTQ they are what it computes with.
  const json gptq = complete({{"base", "gptq"}});
  EXPECT_NE(train_job_key(gptq), train_job_key(complete({{"base", "gptq"}, {"gptq.dampening", 0.1}})));
  EXPECT_NE(train_job_key(gptq), train_job_key(complete({{"base", "gptq"}, {"smoothing", "awq"}})));
  EXPECT_NE(train_job_key(gptq), train_job_key(complete({{"base", "rtn"}})));
}

TEST(RunKeys, SlicedInt8SharesTheInt8BaselinesTraining) {
  const json sliced = complete({{"variant", "sliced"}});
  const json baseline = complete({{"variant", "baseline"}, {"bits", 8}});
  EXPECT_EQ(train_job_key(sliced), train_job_key(baseline));
  EXPECT_NE(run_key(sliced), run_key(baseline));
  EXPECT_EQ(eval_job_key(sliced, "8"), eval_job_key(baseline, "8"));
  const json int4 = complete({{"variant", "baseline"}, {"bits", 4}});
  EXPECT_NE(train_job_key(int4), train_job_key(baseline));
}

TEST(RunKeys, Bf16EvaluationDependsOnlyOnModelAndData) {
  const json qat = complete({{"base", "qat"}, {"variant", "matquant"}});
  const json omni = complete({{"base", "omniquant"}, {"variant", "baseline"}, {"bits", 4}});
  EXPECT_EQ(eval_job_key(qat, "bf16"), eval_job_key(omni, "bf16"));
  const json other_model = complete({{"model", "models/other"}});
  EXPECT_NE(eval_job_key(qat, "bf16"), eval_job_key(other_model, "bf16"));
}


TEST(RunKeys, Seed004FieldsKeyOnlyWhenSet) {
  // Runs made before format, eval.activations and the concatenated protocol existed keep their keys.
  const json plain = complete({{"base", "gptq"}, {"variant", "baseline"}, {"bits", 4}});
  json old = plain;
  old.erase("format");
  old["eval"].erase("activations");
  old["eval"].erase("activation_samples");
  old["eval"].erase("perplexity_separator");
  old["eval"].erase("perplexity_documents");
  EXPECT_EQ(run_key(old), run_key(plain));
  EXPECT_EQ(train_job_key(old), train_job_key(plain));
  EXPECT_EQ(eval_job_key(old, "4"), eval_job_key(plain, "4"));
  // MXINT weights are another calibration; activations another evaluation of the same codes.
  const json mx = complete({{"base", "gptq"}, {"variant", "baseline"}, {"bits", 4}, {"format", "mxint"}, {"group_size", 128}});
  EXPECT_NE(train_job_key(mx), train_job_key(complete({{"base", "gptq"}, {"variant", "baseline"}, {"bits", 4}, {"group_size", 128}})));
  const json a8 = complete({{"base", "gptq"}, {"variant", "baseline"}, {"bits", 4}, {"eval.activations", "int8"}});
  EXPECT_EQ(train_job_key(a8), train_job_key(plain));
  EXPECT_NE(eval_job_key(a8, "4"), eval_job_key(plain, "4"));
  EXPECT_NE(eval_job_key(a8, "4"), eval_job_key(complete({{"base", "gptq"}, {"variant", "baseline"}, {"bits", 4},
                                                           {"eval.activations", "int8"}, {"eval.activation_samples", 64}}),
                                                 "4"));
  // Dynamic MXINT activations calibrate nothing; the unquantized rows stay A16.
  const json mx8 = complete({{"base", "gptq"}, {"variant", "baseline"}, {"bits", 4}, {"eval.activations", "mxint8-128"}});
  EXPECT_EQ(eval_job_key(mx8, "4"), eval_job_key(complete({{"base", "gptq"}, {"variant", "baseline"}, {"bits", 4},
                                                            {"eval.activations", "mxint8-128"}, {"eval.activation_samples", 64}}),
                                                  "4"));
  EXPECT_EQ(eval_job_key(a8, "bf16"), eval_job_key(plain, "bf16"));
  // rtn:FORMAT evaluations calibrate INT activations on data.train.
  const json a8_other_data = complete({{"base", "gptq"}, {"variant", "baseline"}, {"bits", 4}, {"eval.activations", "int8"},
                                       {"data.train", "other.jsonl"}});
  EXPECT_NE(eval_job_key(a8, "rtn:int4"), eval_job_key(a8_other_data, "rtn:int4"));
}

}  // namespace
}  // namespace matquant::sweep

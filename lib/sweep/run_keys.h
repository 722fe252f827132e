#pragma once
// Canonical text and stable keys (docs/contracts.md "Run spec" and "Jobs"): a run key hashes the
// whole spec but its name; a training job key hashes what training reads; an evaluation job key
// hashes its training job, the precision and the evaluation settings. Equal keys are done once,
// across sweeps, which is how a Sliced int8 run reuses the int8 baseline's checkpoint.
#include <nlohmann/json.hpp>

#include <string>

namespace matquant::sweep {

// Sorted keys, no whitespace, numbers in shortest round-trip form.
std::string canonical_text(const nlohmann::json& value);

// Lowercase hex SHA-256.
std::string sha256_hex(const std::string& text);

std::string run_key(const nlohmann::json& spec);
std::string train_job_key(const nlohmann::json& spec);
// `precision` as written in eval.precisions ("4", "bf16", "pyramid@3.5"). The unquantized model's
// evaluation depends only on the model and the evaluation data, not on any training.
std::string eval_job_key(const nlohmann::json& spec, const std::string& precision);

}  // namespace matquant::sweep

#pragma once
// A run spec from dotted field values: typed, validated against the field table
// (spec_fields.h), completed with defaults, and written as canonical JSON (docs/contracts.md).
#include <nlohmann/json.hpp>

#include <map>
#include <string>
#include <vector>

namespace matquant::sweep {

// One field value and where it was written ("sweeps/x.yaml:12:5"), for error messages.
struct SpecValue {
  nlohmann::json value;
  std::string origin;
};

// Dotted key -> value. Later assignments override earlier ones (base config, then axes).
using FlatSpec = std::map<std::string, SpecValue>;

// Converts `value` to the field's type (a scalar for a list field becomes a one-element list;
// numbers for string fields become their text; "sqrt(2)" is a number). Returns false and
// appends "ORIGIN: KEY: message" when it cannot.
bool coerce_field_value(const std::string& key, SpecValue& value, std::vector<std::string>& errors);

// Checks every value, applies defaults (derived ones included: Appendix B's lambdas by variant,
// learning rate, batch size and LET by base, epochs and steps by budget (paper_defaults.h), a
// baseline's evaluation at its own bits) and cross-field rules.
// Returns the nested spec with every field present; problems go to `errors`, each prefixed by the
// origin of the value at fault, or `run_origin` for rules spanning fields.
nlohmann::json complete_spec(const FlatSpec& flat, const std::string& run_origin, std::vector<std::string>& errors);

// Reads a nested JSON spec (matquant train SPEC.json) into dotted values with `origin`.
FlatSpec flatten_json_spec(const nlohmann::json& spec, const std::string& origin, std::vector<std::string>& errors);

// Value of a dotted key in a nested spec (null when absent).
const nlohmann::json& spec_at(const nlohmann::json& spec, const std::string& dotted);

}  // namespace matquant::sweep

#pragma once
// Every run spec field (docs/contracts.md), declared once. The table drives YAML and JSON
// validation, defaults, canonical specs (and so run keys), `matquant sweep fields` and the
// unknown-key suggestions, so they cannot drift apart.
#include <nlohmann/json.hpp>

#include <string>
#include <vector>

namespace matquant::sweep {

enum class FieldType { kString, kInt, kNumber, kBool, kIntList, kNumberList, kStringList };

struct SpecField {
  std::string key;            // dotted path: "train.steps"
  FieldType type;
  nlohmann::json fallback;    // default; null = derived from other fields (see apply_defaults)
  std::vector<std::string> choices;  // allowed values of a string field; empty = any
  std::string help;
};

// The registry, in documentation order.
const std::vector<SpecField>& spec_fields();
const SpecField* find_spec_field(const std::string& key);

// "int", "list of number", ... for messages and docs.
std::string type_name(FieldType type);

// Every dotted key that is a prefix of a field ("train", "eval", "data").
bool is_spec_section(const std::string& key);

// Closest known key by edit distance (for "did you mean"), "" when nothing is close.
std::string closest_spec_key(const std::string& key);

}  // namespace matquant::sweep

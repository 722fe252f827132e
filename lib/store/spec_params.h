#pragma once
// A run spec flattened to dotted keys for the params table, so SQL and report filters can
// select runs by any spec field: {"train": {"steps": 200}} -> ("train.steps", "200").
#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace matquant::store {

using SpecParam = std::pair<std::string, std::optional<std::string>>;

// Strings are stored as they are, numbers and booleans as their JSON text (shortest round-trip
// form), lists as compact JSON ("[8,4,2]"), null as SQL NULL. Sorted by key.
std::vector<SpecParam> flatten_spec(const nlohmann::json& spec);

// The text a single JSON scalar or list is stored as (see flatten_spec).
std::optional<std::string> param_text(const nlohmann::json& value);

}  // namespace matquant::store

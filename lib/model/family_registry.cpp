#include "model/family_registry.h"

#include <map>

namespace matquant::model {

static const std::map<std::string, FamilyConfigParser>& registry() {
  static const std::map<std::string, FamilyConfigParser> families = {
      {"llama", &parse_llama_config},
      {"mistral", &parse_mistral_config},
      {"qwen2", &parse_qwen2_config},
      {"gemma2", &parse_gemma2_config},
  };
  return families;
}

FamilyConfigParser find_family(const std::string& model_type) {
  const auto it = registry().find(model_type);
  return it == registry().end() ? nullptr : it->second;
}

std::vector<std::string> known_families() {
  std::vector<std::string> names;
  for (const auto& [name, parser] : registry()) names.push_back(name);
  return names;
}

}  // namespace matquant::model

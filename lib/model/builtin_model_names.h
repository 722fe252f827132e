#pragma once
// The names `model: builtin:NAME` accepts. Header-only so a sweep can reject an unknown name at
// `sweep plan` without linking LibTorch; builtin_config (initialization.cpp) defines each one,
// and tests/unit/model/test_builtin_model_names.cpp checks the two agree.
#include <string>
#include <vector>

namespace matquant::model {

inline const std::vector<std::string>& builtin_model_name_list() {
  static const std::vector<std::string> names = {"tiny-llama",      "small-llama",     "tiny-gemma2",
                                                 "gemma2-2b-shape", "gemma2-9b-shape", "mistral-7b-shape"};
  return names;
}

}  // namespace matquant::model

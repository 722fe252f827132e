#pragma once
// The evaluation task names, header-only so a sweep and `report --metric` can reject a typo without
// linking the LibTorch evaluation code; lib/eval's registry owns the definitions and
// tests/unit/eval/test_task_names.cpp checks the two agree.
#include <set>
#include <string>

namespace matquant {

inline const std::set<std::string>& evaluation_task_names() {
  static const std::set<std::string> names = {"arc_challenge", "arc_easy", "boolq",      "hellaswag", "piqa",
                                              "winogrande",    "openbookqa", "siqa", "wikitext"};
  return names;
}

}  // namespace matquant

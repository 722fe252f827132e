// The header-only list of built-in names (what `sweep plan` checks without LibTorch) and
// builtin_config (what a run builds) must name the same models.
#include "common/error.h"
#include "model/builtin_model_names.h"
#include "model/initialization.h"

#include <gtest/gtest.h>

namespace matquant::model {
namespace {

TEST(BuiltinModelNames, EveryListedNameHasAConfig) {
  ASSERT_FALSE(builtin_model_name_list().empty());
  for (const auto& name : builtin_model_name_list()) {
    EXPECT_NO_THROW(builtin_config(name)) << name;
  }
  EXPECT_EQ(builtin_model_names(), builtin_model_name_list());
}

TEST(BuiltinModelNames, UnknownNameIsRefusedWithTheList) {
  try {
    builtin_config("nope");
    FAIL() << "no error";
  } catch (const Error& e) {
    for (const auto& name : builtin_model_name_list()) EXPECT_NE(std::string(e.what()).find(name), std::string::npos) << name;
  }
}

}  // namespace
}  // namespace matquant::model

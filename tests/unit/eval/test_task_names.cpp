// The header-only task names (sweep plan, report --metric) and the evaluation's registry agree.
#include "common/task_names.h"
#include "eval/task_registry.h"

#include <gtest/gtest.h>

namespace matquant::eval {

TEST(TaskNames, TheHeaderListsEveryRegisteredTask) {
  const auto known = known_task_names();
  EXPECT_EQ(std::set<std::string>(known.begin(), known.end()), evaluation_task_names());
}

}  // namespace matquant::eval

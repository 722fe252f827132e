// The first draft's (seeds/000) Eq. 8 rows of Tables 18-23 read variant ep runs with one trained
// width (experiments/paper/README.md): bits [8] is the int8 baseline read through Eq. 8 slices
// (its Sliced int8), bits [2] its Single-Precision MatQuant. Those specs must stay valid and train
// like the Eq. 6 runs they stand beside; and no spec may ask for an Eq. 8 read of another
// variant's checkpoint, which our evaluator would silently slice by Eq. 6.
#include "sweep/run_spec.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace matquant::sweep {
namespace {

using nlohmann::json;

FlatSpec flat(std::initializer_list<std::pair<const std::string, json>> values) {
  FlatSpec out;
  for (const auto& [key, value] : values) out[key] = {value, "draft.yaml:1:1"};
  return out;
}

json complete_without_errors(const FlatSpec& spec) {
  std::vector<std::string> errors;
  const json out = complete_spec(spec, "test", errors);
  EXPECT_TRUE(errors.empty()) << errors.front();
  return out;
}

TEST(FirstDraftRuns, OneWidthExtraPrecisionRunsAreValidAndTrainLikeTheirEquationSixTwins) {
  for (const std::string base : {"qat", "omniquant"}) {
    for (const std::string scope : {"ffn", "ffn+attn"}) {
      SCOPED_TRACE(base + " " + scope);
      for (const auto& [eq8_bits, twin] : {std::pair<int, std::string>{8, "sliced"}, {2, "sp"}}) {
        const json eq8 =
            complete_without_errors(flat({{"base", base}, {"scope", scope}, {"variant", "ep"}, {"bits", json({eq8_bits})}}));
        const json eq6 = complete_without_errors(flat({{"base", base}, {"scope", scope}, {"variant", twin}}));
        EXPECT_EQ(eq8["bits"], eq6["bits"]) << twin;
        EXPECT_EQ(eq8["source_bits"], 8);
        EXPECT_EQ(eq8["lambdas"], json({1}));
        EXPECT_EQ(eq8["train"], eq6["train"]) << twin;  // the same budget and optimizer settings
        // Every slice Tables 18-23 print (read as ep-int8 ... ep-int3).
        EXPECT_EQ(eq8["eval"]["precisions"], json({"8", "4", "2", "6", "3"}));
      }
    }
  }
}

TEST(FirstDraftRuns, AnEquationEightReadOfAnotherVariantIsRejected) {
  for (const std::string variant : {"sliced", "sp", "baseline", "matquant"}) {
    std::vector<std::string> errors;
    complete_spec(flat({{"variant", variant}, {"eval.precisions", json({"ep-2"})}}), "test", errors);
    std::string all;
    for (const auto& e : errors) all += e + "\n";
    EXPECT_NE(all.find("eval.precisions: 'ep-2'"), std::string::npos) << variant << ": " << all;
  }
}

}  // namespace
}  // namespace matquant::sweep

// Mix'n'Match figure: the Pareto front of hand-made points, and points read from a small database.
#include "common/error.h"
#include "report/mix_n_match_figure.h"
#include "report/run_records.h"
#include "report_test_util.h"

#include <gtest/gtest.h>

namespace matquant::report {
namespace {

std::vector<std::string> labels(const std::vector<MixPoint>& points) {
  std::vector<std::string> out;
  for (const auto& p : points) out.push_back(p.label);
  return out;
}

TEST(MixNMatchPareto, LowerIsBetter) {
  // (bits, log pplx): b is worse than a at more bits; d ties c's bits but is worse; e is best.
  const std::vector<MixPoint> points = {{"s", "a", 2.0, 3.0}, {"s", "b", 3.0, 3.5}, {"s", "c", 4.0, 2.5},
                                        {"s", "d", 4.0, 2.7}, {"s", "e", 8.0, 2.0}, {"s", "f", 6.0, 2.5}};
  EXPECT_EQ(labels(pareto_front(points, true)), (std::vector<std::string>{"a", "c", "e"}));
}

TEST(MixNMatchPareto, HigherIsBetter) {
  const std::vector<MixPoint> points = {{"s", "a", 2.0, 50.0}, {"s", "b", 3.0, 45.0}, {"s", "c", 3.5, 60.0},
                                        {"s", "d", 5.0, 60.0}, {"s", "e", 8.0, 61.0}};
  // d equals c at more bits: dominated.
  EXPECT_EQ(labels(pareto_front(points, false)), (std::vector<std::string>{"a", "c", "e"}));
  EXPECT_TRUE(pareto_front({}, false).empty());
}

nlohmann::json spec(const std::string& model) { return {{"model", model}, {"base", "qat"}, {"variant", "matquant"}}; }

TEST(MixNMatchFigure, ReadsMixNMatchAndUniformPointsOfMatchingRuns) {
  testing::TempDir dir;
  testing::DatabaseBuilder builder(dir);
  builder.eval("mq", spec("tiny"), "int4", {{"weights/effective_bits", 4.0}, {"validation/log_pplx", 2.5}});
  builder.eval("mq", spec("tiny"), "mnm:pyramid@3.00", {{"weights/effective_bits", 3.0}, {"validation/log_pplx", 2.75}});
  builder.eval("mq", spec("tiny"), "mnm:increasing@3.00", {{"weights/effective_bits", 3.0}, {"validation/log_pplx", 3.0}});
  // A second seed: the pyramid point becomes the mean, (2.75 + 2.25) / 2 = 2.5.
  builder.eval("mq-seed1", {{"model", "tiny"}, {"base", "qat"}, {"seed", 1}}, "mnm:pyramid@3.00",
               {{"weights/effective_bits", 3.0}, {"validation/log_pplx", 2.25}});
  // A baseline run without Mix'n'Match points and a run of another model: both left out.
  builder.eval("base", {{"model", "tiny"}, {"variant", "baseline"}}, "int4",
               {{"weights/effective_bits", 4.0}, {"validation/log_pplx", 1.0}});
  builder.eval("other", spec("other"), "mnm:pyramid@3.00", {{"weights/effective_bits", 3.0}, {"validation/log_pplx", 9.0}});

  MixNMatchRequest request;
  request.model = "tiny";
  const MixNMatchData data = collect_mix_n_match(load_run_records(builder.db()), request);
  EXPECT_EQ(data.metric, MixMetric::kLogPplx);  // no task accuracies
  EXPECT_EQ(data.runs, 2);
  ASSERT_EQ(data.points.size(), 3u);
  EXPECT_EQ(data.points[0].label, "int4");
  EXPECT_EQ(data.points[0].series, "uniform");
  EXPECT_EQ(data.points[2].label, "mnm:pyramid@3.00");
  EXPECT_EQ(data.points[2].series, "pyramid");
  EXPECT_DOUBLE_EQ(data.points[2].value, 2.5);
  const std::string svg = render_mix_n_match_svg(data);
  EXPECT_NE(svg.find(">pyramid</text>"), std::string::npos);
  EXPECT_NE(svg.find(">increasing</text>"), std::string::npos);
  EXPECT_NE(svg.find(">Pareto front</text>"), std::string::npos);

  request.model = "nobody";
  EXPECT_THROW(collect_mix_n_match(load_run_records(builder.db()), request), Error);
  EXPECT_THROW(parse_mix_metric("acc"), Error);
}

TEST(MixNMatchFigure, TaskAverageWhenEveryTaskIsThere) {
  testing::TempDir dir;
  testing::DatabaseBuilder builder(dir);
  testing::Metrics metrics = {{"weights/effective_bits", 3.0}, {"validation/log_pplx", 2.0}};
  for (const std::string task : {"arc_challenge", "arc_easy", "boolq", "hellaswag", "piqa", "winogrande"}) {
    metrics[task + "/acc"] = 0.5;
  }
  metrics["winogrande/acc"] = 0.8;
  metrics["hellaswag/acc_norm"] = 0.2;  // HellaSwag is read as acc_norm: (4 * 0.5 + 0.8 + 0.2) / 6 = 0.5
  builder.eval("mq", spec("tiny"), "mnm:decreasing@3.00", metrics);
  const MixNMatchData data = collect_mix_n_match(load_run_records(builder.db()), {});
  EXPECT_EQ(data.metric, MixMetric::kTaskAvg);
  ASSERT_EQ(data.points.size(), 1u);
  EXPECT_NEAR(data.points[0].value, 50.0, 1e-9);
}

TEST(MixNMatchFigure, RunsOfSeveralConfigurationsAreRefused) {
  testing::TempDir dir;
  testing::DatabaseBuilder builder(dir);
  nlohmann::json low = spec("tiny");
  low["lambdas"] = {0.1, 0.1, 1};
  nlohmann::json high = spec("tiny");
  high["lambdas"] = {0.4, 0.4, 1};
  builder.eval("low", low, "mnm:pyramid@3.00", {{"weights/effective_bits", 3.0}, {"validation/log_pplx", 2.0}});
  builder.eval("high", high, "mnm:pyramid@3.00", {{"weights/effective_bits", 3.0}, {"validation/log_pplx", 3.0}});
  const auto runs = load_run_records(builder.db());
  try {
    collect_mix_n_match(runs, {});
    ADD_FAILURE() << "two configurations were averaged into one point";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("lambdas: [0.1,0.1,1] | [0.4,0.4,1]"), std::string::npos) << e.what();
  }
  MixNMatchRequest one;
  one.where["lambdas"] = {"[0.4,0.4,1]"};
  EXPECT_DOUBLE_EQ(collect_mix_n_match(runs, one).points.at(0).value, 3.0);
}

}  // namespace
}  // namespace matquant::report

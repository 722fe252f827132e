// The SVG writer: tick choice, labels, escaping, and the elements a panel must contain.
#include "common/error.h"
#include "report/code_histogram_figure.h"
#include "report/svg_chart.h"

#include <gtest/gtest.h>

namespace matquant::report {
namespace {

size_t count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

TEST(SvgChart, NiceTicksUseOneTwoFiveSteps) {
  EXPECT_EQ(nice_ticks(0, 1), (std::vector<double>{0, 0.2, 0.4, 0.6000000000000001, 0.8, 1}));
  // 2.1 .. 3.9 over ~6 ticks: raw step 0.36 -> 0.5; 2.0 .. 4.0.
  EXPECT_EQ(nice_ticks(2.1, 3.9), (std::vector<double>{2, 2.5, 3, 3.5, 4}));
  // 0 .. 37: raw 7.4 -> 10.
  EXPECT_EQ(nice_ticks(0, 37), (std::vector<double>{0, 10, 20, 30, 40}));
  // -3 .. 3: raw step 1.2 -> 2; ticks are multiples of the step, so -4 .. 4.
  EXPECT_EQ(nice_ticks(-3, 3), (std::vector<double>{-4, -2, 0, 2, 4}));
  EXPECT_THROW(nice_ticks(2, 1), Error);
}

TEST(SvgChart, TickLabelsShowTheDecimalsOfTheStep) {
  EXPECT_EQ(tick_label(0.6000000000000001, 0.2), "0.6");
  EXPECT_EQ(tick_label(2.5, 0.5), "2.5");
  EXPECT_EQ(tick_label(30, 10), "30");
  EXPECT_EQ(tick_label(0.25, 0.05), "0.25");
}

TEST(SvgChart, EscapesText) { EXPECT_EQ(svg_escape("a<b & \"c\">"), "a&lt;b &amp; &quot;c&quot;&gt;"); }

TEST(SvgChart, ScatterPanelHasAxesMarkersLegendAndLabels) {
  ChartPanel panel;
  panel.title = "T <1>";
  panel.x_label = "bits";
  panel.y_label = "loss";
  panel.series.push_back({"a", "#f00", SeriesStyle::kMarkers, false, {{2, 3}, {4, 2}, {8, 1}}});
  panel.series.push_back({"front", "#000", SeriesStyle::kLine, true, {{2, 3}, {8, 1}}});
  const std::string svg = render_svg_chart({panel}, "Figure");
  EXPECT_EQ(svg.rfind("<?xml", 0), 0u);
  EXPECT_NE(svg.find("</svg>\n"), std::string::npos);
  EXPECT_EQ(count(svg, "<circle"), 3u + 1u);  // three points, one legend marker
  EXPECT_EQ(count(svg, "<polyline"), 1u);
  EXPECT_NE(svg.find("stroke-dasharray"), std::string::npos);
  EXPECT_NE(svg.find(">T &lt;1&gt;</text>"), std::string::npos);
  EXPECT_NE(svg.find(">bits</text>"), std::string::npos);
  EXPECT_NE(svg.find(">loss</text>"), std::string::npos);
  EXPECT_NE(svg.find(">Figure</text>"), std::string::npos);
  EXPECT_NE(svg.find(">front</text>"), std::string::npos);
}

TEST(SvgChart, BarsNeedOneValuePerCategory) {
  ChartPanel panel;
  panel.categories = {"0", "1", "2", "3"};
  panel.bars.push_back({"x", "#00f", {1, 2, 3, 4}});
  panel.bars.push_back({"y", "#0f0", {4, 3, 2, 1}});
  const std::string svg = render_svg_chart({panel});
  // 8 bars, the legend's two swatches and the frame and background rectangles.
  EXPECT_EQ(count(svg, "<rect"), 8u + 2u + 1u + 1u + 1u);
  panel.bars[1].values.pop_back();
  EXPECT_THROW(render_svg_chart({panel}), Error);
  EXPECT_THROW(render_svg_chart({ChartPanel{}}), Error);
}

TEST(CodeHistogramFigure, PercentagesAndOnePanelPerWidth) {
  EXPECT_EQ(percentages({1, 1, 2}), (std::vector<double>{25, 25, 50}));
  EXPECT_EQ(percentages({0, 0}), (std::vector<double>{0, 0}));
  const CheckpointCodeCounts a{"baseline", {{4, std::vector<int64_t>(16, 1)}, {2, {1, 2, 3, 4}}}};
  const CheckpointCodeCounts b{"matquant", {{4, std::vector<int64_t>(16, 2)}, {2, {4, 3, 2, 1, 1}}}};  // extra bucket
  const std::string svg = render_code_histograms_svg({a, b}, "codes");
  EXPECT_NE(svg.find(">int4</text>"), std::string::npos);
  EXPECT_NE(svg.find(">int2</text>"), std::string::npos);
  // int4: 2 x 16 bars; int2: 2 x 5 (the baseline padded with a zero bar at the extra code).
  EXPECT_EQ(count(svg, "fill-opacity=\"0.85\"/>"), 32u + 10u + 4u);  // + two legend swatches per panel
  const CheckpointCodeCounts other{"other", {{8, {1}}, {2, {1}}}};
  EXPECT_THROW(render_code_histograms_svg({a, other}, ""), Error);
}

}  // namespace
}  // namespace matquant::report

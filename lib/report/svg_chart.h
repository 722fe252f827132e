#pragma once
// A small SVG chart writer for the paper's figures (no plotting library on the machines): one or
// more panels, each with axes, ticks, labels, a legend, and scatter/line series or grouped bars.
#include <optional>
#include <string>
#include <vector>

namespace matquant::report {

struct ChartPoint {
  double x = 0.0;
  double y = 0.0;
};

enum class SeriesStyle { kMarkers, kLine, kLineMarkers };

struct ChartSeries {
  std::string label;  // legend text; empty = not in the legend
  std::string color;  // any SVG colour
  SeriesStyle style = SeriesStyle::kMarkers;
  bool dashed = false;
  std::vector<ChartPoint> points;  // drawn in the given order
};

// Grouped bars: one group per category, one bar per BarSeries inside it.
struct BarSeries {
  std::string label;
  std::string color;
  std::vector<double> values;  // one per category
};

struct ChartPanel {
  std::string title;
  std::string x_label;
  std::string y_label;
  std::optional<double> x_min, x_max, y_min, y_max;  // default: the data's range, padded
  std::vector<ChartSeries> series;                   // numeric x axis
  std::vector<std::string> categories;               // categorical x axis (bars)
  std::vector<BarSeries> bars;
  bool legend = true;
};

struct ChartLayout {
  double panel_width = 560;
  double panel_height = 380;
  int columns = 0;  // panels per row; 0 = all in one row
};

// "Nice" tick positions covering [lo, hi]: steps of 1, 2 or 5 times a power of ten, about
// `target` of them, first <= lo and last >= hi.
std::vector<double> nice_ticks(double lo, double hi, int target = 6);

// A tick label with the decimals the step needs ("0.25", "3", "1e+06" for large values).
std::string tick_label(double value, double step);

// A complete SVG document: an optional figure title, then the panels in a grid. Throws
// kInvalidInput for a panel that has neither series nor bars, or bars not matching categories.
std::string render_svg_chart(const std::vector<ChartPanel>& panels, const std::string& figure_title = "",
                             const ChartLayout& layout = {});

// XML text escaping for labels.
std::string svg_escape(const std::string& text);

}  // namespace matquant::report

#include "report/code_histogram_figure.h"

#include "common/error.h"
#include "report/svg_chart.h"

#include <algorithm>

namespace matquant::report {
namespace {

const std::vector<std::string> kColors = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b"};

}  // namespace

std::vector<double> percentages(const std::vector<int64_t>& counts) {
  int64_t total = 0;
  for (int64_t c : counts) total += c;
  std::vector<double> out(counts.size(), 0.0);
  if (total == 0) return out;
  for (size_t i = 0; i < counts.size(); ++i) out[i] = 100.0 * double(counts[i]) / double(total);
  return out;
}

std::string render_code_histograms_svg(const std::vector<CheckpointCodeCounts>& checkpoints, const std::string& title) {
  if (checkpoints.empty()) throw_invalid("histogram: no checkpoints");
  const size_t widths = checkpoints.front().per_bits.size();
  for (const auto& c : checkpoints) {
    if (c.per_bits.size() != widths) throw_invalid("histogram: checkpoints with different precision lists");
    for (size_t i = 0; i < widths; ++i) {
      if (c.per_bits[i].bits != checkpoints.front().per_bits[i].bits) {
        throw_invalid("histogram: checkpoints with different precision lists");
      }
    }
  }
  std::vector<ChartPanel> panels;
  for (size_t i = 0; i < widths; ++i) {
    const int bits = checkpoints.front().per_bits[i].bits;
    size_t values = 0;  // an Extra-Precision checkpoint has one more code than a clamped one
    for (const auto& c : checkpoints) values = std::max(values, c.per_bits[i].counts.size());
    ChartPanel panel;
    panel.title = "int" + std::to_string(bits);
    panel.x_label = "int" + std::to_string(bits) + " code";
    panel.y_label = "weights (%)";
    for (size_t k = 0; k < checkpoints.size(); ++k) {
      std::vector<double> share = percentages(checkpoints[k].per_bits[i].counts);
      share.resize(values, 0.0);
      const std::string& color = kColors[k % kColors.size()];
      if (bits <= 4) {
        panel.bars.push_back({checkpoints[k].label, color, share});
      } else {
        ChartSeries line{checkpoints[k].label, color, SeriesStyle::kLine, false, {}};
        for (size_t q = 0; q < share.size(); ++q) line.points.push_back({double(q), share[q]});
        panel.series.push_back(line);
      }
    }
    if (bits <= 4) {
      for (size_t q = 0; q < values; ++q) panel.categories.push_back(std::to_string(q));
    } else {
      panel.x_min = 0;
      panel.x_max = double(values - 1);
      panel.y_min = 0;
    }
    panels.push_back(panel);
  }
  ChartLayout layout;
  layout.panel_width = 480;
  layout.panel_height = 360;
  layout.columns = int(std::min<size_t>(panels.size(), 3));
  return render_svg_chart(panels, title, layout);
}

}  // namespace matquant::report

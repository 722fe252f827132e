#include "report/svg_chart.h"

#include "common/error.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <sstream>

namespace matquant::report {
namespace {

// Margins inside a panel: room for tick labels and axis labels on the left and bottom.
constexpr double kLeft = 70, kRight = 20, kTop = 40, kBottom = 56;
constexpr double kFigureTitleHeight = 34;

std::string num(double v) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.2f", v);
  return buffer;
}

struct Range {
  double lo = 0.0, hi = 1.0;
};

// The data range widened to whole ticks, unless the panel fixes an end.
// Bars start at a whole tick; scatter axes keep the (padded) data range, so the data fill the panel.
Range axis_range(double lo, double hi, std::optional<double> fixed_lo, std::optional<double> fixed_hi,
                 std::vector<double>& ticks, bool extend_to_ticks) {
  if (!(lo <= hi)) lo = 0.0, hi = 1.0;
  if (fixed_lo) lo = *fixed_lo;
  if (fixed_hi) hi = *fixed_hi;
  if (hi - lo < 1e-12) {
    const double pad = std::max(std::abs(lo) * 0.05, 0.5);
    lo -= pad;
    hi += pad;
  }
  ticks = nice_ticks(lo, hi);
  Range r{fixed_lo ? *fixed_lo : (extend_to_ticks ? ticks.front() : lo), fixed_hi ? *fixed_hi : (extend_to_ticks ? ticks.back() : hi)};
  ticks.erase(std::remove_if(ticks.begin(), ticks.end(),
                             [&](double t) { return t < r.lo - 1e-9 * (r.hi - r.lo) || t > r.hi + 1e-9 * (r.hi - r.lo); }),
              ticks.end());
  return r;
}

class PanelWriter {
 public:
  PanelWriter(std::ostringstream& out, const ChartPanel& panel, double x0, double y0, double width, double height)
      : out_(out), panel_(panel), left_(x0 + kLeft), top_(y0 + kTop), width_(width - kLeft - kRight),
        height_(height - kTop - kBottom), x0_(x0), y0_(y0), panel_width_(width) {}

  void write() {
    const bool bars = !panel_.categories.empty();
    double x_lo = std::numeric_limits<double>::infinity(), x_hi = -x_lo, y_lo = x_lo, y_hi = -x_lo;
    for (const auto& s : panel_.series) {
      for (const auto& p : s.points) {
        x_lo = std::min(x_lo, p.x), x_hi = std::max(x_hi, p.x);
        y_lo = std::min(y_lo, p.y), y_hi = std::max(y_hi, p.y);
      }
    }
    if (bars) {
      y_lo = 0.0;  // bars start at zero
      for (const auto& b : panel_.bars) {
        for (double v : b.values) y_hi = std::max(y_hi, v);
      }
      if (!(y_hi > 0)) y_hi = 1.0;
    } else if (x_lo <= x_hi) {  // a little room so markers are not cut by the frame
      const double px = (x_hi - x_lo) * 0.04, py = (y_hi - y_lo) * 0.04;
      x_lo -= px, x_hi += px, y_lo -= py, y_hi += py;
    }
    // Headroom above the data for the legend box in the top right corner: its rows, its margins.
    const double legend_px = panel_.legend ? 18.0 * double(legend_entries()) + 24.0 : 0.0;
    if (legend_px > 0 && y_lo <= y_hi && !panel_.y_max) y_hi = y_lo + (y_hi - y_lo) / std::max(0.4, 1.0 - legend_px / height_);
    std::vector<double> y_ticks, x_ticks;
    y_ = axis_range(y_lo, y_hi, panel_.y_min, panel_.y_max, y_ticks, bars);
    if (!bars) x_ = axis_range(x_lo, x_hi, panel_.x_min, panel_.x_max, x_ticks, false);

    out_ << "<g>\n";
    if (!panel_.title.empty()) {
      out_ << "<text x=\"" << num(left_ + width_ / 2) << "\" y=\"" << num(y0_ + 24)
           << "\" text-anchor=\"middle\" font-size=\"15\" font-weight=\"bold\">" << svg_escape(panel_.title) << "</text>\n";
    }
    grid_and_y_axis(y_ticks);
    if (bars) {
      draw_bars();
    } else {
      x_axis(x_ticks);
      draw_series();
    }
    out_ << "<rect x=\"" << num(left_) << "\" y=\"" << num(top_) << "\" width=\"" << num(width_) << "\" height=\""
         << num(height_) << "\" fill=\"none\" stroke=\"#333\"/>\n";
    axis_labels();
    if (panel_.legend) legend();
    out_ << "</g>\n";
  }

 private:
  size_t legend_entries() const {
    size_t n = 0;
    for (const auto& s : panel_.series) n += s.label.empty() ? 0 : 1;
    for (const auto& b : panel_.bars) n += b.label.empty() ? 0 : 1;
    return n;
  }

  double sx(double x) const { return left_ + (x - x_.lo) / (x_.hi - x_.lo) * width_; }
  double sy(double y) const { return top_ + height_ - (y - y_.lo) / (y_.hi - y_.lo) * height_; }

  void grid_and_y_axis(const std::vector<double>& ticks) {
    const double step = ticks.size() > 1 ? ticks[1] - ticks[0] : 1.0;
    for (double t : ticks) {
      const double y = sy(t);
      out_ << "<line x1=\"" << num(left_) << "\" y1=\"" << num(y) << "\" x2=\"" << num(left_ + width_) << "\" y2=\""
           << num(y) << "\" stroke=\"#e3e3e3\"/>\n";
      out_ << "<line x1=\"" << num(left_ - 5) << "\" y1=\"" << num(y) << "\" x2=\"" << num(left_) << "\" y2=\"" << num(y)
           << "\" stroke=\"#333\"/>\n";
      out_ << "<text x=\"" << num(left_ - 8) << "\" y=\"" << num(y + 4) << "\" text-anchor=\"end\" font-size=\"12\">"
           << tick_label(t, step) << "</text>\n";
    }
  }

  void x_axis(const std::vector<double>& ticks) {
    const double step = ticks.size() > 1 ? ticks[1] - ticks[0] : 1.0;
    for (double t : ticks) {
      const double x = sx(t);
      out_ << "<line x1=\"" << num(x) << "\" y1=\"" << num(top_) << "\" x2=\"" << num(x) << "\" y2=\""
           << num(top_ + height_) << "\" stroke=\"#f0f0f0\"/>\n";
      out_ << "<line x1=\"" << num(x) << "\" y1=\"" << num(top_ + height_) << "\" x2=\"" << num(x) << "\" y2=\""
           << num(top_ + height_ + 5) << "\" stroke=\"#333\"/>\n";
      out_ << "<text x=\"" << num(x) << "\" y=\"" << num(top_ + height_ + 19) << "\" text-anchor=\"middle\" font-size=\"12\">"
           << tick_label(t, step) << "</text>\n";
    }
  }

  void draw_series() {
    for (const auto& s : panel_.series) {
      if (s.points.empty()) continue;
      if (s.style != SeriesStyle::kMarkers && s.points.size() > 1) {
        out_ << "<polyline fill=\"none\" stroke=\"" << s.color << "\" stroke-width=\"2\""
             << (s.dashed ? " stroke-dasharray=\"6 4\"" : "") << " points=\"";
        for (const auto& p : s.points) out_ << num(sx(p.x)) << "," << num(sy(p.y)) << " ";
        out_ << "\"/>\n";
      }
      if (s.style != SeriesStyle::kLine) {
        for (const auto& p : s.points) {
          out_ << "<circle cx=\"" << num(sx(p.x)) << "\" cy=\"" << num(sy(p.y)) << "\" r=\"4.5\" fill=\"" << s.color
               << "\" fill-opacity=\"0.85\" stroke=\"#222\" stroke-width=\"0.6\"/>\n";
        }
      }
    }
  }

  void draw_bars() {
    const size_t groups = panel_.categories.size();
    const size_t per_group = std::max<size_t>(panel_.bars.size(), 1);
    const double group_width = width_ / double(groups);
    const double bar_width = group_width * 0.8 / double(per_group);
    for (size_t c = 0; c < groups; ++c) {
      const double group_left = left_ + group_width * double(c) + group_width * 0.1;
      for (size_t b = 0; b < panel_.bars.size(); ++b) {
        const double v = panel_.bars[b].values[c];
        const double top = sy(std::max(v, y_.lo));
        out_ << "<rect x=\"" << num(group_left + bar_width * double(b)) << "\" y=\"" << num(top) << "\" width=\""
             << num(bar_width) << "\" height=\"" << num(sy(y_.lo) - top) << "\" fill=\"" << panel_.bars[b].color
             << "\" fill-opacity=\"0.85\"/>\n";
      }
      // Label only as many categories as fit (every k-th when there are many buckets).
      const size_t every = std::max<size_t>(1, size_t(std::ceil(double(groups) * 28.0 / width_)));
      if (c % every == 0) {
        const double x = left_ + group_width * (double(c) + 0.5);
        out_ << "<text x=\"" << num(x) << "\" y=\"" << num(top_ + height_ + 19)
             << "\" text-anchor=\"middle\" font-size=\"12\">" << svg_escape(panel_.categories[c]) << "</text>\n";
      }
    }
  }

  void axis_labels() {
    if (!panel_.x_label.empty()) {
      out_ << "<text x=\"" << num(left_ + width_ / 2) << "\" y=\"" << num(top_ + height_ + 44)
           << "\" text-anchor=\"middle\" font-size=\"13\">" << svg_escape(panel_.x_label) << "</text>\n";
    }
    if (!panel_.y_label.empty()) {
      const double x = x0_ + 16, y = top_ + height_ / 2;
      out_ << "<text x=\"" << num(x) << "\" y=\"" << num(y) << "\" text-anchor=\"middle\" font-size=\"13\" transform=\"rotate(-90 "
           << num(x) << " " << num(y) << ")\">" << svg_escape(panel_.y_label) << "</text>\n";
    }
  }

  void legend() {
    struct Entry {
      std::string label, color;
      bool line, marker, dashed;
    };
    std::vector<Entry> entries;
    for (const auto& s : panel_.series) {
      if (!s.label.empty()) {
        entries.push_back({s.label, s.color, s.style != SeriesStyle::kMarkers, s.style != SeriesStyle::kLine, s.dashed});
      }
    }
    for (const auto& b : panel_.bars) {
      if (!b.label.empty()) entries.push_back({b.label, b.color, false, false, false});
    }
    if (entries.empty()) return;
    size_t longest = 0;
    for (const auto& e : entries) longest = std::max(longest, e.label.size());
    const double box_width = 40 + 7.0 * double(longest), row = 18;
    const double x = left_ + width_ - box_width - 8, y = top_ + 8;
    out_ << "<rect x=\"" << num(x) << "\" y=\"" << num(y) << "\" width=\"" << num(box_width) << "\" height=\""
         << num(row * double(entries.size()) + 8) << "\" fill=\"white\" fill-opacity=\"0.9\" stroke=\"#999\"/>\n";
    for (size_t i = 0; i < entries.size(); ++i) {
      const Entry& e = entries[i];
      const double cy = y + 4 + row * (double(i) + 0.5);
      if (e.line) {
        out_ << "<line x1=\"" << num(x + 6) << "\" y1=\"" << num(cy) << "\" x2=\"" << num(x + 28) << "\" y2=\"" << num(cy)
             << "\" stroke=\"" << e.color << "\" stroke-width=\"2\"" << (e.dashed ? " stroke-dasharray=\"6 4\"" : "") << "/>\n";
      }
      if (e.marker) {
        out_ << "<circle cx=\"" << num(x + 17) << "\" cy=\"" << num(cy) << "\" r=\"4.5\" fill=\"" << e.color
             << "\" stroke=\"#222\" stroke-width=\"0.6\"/>\n";
      }
      if (!e.line && !e.marker) {
        out_ << "<rect x=\"" << num(x + 8) << "\" y=\"" << num(cy - 6) << "\" width=\"18\" height=\"12\" fill=\"" << e.color
             << "\" fill-opacity=\"0.85\"/>\n";
      }
      out_ << "<text x=\"" << num(x + 34) << "\" y=\"" << num(cy + 4) << "\" font-size=\"12\">" << svg_escape(e.label)
           << "</text>\n";
    }
  }

  std::ostringstream& out_;
  const ChartPanel& panel_;
  double left_, top_, width_, height_, x0_, y0_, panel_width_;
  Range x_, y_;
};

void check_panel(const ChartPanel& panel, size_t index) {
  const std::string where = "chart panel " + std::to_string(index) + " (" + panel.title + ")";
  if (panel.categories.empty() && panel.series.empty()) throw_invalid(where + ": nothing to draw");
  if (!panel.categories.empty() && !panel.series.empty()) throw_invalid(where + ": bars and series in one panel");
  for (const auto& b : panel.bars) {
    if (b.values.size() != panel.categories.size()) {
      throw_invalid(where + ": bar series '" + b.label + "' has " + std::to_string(b.values.size()) + " values for " +
                    std::to_string(panel.categories.size()) + " categories");
    }
  }
  for (const auto& s : panel.series) {
    for (const auto& p : s.points) {
      if (!std::isfinite(p.x) || !std::isfinite(p.y)) throw_invalid(where + ": series '" + s.label + "' has a non-finite point");
    }
  }
}

}  // namespace

std::vector<double> nice_ticks(double lo, double hi, int target) {
  if (!(std::isfinite(lo) && std::isfinite(hi)) || hi < lo) throw_invalid("nice_ticks: bad range");
  if (hi == lo) return {lo};
  const double raw = (hi - lo) / double(std::max(target - 1, 1));
  const double power = std::pow(10.0, std::floor(std::log10(raw)));
  double step = power * 10;
  for (double m : {1.0, 2.0, 5.0, 10.0}) {
    if (m * power >= raw * (1 - 1e-9)) {
      step = m * power;
      break;
    }
  }
  const double first = std::floor(lo / step + 1e-9) * step;
  std::vector<double> ticks;
  for (double t = first; t < hi + step * (1 - 1e-9); t += step) {
    ticks.push_back(std::abs(t) < step * 1e-9 ? 0.0 : std::round(t / step) * step);
  }
  if (ticks.back() < hi - step * 1e-9) ticks.push_back(ticks.back() + step);
  return ticks;
}

std::string tick_label(double value, double step) {
  char buffer[32];
  if (std::abs(value) >= 1e6 || (value != 0 && std::abs(value) < 1e-4)) {
    std::snprintf(buffer, sizeof buffer, "%.3g", value);
    return buffer;
  }
  int decimals = 0;
  while (decimals < 6 && std::abs(step * std::pow(10.0, decimals) - std::round(step * std::pow(10.0, decimals))) > 1e-6) {
    ++decimals;
  }
  std::snprintf(buffer, sizeof buffer, "%.*f", decimals, value);
  return buffer;
}

std::string svg_escape(const std::string& text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string render_svg_chart(const std::vector<ChartPanel>& panels, const std::string& figure_title,
                             const ChartLayout& layout) {
  if (panels.empty()) throw_invalid("chart: no panels");
  for (size_t i = 0; i < panels.size(); ++i) check_panel(panels[i], i);
  const size_t columns = layout.columns > 0 ? size_t(layout.columns) : panels.size();
  const size_t rows = (panels.size() + columns - 1) / columns;
  const double title_height = figure_title.empty() ? 0.0 : kFigureTitleHeight;
  const double width = layout.panel_width * double(std::min(columns, panels.size()));
  const double height = title_height + layout.panel_height * double(rows);
  std::ostringstream out;
  out << "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
      << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << num(width) << "\" height=\"" << num(height)
      << "\" viewBox=\"0 0 " << num(width) << " " << num(height) << "\" font-family=\"DejaVu Sans, Arial, sans-serif\">\n"
      << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  if (!figure_title.empty()) {
    out << "<text x=\"" << num(width / 2) << "\" y=\"22\" text-anchor=\"middle\" font-size=\"16\" font-weight=\"bold\">"
        << svg_escape(figure_title) << "</text>\n";
  }
  for (size_t i = 0; i < panels.size(); ++i) {
    const double x0 = layout.panel_width * double(i % columns);
    const double y0 = title_height + layout.panel_height * double(i / columns);
    PanelWriter(out, panels[i], x0, y0, layout.panel_width, layout.panel_height).write();
  }
  out << "</svg>\n";
  return out.str();
}

}  // namespace matquant::report

// `matquant plot mix-n-match | histogram | size`: the papers' figures as SVG files.
//   mix-n-match: quality against effective bits for Mix'n'Match plans, from the results database
//   histogram:   the share of weights at each int8/int4/int2 code in nested checkpoints
//   size:        perplexity against model size with the Pareto front (seed 004's Figure 1)
#include "command_registry.h"

#include "common/error.h"
#include "report/code_histogram_figure.h"
#include "report/generate.h"
#include "report/mix_n_match_figure.h"
#include "report/run_records.h"
#include "report/size_quality_figure.h"
#include "store/database.h"
#include "train/code_histogram.h"

#include <boost/filesystem.hpp>

#include <iostream>

namespace po = boost::program_options;

namespace matquant::apps {
namespace {

int plot_mix_n_match(const Args& args) {
  std::string db_path = store::kDefaultDatabasePath;
  std::string metric = "auto";
  std::string out_path;
  report::MixNMatchRequest request;
  std::vector<std::string> wheres;
  po::options_description options("options");
  options.add_options()
      ("db", po::value(&db_path), "results database (default results/matquant.sqlite)")
      ("model", po::value(&request.model), "only runs of this model (spec `model`)")
      ("base", po::value(&request.base), "only runs of this base (qat | omniquant | gptq | rtn)")
      ("where", po::value(&wheres)->composing(), "KEY=VALUE: only runs whose param KEY is VALUE; repeatable")
      ("metric", po::value(&metric)->default_value("auto"),
       "log_pplx | task_avg | auto (Task Avg. when the six task accuracies exist, else log pplx)")
      ("out", po::value(&out_path)->required(), "the SVG file to write");
  po::variables_map vm;
  if (!parse_command_line("plot mix-n-match", "[--db PATH] [--model M] [--base B] [--where KEY=VALUE]... [--metric log_pplx|task_avg] --out FILE.svg",
                          options, {}, args, vm)) {
    return 0;
  }
  request.metric = report::parse_mix_metric(metric);
  for (const std::string& where : wheres) {
    const auto [key, value] = report::parse_assignment("--where", "KEY=VALUE (e.g. lambdas=[0.1,0.1,1])", where);
    request.where[key].push_back(value);
  }
  if (!boost::filesystem::exists(db_path)) throw Error(ErrorCode::kNotFound, "no results database " + db_path);
  const auto db = store::Database::open_read_only(db_path);
  const auto data = report::collect_mix_n_match(report::load_run_records(db), request);
  report::write_report_file(out_path, report::render_mix_n_match_svg(data));
  std::cerr << "wrote " << out_path << " (" << data.points.size() << " points from " << data.runs << " run(s), "
            << (data.metric == report::MixMetric::kLogPplx ? "log pplx" : "Task Avg.") << ")\n";
  return 0;
}

int plot_histogram(const Args& args) {
  std::vector<std::string> checkpoints;
  std::vector<std::string> labels;
  std::vector<int> bits;
  std::string out_path;
  std::string title;
  po::options_description options("options");
  options.add_options()
      ("checkpoint", po::value(&checkpoints)->composing()->required(), "a nested checkpoint (.safetensors); repeatable")
      ("label", po::value(&labels)->composing(), "legend text for each --checkpoint, in order (default: the file's directory)")
      ("precision", po::value(&bits)->multitoken()->composing(), "bit widths to show (default 8 4 2)")
      ("title", po::value(&title)->default_value("Quantized weight distribution"), "figure title")
      ("out", po::value(&out_path)->required(), "the SVG file to write");
  po::variables_map vm;
  if (!parse_command_line("plot histogram",
                          "--checkpoint CKPT.safetensors [--checkpoint OTHER]... [--label L]... [--precision 8 4 2] --out FILE.svg",
                          options, {}, args, vm)) {
    return 0;
  }
  if (bits.empty()) bits = {8, 4, 2};
  if (!labels.empty() && labels.size() != checkpoints.size()) {
    throw_usage("--label given " + std::to_string(labels.size()) + " times for " + std::to_string(checkpoints.size()) +
                " --checkpoint");
  }
  std::vector<report::CheckpointCodeCounts> figure;
  for (size_t i = 0; i < checkpoints.size(); ++i) {
    report::CheckpointCodeCounts entry;
    entry.label = labels.empty() ? boost::filesystem::path(checkpoints[i]).parent_path().filename().string() : labels[i];
    for (const auto& h : train::checkpoint_code_histograms(checkpoints[i], bits)) entry.per_bits.push_back({h.bits, h.counts});
    figure.push_back(std::move(entry));
  }
  report::write_report_file(out_path, report::render_code_histograms_svg(figure, title));
  std::cerr << "wrote " << out_path << "\n";
  return 0;
}

int plot_size(const Args& args) {
  std::string db_path = store::kDefaultDatabasePath;
  std::string out_path;
  std::string metric = "pplx";
  report::SizeQualityRequest request;
  std::vector<std::string> wheres;
  po::options_description options("options");
  options.add_options()
      ("db", po::value(&db_path), "results database (default results/matquant.sqlite)")
      ("model", po::value(&request.model), "only runs of this model (spec `model`)")
      ("where", po::value(&wheres)->composing(), "KEY=VALUE: only runs whose param KEY is VALUE; repeatable")
      ("metric", po::value(&metric)->default_value(metric), "pplx | log_pplx")
      ("out", po::value(&out_path)->required(), "the SVG file to write");
  po::variables_map vm;
  if (!parse_command_line("plot size", "[--db PATH] [--model M] [--where KEY=VALUE]... [--metric pplx|log_pplx] --out FILE.svg",
                          options, {}, args, vm)) {
    return 0;
  }
  if (metric != "pplx" && metric != "log_pplx") throw_usage("--metric: '" + metric + "' is not pplx or log_pplx");
  request.log_scale_quality = metric == "log_pplx";
  for (const std::string& where : wheres) {
    const auto [key, value] = report::parse_assignment("--where", "KEY=VALUE (e.g. eval.activations=int8)", where);
    request.where[key].push_back(value);
  }
  if (!boost::filesystem::exists(db_path)) throw Error(ErrorCode::kNotFound, "no results database " + db_path);
  const auto db = store::Database::open_read_only(db_path);
  const auto data = report::collect_size_quality(report::load_run_records(db), request);
  report::write_report_file(out_path, report::render_size_quality_svg(data));
  std::cerr << "wrote " << out_path << " (" << data.points.size() << " points from " << data.runs << " run(s), "
            << data.front.size() << " on the Pareto front)\n";
  for (const auto& p : data.front) std::cerr << "  front: " << p.series << " " << p.label << " " << p.bits << " GB " << p.value << "\n";
  return 0;
}

int run_plot(const Args& args) {
  const std::string usage = "usage: matquant plot mix-n-match|histogram|size [options] (--help for each)";
  if (args.empty()) throw_usage(usage);
  if (args[0] == "--help" || args[0] == "-h") {
    std::cout << usage << "\n";
    return 0;
  }
  const Args rest(args.begin() + 1, args.end());
  if (args[0] == "mix-n-match") return plot_mix_n_match(rest);
  if (args[0] == "histogram") return plot_histogram(rest);
  if (args[0] == "size") return plot_size(rest);
  throw_usage("plot: unknown figure '" + args[0] + "' (mix-n-match, histogram or size)");
}

const RegisterCommand kRegister{{"plot", "the papers' figures as SVG: Mix'n'Match trade-off, weight histograms, size against perplexity", &run_plot}};

}  // namespace
}  // namespace matquant::apps

// `matquant train SPEC.json --out CHECKPOINT`: one run's training job outside a sweep
// (`matquant eval` is apps/cmd_eval.cpp).
#include "command_registry.h"

#include "common/error.h"
#include "jobs/jobs.h"
#include "run_spec_file.h"

#include <fmt/format.h>

#include <iostream>

namespace po = boost::program_options;

namespace matquant::apps {
namespace {

int run_train(const Args& args) {
  std::string spec_path, out, state_dir, device = "cpu", cache = "results/cache";
  po::options_description options("options");
  options.add_options()
      ("spec", po::value(&spec_path)->required(), "run spec JSON (docs/contracts.md)")
      ("out", po::value(&out)->required(), "nested checkpoint to write (.safetensors)")
      ("state-dir", po::value(&state_dir), "resumable training state (QAT); resumes when present")
      ("device", po::value(&device)->default_value(device), "cpu or cuda")
      ("cache-dir", po::value(&cache)->default_value(cache), "where built-in models are made");
  po::positional_options_description positional;
  positional.add("spec", 1);
  po::variables_map vm;
  if (!parse_command_line("train", "SPEC.json --out CHECKPOINT [options]", options, positional, args, vm)) return 0;
  jobs::JobContext context;
  context.device = device;
  context.cache_dir = cache;
  context.log = [](const std::string& line) { std::cerr << line << std::endl; };
  const auto outcome = jobs::run_train_job(read_run_spec(spec_path), out, state_dir, context);
  for (const auto& m : outcome.metrics) fmt::print("{}\t{}\t{}\t{:.6g}\n", m.precision, m.task, m.metric, m.value);
  if (outcome.status == "diverged") throw Error(ErrorCode::kDiverged, "training diverged (NaN or Inf loss)");
  fmt::print("checkpoint: {}\n", outcome.checkpoint);
  return 0;
}

const RegisterCommand kTrain{{"train", "train one run spec into a nested checkpoint (QAT or OmniQuant)", &run_train}};

}  // namespace
}  // namespace matquant::apps

// `matquant train SPEC.json --out CHECKPOINT`: one run's training job outside a sweep.
#include "command_registry.h"

#include "common/error.h"
#include "jobs/jobs.h"
#include "sweep/run_spec.h"

#include <fmt/format.h>

#include <fstream>
#include <iostream>

namespace po = boost::program_options;

namespace matquant::apps {
namespace {

// A run spec file, checked and completed by the same field table as sweeps (lib/sweep), so a
// single run and a sweep run of the same spec train the same thing.
nlohmann::json read_spec(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw Error(ErrorCode::kNotFound, "run spec " + path + " does not exist");
  nlohmann::json raw;
  try {
    raw = nlohmann::json::parse(in);
  } catch (const nlohmann::json::parse_error& e) {
    throw Error(ErrorCode::kInvalidInput, path + ": not valid JSON (" + e.what() + ")");
  }
  std::vector<std::string> errors;
  const sweep::FlatSpec flat = sweep::flatten_json_spec(raw, path, errors);
  nlohmann::json spec = errors.empty() ? sweep::complete_spec(flat, path, errors) : nlohmann::json();
  if (!errors.empty()) {
    std::string message = path + ": " + std::to_string(errors.size()) + " problem(s):";
    for (const auto& e : errors) message += "\n  " + e;
    throw Error(ErrorCode::kInvalidInput, message);
  }
  return spec;
}

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
  const auto outcome = jobs::run_train_job(read_spec(spec_path), out, state_dir, context);
  for (const auto& m : outcome.metrics) fmt::print("{}\t{}\t{}\t{:.6g}\n", m.precision, m.task, m.metric, m.value);
  if (outcome.status == "diverged") throw Error(ErrorCode::kDiverged, "training diverged (NaN or Inf loss)");
  fmt::print("checkpoint: {}\n", outcome.checkpoint);
  return 0;
}

int run_eval(const Args& args) {
  std::string spec_path, checkpoint, device = "cpu", cache = "results/cache";
  std::vector<std::string> precisions;
  std::vector<std::string> tasks;        // zero-shot overrides of the spec's eval.* (docs/contracts.md)
  std::string task_dir, save_requests;
  int64_t limit = -1, batch_size = -1;
  po::options_description options("options");
  options.add_options()
      ("spec", po::value(&spec_path)->required(), "run spec JSON (model, data, eval settings)")
      ("checkpoint", po::value(&checkpoint), "nested checkpoint (not needed for bf16)")
      ("precision", po::value(&precisions)->multitoken()->required(),
       "one or more of: bf16, 8, 4, 2, 6, 3, a per-layer list 2,4,8,8, or strategy@bits")
      ("device", po::value(&device)->default_value(device), "cpu or cuda")
      ("cache-dir", po::value(&cache)->default_value(cache), "where built-in models are made")
      ("tasks", po::value(&tasks)->multitoken(), "zero-shot tasks (eval.tasks), e.g. arc_easy piqa")
      ("task-dir", po::value(&task_dir), "task files directory (eval.task_dir; docs/data.md)")
      ("limit", po::value(&limit), "first N documents per task (eval.task_limit; 0 = all)")
      ("batch-size", po::value(&batch_size), "rows per forward pass (eval.batch_size)")
      ("save-requests", po::value(&save_requests), "JSONL of every request's log-likelihood (per precision: FILE.P)");
  po::positional_options_description positional;
  positional.add("spec", 1);
  po::variables_map vm;
  if (!parse_command_line("eval", "SPEC.json --checkpoint CKPT --precision P [P ...]", options, positional, args, vm)) {
    return 0;
  }
  jobs::JobContext context;
  context.device = device;
  context.cache_dir = cache;
  auto spec = read_spec(spec_path);
  if (!tasks.empty()) spec["eval"]["tasks"] = tasks;
  if (!task_dir.empty()) spec["eval"]["task_dir"] = task_dir;
  if (limit >= 0) spec["eval"]["task_limit"] = limit;
  if (batch_size >= 0) spec["eval"]["batch_size"] = batch_size;
  context.log = [](const std::string& line) { std::cerr << line << std::endl; };
  fmt::print("precision\ttask\tmetric\tvalue\n");
  for (const auto& p : precisions) {
    if (!save_requests.empty()) {
      spec["eval"]["save_requests"] = precisions.size() == 1 ? save_requests : save_requests + "." + p;
    }
    for (const auto& m : jobs::run_eval_job(spec, checkpoint, p, context).metrics) {
      fmt::print("{}\t{}\t{}\t{:.6g}\n", m.precision, m.task, m.metric, m.value);
    }
  }
  return 0;
}

const RegisterCommand kTrain{{"train", "train one run spec into a nested checkpoint (QAT or OmniQuant)", &run_train}};
const RegisterCommand kEval{{"eval", "evaluate a nested checkpoint at one or more precisions", &run_eval}};

}  // namespace
}  // namespace matquant::apps

// `matquant eval`: evaluates a model outside a sweep, as `lm_eval --model hf` would: the Hugging
// Face model itself (`--model DIR`, bf16 or fp32) or a nested checkpoint at one or more precisions,
// on zero-shot tasks and/or held-out perplexity. A run spec is optional. Metrics are printed as each
// task finishes and, with --output-path, written to an lm-eval-shaped JSON file after every task.
#include "command_registry.h"

#include "common/error.h"
#include "jobs/eval_results_file.h"
#include "jobs/jobs.h"
#include "quant/precision_label.h"
#include "run_spec_file.h"
#include "train/nested_checkpoint.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cstdio>
#include <iostream>
#include <memory>

namespace po = boost::program_options;

namespace matquant::apps {
namespace {

struct EvalCommand {
  std::string spec_path, model, checkpoint, device = "cpu", cache = "results/cache";
  std::vector<std::string> precisions, tasks, task_files;
  std::string task_dir, save_requests, output_path, validation, perplexity = "auto";
  int64_t limit = -1, batch_size = -1, max_length = -1;
};

// The spec the command line describes: SPEC.json, else the checkpoint's own spec (it records the
// one it was trained from), else the defaults; command-line values replace the spec's.
nlohmann::json evaluation_spec(const EvalCommand& c) {
  nlohmann::json raw = nlohmann::json::object();
  std::string origin = "command line";
  if (!c.spec_path.empty()) {
    raw = read_raw_run_spec(c.spec_path);
    origin = c.spec_path;
  } else if (!c.checkpoint.empty()) {
    raw = train::read_nested_checkpoint_metadata(c.checkpoint).value("spec", nlohmann::json::object());
    origin = c.checkpoint + " (its run spec)";
  }
  if (!raw.is_object()) throw Error(ErrorCode::kInvalidInput, origin + ": a run spec must be a JSON object");
  if (!c.model.empty()) raw["model"] = c.model;
  if (!c.validation.empty()) raw["data"]["validation"] = c.validation;
  if (!c.tasks.empty()) raw["eval"]["tasks"] = c.tasks;
  if (!c.task_dir.empty()) raw["eval"]["task_dir"] = c.task_dir;
  if (!c.task_files.empty()) raw["eval"]["task_files"] = c.task_files;
  if (c.limit >= 0) raw["eval"]["task_limit"] = c.limit;
  if (c.batch_size >= 0) raw["eval"]["batch_size"] = c.batch_size;
  if (c.max_length >= 0) raw["eval"]["max_length"] = c.max_length;
  nlohmann::json spec = complete_run_spec(raw, origin);

  // Perplexity is asked for, not implied: "auto" scores it only when no task is asked for, since
  // then it is the whole evaluation.
  const bool has_tasks = !spec["eval"]["tasks"].empty();
  if (c.perplexity != "on" && c.perplexity != "off" && c.perplexity != "auto") {
    throw_usage("--perplexity must be on, off or auto, not '" + c.perplexity + "'");
  }
  const bool perplexity = c.perplexity == "on" || (c.perplexity == "auto" && !has_tasks);
  spec["eval"]["perplexity"] = perplexity;
  const std::string model = spec["model"].get<std::string>();
  if (perplexity && c.spec_path.empty() && c.checkpoint.empty() && model.rfind("builtin:", 0) != 0 &&
      spec["data"]["validation"] == "synthetic") {
    throw_usage("perplexity of " + model + " needs held-out text: --validation FILE (a C4 json.gz, JSONL or text "
                "file), or --tasks and --perplexity off");
  }
  return spec;
}

std::vector<std::string> evaluated_precisions(const EvalCommand& c) {
  if (c.precisions.empty()) {
    if (!c.checkpoint.empty()) throw_usage("--precision is required with --checkpoint (e.g. --precision 8 4 2)");
    return {"bf16"};
  }
  for (const auto& p : c.precisions) {
    if (quant::needs_training(p) && c.checkpoint.empty()) {
      throw_usage("precision '" + p + "' is a slice of a nested checkpoint: give --checkpoint CKPT (bf16 and fp32 "
                  "evaluate the model itself)");
    }
  }
  return c.precisions;
}

void print_rows(const std::vector<jobs::MetricRow>& rows) {
  for (const auto& m : rows) fmt::print("{}\t{}\t{}\t{:.6g}\n", m.precision, m.task, m.metric, m.value);
  std::fflush(stdout);
}

int run_eval(const Args& args) {
  EvalCommand c;
  po::options_description options("options");
  options.add_options()
      ("spec", po::value(&c.spec_path), "run spec JSON (optional: model, data and eval settings)")
      ("model", po::value(&c.model), "Hugging Face directory or builtin:NAME (replaces the spec's model)")
      ("checkpoint", po::value(&c.checkpoint),
       "nested checkpoint; needed for quantized precisions only. Without SPEC its recorded spec is used")
      ("precision", po::value(&c.precisions)->multitoken(),
       "one or more of: bf16, fp32 (the model itself), 8, 4, 2, 6, 3, a per-layer list 2,4,8,8, or "
       "strategy@bits. Default bf16 (with --checkpoint: required)")
      ("tasks", po::value(&c.tasks)->multitoken(), "zero-shot tasks (eval.tasks), e.g. arc_easy piqa")
      ("task-dir", po::value(&c.task_dir), "task files directory (eval.task_dir; docs/data.md)")
      ("task-file", po::value(&c.task_files)->multitoken(),
       "TASK=PATH: a task's file given directly (eval.task_files), e.g. arc_easy=data/arc_easy_test.jsonl")
      ("perplexity", po::value(&c.perplexity)->default_value(c.perplexity),
       "held-out log-perplexity: on, off, or auto (on only when no task is asked for)")
      ("validation", po::value(&c.validation), "held-out text for perplexity (data.validation)")
      ("limit", po::value(&c.limit), "first N documents per task (eval.task_limit; 0 = all)")
      ("batch-size", po::value(&c.batch_size), "rows per forward pass (eval.batch_size)")
      ("max-length", po::value(&c.max_length), "context length for task scoring (eval.max_length; 0 = model's, max 2048)")
      ("output-path", po::value(&c.output_path),
       "JSON results file in lm-eval's shape, rewritten after every task (several precisions: FILE.LABEL.json)")
      ("save-requests", po::value(&c.save_requests), "JSONL of every request's log-likelihood (per precision: FILE.P)")
      ("device", po::value(&c.device)->default_value(c.device), "cpu or cuda")
      ("cache-dir", po::value(&c.cache)->default_value(c.cache), "where built-in models are made");
  po::positional_options_description positional;
  positional.add("spec", 1);
  po::variables_map vm;
  if (!parse_command_line("eval", "[SPEC.json] [--model DIR] [--checkpoint CKPT] [--precision P ...] [--tasks T ...]",
                          options, positional, args, vm)) {
    return 0;
  }
  if (c.spec_path.empty() && c.model.empty() && c.checkpoint.empty()) {
    throw_usage("nothing to evaluate: give --model DIR (or builtin:NAME), --checkpoint CKPT or a run spec");
  }
  const std::vector<std::string> precisions = evaluated_precisions(c);
  nlohmann::json spec = evaluation_spec(c);
  const auto& eval = spec["eval"];
  std::cerr << fmt::format("evaluating {} at {} on {}{}{}", spec["model"].get<std::string>(), fmt::join(precisions, ", "),
                           eval["perplexity"].get<bool>() ? "perplexity (" + spec["data"]["validation"].get<std::string>() + ")" : "",
                           eval["perplexity"].get<bool>() && !eval["tasks"].empty() ? " and " : "",
                           eval["tasks"].empty() ? "" : fmt::format("{}", fmt::join(eval["tasks"].get<std::vector<std::string>>(), ", ")))
            << std::endl;

  jobs::JobContext context;
  context.device = c.device;
  context.cache_dir = c.cache;
  context.log = [](const std::string& line) { std::cerr << line << std::endl; };
  std::string failures;
  ErrorCode failure_code = ErrorCode::kInvalidInput;
  fmt::print("precision\ttask\tmetric\tvalue\n");
  for (const auto& p : precisions) {
    if (!c.save_requests.empty()) spec["eval"]["save_requests"] = precisions.size() == 1 ? c.save_requests : c.save_requests + "." + p;
    std::unique_ptr<jobs::EvalResultsFile> results;
    if (!c.output_path.empty()) {
      const std::string label = jobs::precision_label(p, false);
      results = std::make_unique<jobs::EvalResultsFile>(
          jobs::results_path_for(c.output_path, label, precisions.size() > 1),
          nlohmann::json{{"model", "matquant"}, {"model_args", "pretrained=" + spec["model"].get<std::string>()},
                         {"checkpoint", c.checkpoint}, {"precision", p}, {"device", c.device},
                         {"batch_size", eval["batch_size"]}, {"limit", eval["task_limit"]},
                         {"max_length", eval["max_length"]}, {"tasks", eval["tasks"]}, {"task_dir", eval["task_dir"]},
                         {"task_files", eval["task_files"]}, {"perplexity", eval["perplexity"]},
                         {"validation", spec["data"]["validation"]}});
    }
    context.on_metrics = [&](const std::vector<jobs::MetricRow>& rows) {
      print_rows(rows);
      if (results) results->add(rows);
    };
    const auto outcome = jobs::run_eval_job(spec, c.checkpoint, p, context);
    if (outcome.status == "failed") {
      if (failures.empty()) failure_code = outcome.error_code;
      failures += (failures.empty() ? "" : "; ") + outcome.error;
      if (results) results->add_failures(outcome.error);
    }
  }
  if (!failures.empty()) throw Error(failure_code, "some tasks failed (the others' results are above): " + failures);
  return 0;
}

const RegisterCommand kEval{{"eval", "evaluate a Hugging Face model or a nested checkpoint (zero-shot tasks, perplexity)", &run_eval}};

}  // namespace
}  // namespace matquant::apps

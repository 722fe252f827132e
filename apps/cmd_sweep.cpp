// `matquant sweep plan|run|status|retry|cancel|fields`: YAML grids expanded into runs, scheduled as
// local worker processes or Slurm batch jobs, recorded in the results database (docs/sweeps.md,
// docs/cluster.md).
#include "command_registry.h"
#include "plan_memory.h"

#include "common/error.h"
#include "report/generate.h"
#include "store/database.h"
#include "sweep/expand.h"
#include "sweep/slurm_plan.h"
#include "sweep/slurm_status.h"
#include "sweep/spec_fields.h"
#include "sweep/sweep_runner.h"
#include "sweep/sweep_views.h"

#include <boost/algorithm/string.hpp>
#include <boost/filesystem.hpp>

#include <iostream>

namespace po = boost::program_options;

namespace matquant::apps {
namespace {

const char* kUsage =
    "plan FILE | run FILE [options] | retry FILE [options] | status FILE|NAME [--db PATH] | cancel FILE | fields\n"
    "  plan    the expanded runs as a table and their count (--executor slurm: the sbatch lines); nothing runs\n"
    "  run     train and evaluate every run not yet done, recording results in the database\n"
    "  retry   like run, giving failed jobs fresh attempts\n"
    "  status  runs and jobs of a sweep by status, with the errors of failed jobs\n"
    "  cancel  scancel the sweep's jobs queued or running in Slurm (with no runner running)\n"
    "  fields  the run spec fields a sweep may set";

std::string this_executable() {
  return boost::filesystem::read_symlink("/proc/self/exe").string();
}

std::vector<std::string> split_gpus(const std::string& text) {
  std::vector<std::string> gpus;
  if (text.empty()) return gpus;
  boost::split(gpus, text, boost::is_any_of(","));
  for (const auto& g : gpus) {
    if (g.empty() || g.find_first_not_of("0123456789") != std::string::npos) {
      throw_usage("--gpus takes device ids such as 0,1,2 (got '" + text + "')");
    }
  }
  return gpus;
}

void print_reports(const sweep::SweepPlan& plan, const std::string& db_path) {
  for (const auto& spec : plan.definition.reports) {
    report::ReportRequest request;
    request.table_id = spec.table;
    request.db_path = db_path;
    request.options.models = spec.columns;
    request.options.only_listed_models = !spec.columns.empty();
    // The sweep's results are recorded whatever the table says; a table that cannot be printed
    // (a cell matching several configurations) is reported, not a failed sweep.
    try {
      std::cout << "\n" << report::generate_report(request);
    } catch (const Error& e) {
      std::cerr << "report --table " << spec.table << " not printed: " << e.what() << "\n";
    }
  }
}

// The sweep file's `executor:` block, where the command line does not say otherwise.
void apply_executor_block(const sweep::ExecutorSpec& block, const po::variables_map& vm, sweep::RunnerOptions& runner) {
  if (block.type.empty()) return;
  const auto given = [&](const char* option) { return vm.count(option) && !vm[option].defaulted(); };
  if (!given("executor")) runner.executor = block.type;
  if (!given("partition")) runner.slurm.partition = block.slurm.partition;
  if (!given("account")) runner.slurm.account = block.slurm.account;
  if (!given("qos")) runner.slurm.qos = block.slurm.qos;
  if (!given("time")) runner.slurm.time = block.slurm.time;
  if (!given("gpus-per-job")) runner.slurm.gpus_per_job = block.slurm.gpus_per_job;
  if (!given("cpus-per-job")) runner.slurm.cpus_per_job = block.slurm.cpus_per_job;
  if (!given("sbatch-arg")) runner.slurm.sbatch_args = block.slurm.sbatch_args;
}

std::string fields_text() {
  std::string out;
  for (const auto& field : sweep::spec_fields()) {
    std::string fallback = field.fallback.is_null() ? "(derived)" : field.fallback.dump();
    out += field.key + "  [" + sweep::type_name(field.type) + ", default " + fallback + "]";
    if (!field.choices.empty()) out += " one of: " + boost::join(field.choices, ", ");
    out += "\n    " + field.help + "\n";
  }
  return out;
}

int run_sweep_command(const Args& args) {
  std::string action, target, gpus, db_path = store::kDefaultDatabasePath;
  sweep::RunnerOptions runner;
  sweep::PlanOptions plan_options;
  int64_t max_runs = 0;  // signed, so that -1 is refused rather than read as 2^64 - 1
  double gpu_memory_gib = 0;
  plan_options.check_inputs = true;  // plan and run refuse the same things: a missing model or data file too
  po::options_description options("options");
  options.add_options()
      ("action", po::value(&action)->required(), "plan | run | retry | status | fields")
      ("file", po::value(&target), "sweep YAML (status: the file or the sweep's name)")
      ("gpus", po::value(&gpus), "run: CUDA device ids, one worker each (e.g. 0,1,2,3); default: CPU workers")
      ("max-parallel", po::value(&runner.max_parallel)->default_value(0),
       "run: workers at once (CPU default 1; GPU default one per device)")
      ("retries", po::value(&runner.max_attempts)->default_value(2), "run: attempts per job before it stays failed")
      ("db", po::value(&db_path)->default_value(db_path), "results database")
      ("work-dir", po::value(&runner.work_dir)->default_value(runner.work_dir), "job directories (job.json, result.json, logs, checkpoints)")
      ("cache-dir", po::value(&runner.cache_dir)->default_value(runner.cache_dir), "where built-in models are made")
      ("no-report", po::bool_switch(), "run: do not print the sweep's report tables at the end")
      ("max-runs", po::value(&max_runs)->default_value(int64_t(plan_options.max_runs)),
       "plan, run, retry, status: refuse a sweep expanding to more runs than this")
      ("executor", po::value(&runner.executor)->default_value(runner.executor),
       "local (worker processes here) or slurm (one sbatch job per job; docs/cluster.md)")
      ("partition", po::value(&runner.slurm.partition), "slurm: --partition")
      ("account", po::value(&runner.slurm.account), "slurm: --account")
      ("qos", po::value(&runner.slurm.qos), "slurm: --qos")
      ("time", po::value(&runner.slurm.time), "slurm: --time limit per job, e.g. 04:00:00")
      ("gpus-per-job", po::value(&runner.slurm.gpus_per_job)->default_value(0), "slurm: --gpus per job; 0 = CPU jobs")
      ("cpus-per-job", po::value(&runner.slurm.cpus_per_job)->default_value(0),
       "slurm: --cpus-per-task and compute threads per job; 0 = Slurm's default")
      ("sbatch-arg", po::value(&runner.slurm.sbatch_args)->multitoken(),
       "slurm: an extra sbatch argument, as is (repeatable), e.g. --sbatch-arg=--constraint=h100")
      ("poll-seconds", po::value(&runner.slurm_poll_seconds)->default_value(runner.slurm_poll_seconds),
       "slurm: seconds between squeue calls")
      ("gpu-memory", po::value(&gpu_memory_gib),
       "plan, run: GiB per GPU that training jobs must fit (default: GPU 0's when --gpus is given and this machine "
       "has one); a run whose estimated peak is larger is refused before anything runs");
  po::positional_options_description positional;
  positional.add("action", 1).add("file", 1);
  po::variables_map vm;
  if (!parse_command_line("sweep", kUsage, options, positional, args, vm)) return 0;

  if (max_runs < 1) throw_usage("--max-runs must be at least 1");
  plan_options.max_runs = size_t(max_runs);
  if (action == "fields") {
    std::cout << fields_text();
    return 0;
  }
  if (target.empty()) throw_usage("sweep " + action + " needs a sweep file");
  if (action == "status") {
    std::string name = target;
    if (boost::filesystem::exists(target)) name = sweep::load_sweep_plan(target, {plan_options.max_runs, false}).definition.name;
    const auto db = store::Database::open_read_only(db_path);
    std::cout << sweep::render_sweep_status(db, name) << sweep::render_slurm_status(db, name, runner.work_dir);
    return 0;
  }
  const sweep::SweepPlan plan = sweep::load_sweep_plan(target, plan_options);
  apply_executor_block(plan.definition.executor, vm, runner);
  if (runner.executor != "local" && runner.executor != "slurm") {
    throw_usage("--executor must be local or slurm, not '" + runner.executor + "'");
  }
  if (runner.slurm.gpus_per_job < 0 || runner.slurm.cpus_per_job < 0) {
    throw_usage("--gpus-per-job and --cpus-per-job must not be negative");
  }
  if (runner.executor == "slurm" && !gpus.empty()) {
    throw_usage("--gpus picks local devices; with --executor slurm ask for --gpus-per-job and let Slurm place jobs");
  }
  runner.log = [](const std::string& line) { std::cerr << "[sweep] " << line << std::endl; };
  // The GPUs' memory that training jobs must fit: given, or this machine's when its GPUs will run them.
  std::optional<double> capacity;
  if (vm.count("gpu-memory")) {
    if (!(gpu_memory_gib > 0)) throw_usage("--gpu-memory must be a positive number of GiB");
    capacity = gpu_memory_gib;
  } else if (!gpus.empty()) {
    capacity = local_gpu_memory_gib();
  }
  if (action == "plan") {
    std::cout << (runner.executor == "slurm"
                      ? sweep::render_slurm_plan(plan, runner.slurm, runner.work_dir, this_executable())
                      : sweep::render_plan_table(plan))
              << render_memory_estimates(plan);
    if (capacity) refuse_runs_over_memory(plan, *capacity);
    return 0;
  }
  if (capacity && (action == "run" || action == "retry")) refuse_runs_over_memory(plan, *capacity);
  runner.db_path = db_path;
  if (action == "cancel") {
    std::cerr << "[sweep] " << plan.definition.name << ": " << sweep::cancel_sweep_jobs(plan, runner)
              << " Slurm job(s) cancelled" << std::endl;
    return 0;
  }
  if (action != "run" && action != "retry") {
    throw_usage("unknown sweep action '" + action + "' (plan, run, retry, status, cancel, fields)");
  }
  if (runner.max_attempts < 1) throw_usage("--retries must be at least 1");
  runner.gpus = split_gpus(gpus);
  runner.retry_failed = action == "retry";
  runner.worker_binary = this_executable();
  const auto summary = sweep::run_sweep(plan, runner);
  std::cerr << "[sweep] " << plan.definition.name << ": " << summary.runs << " runs, " << summary.jobs << " jobs: "
            << summary.already_done << " already done, " << summary.done << " done now, " << summary.diverged
            << " diverged, " << summary.failed << " failed (" << int(summary.seconds) << " s)" << std::endl;
  if (!vm["no-report"].as<bool>()) print_reports(plan, db_path);
  return summary.failed > 0 ? 1 : 0;
}

const RegisterCommand kRegister{
    {"sweep", "expand a YAML grid (plan), run it on GPUs, CPU workers or Slurm (run, retry, cancel), follow it (status)", &run_sweep_command}};

}  // namespace
}  // namespace matquant::apps

// `matquant train SPEC.json --out CHECKPOINT`: one run's training job outside a sweep
// (`matquant eval` is apps/cmd_eval.cpp). With --nproc N it starts N ranks of itself on this machine
// (one per GPU with --device cuda); started by another launcher (srun, torchrun-style environment),
// it is one of the ranks (docs/training.md "Several GPUs").
#include "command_registry.h"

#include "common/error.h"
#include "distributed/launch_environment.h"
#include "distributed/local_launcher.h"
#include "distributed/process_group.h"
#include "jobs/jobs.h"
#include "run_spec_file.h"

#include <ATen/Parallel.h>
#include <torch/cuda.h>
#include <fmt/format.h>

#include <algorithm>
#include <iostream>
#include <thread>

namespace po = boost::program_options;

namespace matquant::apps {
namespace {

int run_train(const Args& args) {
  std::string spec_path, out, state_dir, device = "cpu", cache = "results/cache";
  int nproc = 0;
  po::options_description options("options");
  options.add_options()
      ("spec", po::value(&spec_path)->required(), "run spec JSON (docs/contracts.md)")
      ("out", po::value(&out)->required(), "nested checkpoint to write (.safetensors)")
      ("state-dir", po::value(&state_dir), "resumable training state (QAT); resumes when present")
      ("device", po::value(&device)->default_value(device), "cpu or cuda (several processes: rank i uses cuda:i)")
      ("nproc", po::value(&nproc),
       "processes to train with on this machine (QAT sharded across them over NCCL on GPUs, Gloo on the CPU; "
       "train.batch_size is the global batch); default: the spec's resources.gpus, 1")
      ("cache-dir", po::value(&cache)->default_value(cache), "where built-in models are made");
  po::positional_options_description positional;
  positional.add("spec", 1);
  po::variables_map vm;
  if (!parse_command_line("train", "SPEC.json --out CHECKPOINT [options]", options, positional, args, vm)) return 0;
  if (vm.count("nproc") && nproc < 1) throw_usage("--nproc must be at least 1");
  const auto spec = read_run_spec(spec_path);
  const auto environment = distributed::launch_environment();
  if (!vm.count("nproc")) nproc = environment ? 1 : spec.value("resources", nlohmann::json::object()).value("gpus", 1);
  if (nproc > 1) {
    if (environment) throw_usage("--nproc is for starting ranks; this process already is one (WORLD_SIZE is set)");
    std::vector<std::string> argv{distributed::own_executable(), "train"};
    for (const auto& a : distributed::without_option(args, "--nproc")) argv.push_back(a);
    const int code = distributed::launch_local_ranks(nproc, argv);
    // The failing rank printed its own error; exit with its code.
    return code;
  }
  jobs::JobContext context;
  context.device = device;
  context.cache_dir = cache;
  const bool rank_zero = !environment || environment->rank == 0;
  if (environment) {
    // Rank i of a node uses cuda:i; where a launcher shows each rank only its own GPU
    // (srun --gpus-per-task 1), that is cuda:0.
    const int visible = int(torch::cuda::device_count());
    if (device == "cuda") context.device = "cuda:" + std::to_string(environment->local_rank % std::max(1, visible));
    // Ranks sharing a machine share its cores.
    const int cores = int(std::max(1u, std::thread::hardware_concurrency()));
    at::set_num_threads(std::max(1, cores / environment->world_size));
    std::cerr << "[matquant] rank " << environment->rank << " of " << environment->world_size << " on "
              << context.device << ": joining at " << environment->master_addr << ":" << environment->master_port
              << " (up to 300 s for the other ranks)" << std::endl;
    context.communicator = distributed::connect(*environment, c10::Device(context.device));
  }
  if (rank_zero) context.log = [](const std::string& line) { std::cerr << line << std::endl; };
  const auto outcome = jobs::run_train_job(spec, out, state_dir, context);
  if (!rank_zero) return outcome.status == "diverged" ? int(ErrorCode::kDiverged) : 0;
  for (const auto& m : outcome.metrics) fmt::print("{}\t{}\t{}\t{:.6g}\n", m.precision, m.task, m.metric, m.value);
  if (outcome.status == "diverged") throw Error(ErrorCode::kDiverged, "training diverged (NaN or Inf loss)");
  fmt::print("checkpoint: {}\n", outcome.checkpoint);
  return 0;
}

const RegisterCommand kTrain{{"train", "train one run spec into a nested checkpoint (QAT or OmniQuant)", &run_train}};

}  // namespace
}  // namespace matquant::apps

// `matquant worker JOB_DIR`: runs one job (JOB_DIR/job.json) and writes JOB_DIR/result.json.
#include "command_registry.h"

#include "jobs/worker.h"

namespace po = boost::program_options;

namespace matquant::apps {
namespace {

int run_worker_command(const Args& args) {
  std::string job_dir;
  po::options_description options("options");
  options.add_options()("job-dir", po::value(&job_dir)->required(), "directory holding job.json");
  po::positional_options_description positional;
  positional.add("job-dir", 1);
  po::variables_map vm;
  if (!parse_command_line("worker", "JOB_DIR", options, positional, args, vm)) return 0;
  return jobs::run_worker(job_dir);
}

const RegisterCommand kRegister{
    {"worker", "run one training or evaluation job from JOB_DIR/job.json (used by sweeps)", &run_worker_command}};

}  // namespace
}  // namespace matquant::apps

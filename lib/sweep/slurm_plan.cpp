#include "sweep/slurm_plan.h"

#include "sweep/command_output.h"
#include "sweep/job_graph.h"

#include <boost/filesystem.hpp>

namespace matquant::sweep {

std::string render_slurm_plan(const SweepPlan& plan, const SlurmOptions& options, const std::string& work_dir,
                              const std::string& worker_binary) {
  const JobGraph graph = build_job_graph(plan.runs);
  const auto dir_of = [&](const std::string& key) {
    return boost::filesystem::absolute(boost::filesystem::path(work_dir) / "jobs" / key).string();
  };
  std::string out = "# " + std::to_string(graph.jobs.size()) + " Slurm job(s) for sweep " + plan.definition.name +
                    "; nothing was submitted\n";
  for (const JobNode& job : graph.jobs) {
    SlurmSubmission submission{"mq-" + job.kind + "-" + job.key.substr(0, 12), dir_of(job.key), worker_binary, ""};
    if (!job.depends_on.empty()) submission.after_ok = "<job id of mq-train-" + job.depends_on.substr(0, 12) + ">";
    out += shell_quoted(sbatch_command(options, submission)) + "\n";
  }
  return out;
}

}  // namespace matquant::sweep

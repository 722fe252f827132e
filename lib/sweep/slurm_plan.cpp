#include "sweep/slurm_plan.h"

#include "sweep/command_output.h"
#include "sweep/job_graph.h"

#include <boost/filesystem.hpp>


namespace matquant::sweep {

std::string render_slurm_plan(const SweepPlan& plan, const SlurmOptions& options, const std::string& work_dir,
                              const std::string& worker_binary) {
  const JobGraph graph = build_job_graph(plan.runs);
  std::string out = "# " + std::to_string(graph.jobs.size()) + " job(s) of sweep " + plan.definition.name +
                    " as Slurm submissions (the runner's order); nothing was submitted\n";
  for (const JobNode& job : graph.jobs) {
    if (job.kind != "train") continue;
    const SlurmSubmission submission{slurm_job_name("train", job.key), job_directory(work_dir, job.key), worker_binary, ""};
    out += shell_quoted(sbatch_command(options, submission)) + "\n";
  }
  for (const auto& group : evaluations_by_training(graph, [](size_t) { return true; })) {
    const JobNode& first = graph.jobs[group.front()];
    SlurmSubmission submission{slurm_job_name("eval", first.key, group.size()), job_directory(work_dir, first.key),
                               worker_binary,
                               first.depends_on.empty() ? "" : "<job id of " + slurm_job_name("train", first.depends_on) + ">"};
    if (group.size() > 1) {  // one array: its list file names the job directories, one per line
      submission.job_dir = boost::filesystem::absolute(boost::filesystem::path(work_dir) / "arrays").string();
      submission.array_list = submission.job_dir + "/<list of " + std::to_string(group.size()) + " job directories>.txt";
      submission.array_size = group.size();
    }
    out += shell_quoted(sbatch_command(options, submission)) + "\n";
  }
  return out;
}

}  // namespace matquant::sweep

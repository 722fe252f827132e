#include "sweep/slurm_plan.h"

#include "sweep/command_output.h"
#include "sweep/job_graph.h"

#include <boost/filesystem.hpp>

#include <map>
#include <vector>

namespace matquant::sweep {

std::string render_slurm_plan(const SweepPlan& plan, const SlurmOptions& options, const std::string& work_dir,
                              const std::string& worker_binary) {
  const JobGraph graph = build_job_graph(plan.runs);
  const auto dir_of = [&](const std::string& key) {
    return boost::filesystem::absolute(boost::filesystem::path(work_dir) / "jobs" / key).string();
  };
  const auto training_id = [](const std::string& key) { return "<job id of mq-train-" + key.substr(0, 12) + ">"; };
  std::string out = "# " + std::to_string(graph.jobs.size()) + " job(s) of sweep " + plan.definition.name +
                    " as Slurm submissions (the runner's order); nothing was submitted\n";
  std::vector<std::string> order;
  std::map<std::string, std::vector<const JobNode*>> evaluations;
  for (const JobNode& job : graph.jobs) {
    if (job.kind == "train") {
      SlurmSubmission submission{"mq-train-" + job.key.substr(0, 12), dir_of(job.key), worker_binary, ""};
      out += shell_quoted(sbatch_command(options, submission)) + "\n";
      continue;
    }
    auto& group = evaluations[job.depends_on];
    if (group.empty()) order.push_back(job.depends_on);
    group.push_back(&job);
  }
  for (const auto& training : order) {
    const auto& group = evaluations.at(training);
    SlurmSubmission submission{"mq-eval-" + group.front()->key.substr(0, 12), dir_of(group.front()->key),
                               worker_binary, training.empty() ? "" : training_id(training)};
    if (group.size() > 1) {  // one array: its list file names the job directories, one per line
      submission.name = "mq-evals-" + group.front()->key.substr(0, 12);
      submission.job_dir = boost::filesystem::absolute(boost::filesystem::path(work_dir) / "arrays").string();
      submission.array_list = submission.job_dir + "/<list of " + std::to_string(group.size()) + " job directories>.txt";
      submission.array_size = group.size();
    }
    out += shell_quoted(sbatch_command(options, submission)) + "\n";
  }
  return out;
}

}  // namespace matquant::sweep

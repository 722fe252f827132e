#include "sweep/job_graph.h"

#include <boost/filesystem.hpp>

#include "quant/precision_label.h"
#include "sweep/run_keys.h"

#include <algorithm>
#include <tuple>

namespace matquant::sweep {
namespace {

// What decides reload cost: the model, then the training data it reads.
std::tuple<std::string, std::string, std::string> load_order(const nlohmann::json& spec) {
  return {spec.value("model", ""), spec["data"].value("train", ""), spec.value("base", "")};
}

}  // namespace

JobGraph build_job_graph(const std::vector<PlannedSpec>& runs) {
  std::vector<JobNode> trains;
  std::vector<JobNode> evals;
  JobGraph graph;
  // Two passes keep pointers into the vectors stable: collect first, then index.
  std::map<std::string, std::pair<char, size_t>> where;
  const auto add = [&](std::vector<JobNode>& list, char tag, JobNode node, const std::string& run) {
    auto it = where.find(node.key);
    if (it == where.end()) {
      node.runs.push_back(run);
      where[node.key] = {tag, list.size()};
      list.push_back(std::move(node));
    } else {
      JobNode& existing = (it->second.first == 't' ? trains : evals)[it->second.second];
      if (std::find(existing.runs.begin(), existing.runs.end(), run) == existing.runs.end()) existing.runs.push_back(run);
    }
  };
  for (const auto& run : runs) {
    const bool extra_precision = run.spec.value("variant", "") == "ep";
    const std::string train_key = train_job_key(run.spec);
    auto& run_jobs = graph.jobs_of_run[run.run_key];
    bool needs_training = false;
    for (const auto& p : run.spec["eval"]["precisions"]) needs_training = needs_training || quant::needs_training(p.get<std::string>());
    if (needs_training) {
      add(trains, 't', JobNode{train_key, "train", "", "", "", run.spec, run.run_key, {}}, run.run_key);
      run_jobs.push_back(train_key);
    }
    for (const auto& p : run.spec["eval"]["precisions"]) {
      const std::string precision = p.get<std::string>();
      const std::string key = eval_job_key(run.spec, precision);
      JobNode node{key, "eval", precision, quant::precision_label(precision, extra_precision),
                   !quant::needs_training(precision) ? "" : train_key, run.spec, run.run_key, {}};
      add(evals, 'e', std::move(node), run.run_key);
      run_jobs.push_back(key);
    }
  }
  std::stable_sort(trains.begin(), trains.end(),
                   [](const JobNode& a, const JobNode& b) { return load_order(a.spec) < load_order(b.spec); });
  std::map<std::string, size_t> train_position;
  for (size_t i = 0; i < trains.size(); ++i) train_position[trains[i].key] = i;
  std::stable_sort(evals.begin(), evals.end(), [&](const JobNode& a, const JobNode& b) {
    // bf16 evaluations (no training) first; then in their training job's order.
    const size_t pa = a.depends_on.empty() ? 0 : train_position[a.depends_on] + 1;
    const size_t pb = b.depends_on.empty() ? 0 : train_position[b.depends_on] + 1;
    return pa < pb;
  });
  for (auto& node : trains) graph.jobs.push_back(std::move(node));
  for (auto& node : evals) graph.jobs.push_back(std::move(node));
  for (size_t i = 0; i < graph.jobs.size(); ++i) graph.index[graph.jobs[i].key] = i;
  return graph;
}

std::string job_directory(const std::string& work_dir, const std::string& key) {
  return boost::filesystem::absolute(boost::filesystem::path(work_dir) / "jobs" / key).string();
}

std::vector<std::vector<size_t>> evaluations_by_training(const JobGraph& graph,
                                                         const std::function<bool(size_t)>& include) {
  std::vector<std::vector<size_t>> groups;
  std::map<std::string, size_t> group_of;
  for (size_t i = 0; i < graph.jobs.size(); ++i) {
    if (graph.jobs[i].kind == "train" || !include(i)) continue;
    const auto [at, added] = group_of.emplace(graph.jobs[i].depends_on, groups.size());
    if (added) groups.emplace_back();
    groups[at->second].push_back(i);
  }
  return groups;
}

}  // namespace matquant::sweep

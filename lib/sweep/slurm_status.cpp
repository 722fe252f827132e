#include "sweep/slurm_status.h"

#include "common/error.h"
#include "sweep/job_graph.h"
#include "sweep/slurm_client.h"

#include <fstream>
#include <vector>

namespace matquant::sweep {

std::string render_slurm_status(const store::Database& db, const std::string& sweep_name, const std::string& work_dir) {
  struct Open {
    std::string key, kind, status, slurm_id;
  };
  std::vector<Open> open;
  auto find = db.prepare(
      "SELECT DISTINCT j.job_key, j.kind, j.status FROM jobs j JOIN run_jobs rj ON rj.job_key = j.job_key "
      "JOIN runs r ON r.run_key = rj.run_key WHERE r.sweep = ? AND j.status IN ('queued', 'running') ORDER BY j.job_key");
  find.bind(1, sweep_name);
  while (find.step()) {
    Open job{find.column_text(0), find.column_text(1), find.column_text(2), ""};
    std::ifstream(job_directory(work_dir, job.key) + "/slurm.job") >> job.slurm_id;
    if (!job.slurm_id.empty()) open.push_back(job);
  }
  if (open.empty()) return "";
  std::vector<std::string> ids;
  for (const auto& job : open) ids.push_back(job.slurm_id);
  std::string out = "\nin Slurm (squeue):\n";
  try {
    const auto queue = queued_jobs(ids);
    for (const auto& job : open) {
      const auto entry = queue.find(job.slurm_id);
      out += "  " + job.kind + " " + job.key.substr(0, 12) + "  Slurm job " + job.slurm_id + "  " +
             (entry == queue.end() ? "no longer queued: the next `sweep run` ingests or retries it"
                                   : entry->second.state + (entry->second.node.empty() ? "" : " on " + entry->second.node)) +
             "\n";
    }
  } catch (const Error& e) {  // squeue missing or failing: the database's view stands
    out += "  (" + std::to_string(open.size()) + " job(s) submitted; squeue unavailable: " + e.what() + ")\n";
  }
  return out;
}

}  // namespace matquant::sweep

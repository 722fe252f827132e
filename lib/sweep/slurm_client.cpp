#include "sweep/slurm_client.h"

#include "common/error.h"
#include "sweep/command_output.h"

#include <sstream>

namespace matquant::sweep {

namespace {

std::string first_line(const std::string& text) {
  const size_t start = text.find_first_not_of("\n ");
  if (start == std::string::npos) return "";
  return text.substr(start, text.find('\n', start) - start);
}

CommandOutput run_slurm(const std::vector<std::string>& argv) {
  CommandOutput out = run_command(argv);
  if (!out.started()) {
    throw Error(ErrorCode::kNotFound, argv[0] + " not found: the Slurm executor needs Slurm's commands on PATH "
                                                "(run the sweep on a machine that can submit jobs)");
  }
  return out;
}

// "Key=Value Key=Value ..." of `scontrol show job -o`.
std::map<std::string, std::string> scontrol_fields(const std::string& line) {
  std::map<std::string, std::string> fields;
  std::istringstream words(line);
  std::string word;
  while (words >> word) {
    const size_t equals = word.find('=');
    if (equals != std::string::npos) fields.emplace(word.substr(0, equals), word.substr(equals + 1));
  }
  return fields;
}

}  // namespace

std::string slurm_job_name(const std::string& kind, const std::string& key, size_t jobs) {
  return "mq-" + kind + (jobs > 1 ? "s-" : "-") + key.substr(0, 12);
}

std::vector<std::string> sbatch_command(const SlurmOptions& options, const SlurmSubmission& job) {
  const bool array = job.array_size > 0;
  std::vector<std::string> argv = {"sbatch", "--parsable", "--job-name=" + job.name,
                                   "--output=" + job.job_dir + (array ? "/slurm-%A_%a.log" : "/worker.log"),
                                   "--open-mode=append",
                                   // Preempted or failed nodes: Slurm requeues the job; a training
                                   // job resumes from JOB_DIR/state.
                                   "--requeue"};
  if (array) argv.push_back("--array=0-" + std::to_string(job.array_size - 1));
  if (!options.partition.empty()) argv.push_back("--partition=" + options.partition);
  if (!options.account.empty()) argv.push_back("--account=" + options.account);
  if (!options.qos.empty()) argv.push_back("--qos=" + options.qos);
  if (!options.time.empty()) argv.push_back("--time=" + options.time);
  if (job.gpus > 0) {
    argv.push_back("--nodes=1");
    argv.push_back("--gpus=" + std::to_string(job.gpus));
  } else if (options.gpus_per_job > 0) {
    argv.push_back("--gpus=" + std::to_string(options.gpus_per_job));
  }
  if (options.cpus_per_job > 0) {
    // LibTorch would otherwise start a thread per core of the node, whatever Slurm allotted.
    argv.push_back("--cpus-per-task=" + std::to_string(options.cpus_per_job));
    argv.push_back("--export=ALL,OMP_NUM_THREADS=" + std::to_string(options.cpus_per_job));
  }
  if (!job.after_ok.empty()) {
    argv.push_back("--dependency=afterok:" + job.after_ok);
    argv.push_back("--kill-on-invalid-dep=yes");
  }
  for (const auto& extra : options.sbatch_args) argv.push_back(extra);
  if (array) {
    argv.push_back("--wrap=d=$(sed -n \"$((SLURM_ARRAY_TASK_ID + 1))p\" " + shell_quoted({job.array_list}) +
                   ") && exec " + shell_quoted({job.worker_binary, "worker"}) + " \"$d\" >>\"$d/worker.log\" 2>&1");
  } else {
    argv.push_back("--wrap=exec " + shell_quoted({job.worker_binary, "worker", job.job_dir}));
  }
  return argv;
}

std::string submit_job(const SlurmOptions& options, const SlurmSubmission& job) {
  const auto argv = sbatch_command(options, job);
  const CommandOutput out = run_slurm(argv);
  const std::string line = first_line(out.out);
  const std::string id = line.substr(0, line.find(';'));  // "ID" or "ID;cluster"
  if (out.exit_code != 0 || id.empty() || id.find_first_not_of("0123456789_") != std::string::npos) {
    throw Error(ErrorCode::kInvalidInput, "Slurm refused the submission of " + job.name + ": " +
                                              first_line(out.err.empty() ? out.out : out.err) + " (" +
                                              shell_quoted(argv) + ")");
  }
  return id;
}

std::map<std::string, SlurmQueueEntry> queued_jobs(const std::vector<std::string>& ids) {
  std::map<std::string, SlurmQueueEntry> queued;
  if (ids.empty()) return queued;
  std::string list;
  for (const auto& id : ids) list += (list.empty() ? "" : ",") + id;
  // --array: one line per array task ("ID_k"), pending ones too.
  const CommandOutput out = run_slurm({"squeue", "--noheader", "--array", "--format=%i %T %N", "--jobs=" + list});
  if (out.exit_code != 0) {
    // squeue fails when every id is unknown to it (all ended and purged): none is queued.
    if (out.err.find("Invalid job id") != std::string::npos) return queued;
    throw Error(ErrorCode::kIo, "squeue failed: " + first_line(out.err));
  }
  std::istringstream lines(out.out);
  std::string line;
  while (std::getline(lines, line)) {
    std::istringstream words(line);
    std::string id, state, node;
    words >> id >> state >> node;
    if (!id.empty() && state != "COMPLETED" && state != "FAILED" && state != "CANCELLED" && state != "TIMEOUT") {
      queued[id] = {state, node};
    }
  }
  return queued;
}

std::optional<SlurmJobEnd> job_end(const std::string& id) {
  const CommandOutput out = run_slurm({"scontrol", "show", "job", "--oneliner", id});
  if (out.exit_code != 0) return std::nullopt;  // "Invalid job id specified": purged
  const auto fields = scontrol_fields(out.out);
  SlurmJobEnd end;
  const auto get = [&](const char* key) { return fields.count(key) ? fields.at(key) : std::string(); };
  end.state = get("JobState");
  end.exit_code = get("ExitCode");
  end.node = get("NodeList");
  end.reason = get("Reason");
  const std::string run_time = get("RunTime");
  end.started = (!run_time.empty() && run_time != "00:00:00") || end.state == "COMPLETED" || end.state == "FAILED" ||
                end.state == "TIMEOUT" || end.state == "NODE_FAIL" || end.state == "OUT_OF_MEMORY";
  if (end.node == "(null)") end.node.clear();
  return end;
}

void cancel_job(const std::string& id) {
  const CommandOutput out = run_slurm({"scancel", id});
  if (out.exit_code != 0 && out.err.find("Invalid job id") == std::string::npos) {
    throw Error(ErrorCode::kIo, "scancel " + id + " failed: " + first_line(out.err));
  }
}

}  // namespace matquant::sweep

#pragma once
// What the sweep runner asks of Slurm, through its own commands (sbatch, squeue, scontrol,
// scancel): Slurm does the scheduling, we only submit, watch and cancel. Each job is one batch
// job running `matquant worker JOB_DIR` with its output appended to JOB_DIR/worker.log; an
// evaluation submitted while its training is still in Slurm waits on it with
// --dependency=afterok:ID (and is cancelled by Slurm if the training fails: --kill-on-invalid-dep).
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace matquant::sweep {

struct SlurmOptions {
  std::string partition, account, qos, time;  // empty: the cluster's defaults
  int gpus_per_job = 0;                         // 0: CPU jobs; else --gpus=N and device cuda
  int cpus_per_job = 0;                         // 0: Slurm's default; else --cpus-per-task=N, N compute threads
  std::vector<std::string> sbatch_args;         // passed to sbatch as they are (--sbatch-arg)
};

struct SlurmSubmission {
  std::string name;            // --job-name
  std::string job_dir;         // holds job.json; worker.log is written there
  std::string worker_binary;   // the matquant executable, on a path the nodes share
  std::string after_ok;        // Slurm job id this one waits for; empty: none
  // A job array instead (--array=0-N-1): task k runs the job whose directory is line k+1 of this
  // file, its output appended to that directory's worker.log. job_dir then holds Slurm's own log.
  std::string array_list;
  size_t array_size = 0;
  int gpus = 0;  // > 0: this many GPUs on one node instead of the executor's gpus_per_job
};

// Slurm job names: "mq-train-KEY12", "mq-eval-KEY12", an array of evaluations "mq-evals-KEY12" (the
// first job's key), so `squeue` shows which sweep job is which.
std::string slurm_job_name(const std::string& kind, const std::string& key, size_t jobs = 1);

// The sbatch command line for one job (what `sweep plan --executor slurm` prints).
std::vector<std::string> sbatch_command(const SlurmOptions& options, const SlurmSubmission& job);

// Submits; returns Slurm's job id (of the array, for an array: its task k is "ID_k"). sbatch
// missing, or a refused submission (an unknown partition, an invalid account), is an Error naming
// the command and what sbatch said.
std::string submit_job(const SlurmOptions& options, const SlurmSubmission& job);

struct SlurmQueueEntry {
  std::string state;  // PENDING, RUNNING, COMPLETING, CONFIGURING, ...
  std::string node;   // empty while pending
};

// The jobs among `ids` ("ID", or "ID_k" for an array task) still in the queue (squeue), by id.
std::map<std::string, SlurmQueueEntry> queued_jobs(const std::vector<std::string>& ids);

struct SlurmJobEnd {
  std::string state;      // COMPLETED, FAILED, CANCELLED, TIMEOUT, NODE_FAIL, PREEMPTED, OUT_OF_MEMORY; "" unknown
  std::string exit_code;  // "0:0" (code:signal)
  std::string node;
  bool started = false;   // it ran at all (RunTime > 0 or a terminal state only a started job reaches)
  std::string reason;     // e.g. DependencyNeverSatisfied
};

// How a job that left the queue ended (scontrol show job); nullopt when Slurm no longer knows it.
std::optional<SlurmJobEnd> job_end(const std::string& id);

// scancel; a job already gone is not an error.
void cancel_job(const std::string& id);

}  // namespace matquant::sweep

#include "sweep/sweep_runner.h"

#include "common/error.h"
#include "store/database.h"
#include "store/ingest.h"
#include "store/run_log.h"
#include "store/runner_lease.h"
#include "sweep/job_graph.h"
#include "sweep/slurm_client.h"
#include "sweep/worker_process.h"

#include <boost/filesystem.hpp>
#include <sqlite3.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <optional>
#include <set>
#include <thread>

namespace matquant::sweep {
namespace {

namespace fs = boost::filesystem;
using nlohmann::json;

enum class JobState { kPending, kRunning, kFinished, kFailed };

struct Slot {
  std::string device;  // "cpu" or "cuda"
  std::map<std::string, std::string> environment;
  std::optional<size_t> job;  // index into the graph
};

struct Tracked {
  JobState state = JobState::kPending;
  pid_t pid = 0;
  bool adopted = false;  // started by an earlier runner; watched through /proc
  std::vector<size_t> slots;  // a training job with resources.gpus N holds N slots on N GPUs
  std::chrono::steady_clock::time_point started;
  std::optional<WorkerExit> stopped;  // reaped after a stop signal: settled by stop_workers()
  std::string slurm_id;               // executor slurm: the batch job of this attempt
  bool slurm_started = false;         // seen running (its attempt is counted)
};

// Processes (GPUs) a job runs on: a training job's resources.gpus, else 1.
int processes_of(const JobNode& job) {
  if (job.kind != "train" || !job.spec.contains("resources")) return 1;
  return job.spec["resources"].value("gpus", 1);
}

// The SIGINT/SIGTERM that asked the runner to stop (0: none). Only set by the handler.
volatile sig_atomic_t g_stop_signal = 0;

extern "C" void on_stop_signal(int signal) { g_stop_signal = signal; }

// Installs the stop handlers for the runner's lifetime and restores the previous ones. A SIGINT
// that was ignored when we started (a job started with `nohup` or `&`) stays ignored.
class StopSignals {
 public:
  StopSignals() {
    g_stop_signal = 0;
    struct sigaction action {};
    action.sa_handler = &on_stop_signal;
    sigemptyset(&action.sa_mask);
    ::sigaction(SIGTERM, &action, &old_term_);
    ::sigaction(SIGINT, nullptr, &old_int_);
    if (old_int_.sa_handler != SIG_IGN) ::sigaction(SIGINT, &action, nullptr);
  }
  ~StopSignals() {
    ::sigaction(SIGTERM, &old_term_, nullptr);
    ::sigaction(SIGINT, &old_int_, nullptr);
  }
  StopSignals(const StopSignals&) = delete;
  StopSignals& operator=(const StopSignals&) = delete;

 private:
  struct sigaction old_int_ {};
  struct sigaction old_term_ {};
};

bool is_stop_signal(const WorkerExit& exit) {
  return exit.signalled ? exit.signal == SIGINT || exit.signal == SIGTERM
                        : exit.exit_code == 128 + SIGINT || exit.exit_code == 128 + SIGTERM;
}

// Holds WORK/runner.lock for the runner's lifetime: two runners on one work directory would run
// the same jobs twice.
class RunnerLock {
 public:
  explicit RunnerLock(const std::string& work_dir) {
    fs::create_directories(work_dir);
    const std::string path = work_dir + "/runner.lock";
    // Close-on-exec: workers must not inherit the lock and hold it after a runner dies.
    fd_ = ::open(path.c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0644);
    if (fd_ < 0) throw Error(ErrorCode::kIo, "cannot open " + path);
    if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
      ::close(fd_);
      throw Error(ErrorCode::kInvalidInput, "another sweep runner is using " + work_dir + " (" + path + " is locked)");
    }
  }
  ~RunnerLock() { ::close(fd_); }
  RunnerLock(const RunnerLock&) = delete;
  RunnerLock& operator=(const RunnerLock&) = delete;

 private:
  int fd_ = -1;
};

struct JobStatusRow {
  std::string status;
  int64_t attempts = 0;
};

std::optional<JobStatusRow> job_status(const store::Database& db, const std::string& key) {
  auto find = db.prepare("SELECT status, attempts FROM jobs WHERE job_key = ?");
  find.bind(1, key);
  if (!find.step()) return std::nullopt;
  return JobStatusRow{find.column_text(0), find.column_int(1)};
}

std::string checkpoint_of(const store::Database& db, const std::string& train_key, const std::string& fallback) {
  auto find = db.prepare("SELECT path FROM artifacts WHERE job_key = ? AND kind = 'checkpoint' LIMIT 1");
  find.bind(1, train_key);
  return find.step() ? find.column_text(0) : fallback;
}

// A run name already used in this sweep for a different spec: refuse rather than mix results.
void refuse_changed_runs(const store::Database& db, const SweepPlan& plan) {
  std::string conflicts;
  size_t count = 0;
  for (const auto& run : plan.runs) {
    auto find = db.prepare("SELECT run_key FROM runs WHERE sweep = ? AND name = ? AND run_key <> ?");
    find.bind(1, plan.definition.name).bind(2, run.name).bind(3, run.run_key);
    if (find.step()) {
      if (++count <= 10) conflicts += "\n  " + run.name + " (was " + find.column_text(0).substr(0, 12) + ", now " + run.run_key.substr(0, 12) + ")";
    }
  }
  if (count > 0) {
    throw Error(ErrorCode::kInvalidInput,
                plan.definition.file + ": " + std::to_string(count) + " run(s) of sweep '" + plan.definition.name +
                    "' changed their spec since they were recorded; nothing was run. Give the sweep a new name "
                    "(`sweep:` key) or the runs new names to keep both:" + conflicts);
  }
}

class Runner {
 public:
  Runner(const SweepPlan& plan, const RunnerOptions& options)
      : plan_(plan), options_(options), db_(store::Database::open(options.db_path)) {}

  ~Runner() {
    if (!leased_) return;
    try {
      store::release_runner_lease(db_);
    } catch (const Error&) {  // the next runner finds the lease stale
    }
  }

  RunnerSummary run() {
    const auto start = std::chrono::steady_clock::now();
    if (const auto replaced = store::acquire_runner_lease(db_, fs::absolute(options_.work_dir).string(), plan_.definition.name)) {
      log("taking over the lease on " + options_.db_path + " of runner pid " + std::to_string(replaced->pid) + " on " +
          replaced->host + " (no longer running)");
    }
    leased_ = true;
    auto heartbeat = std::chrono::steady_clock::now();
    refuse_changed_runs(db_, plan_);
    graph_ = build_job_graph(plan_.runs);
    record_plan();
    make_slots();
    refuse_unplaceable_jobs();
    tracked_.assign(graph_.jobs.size(), Tracked{});
    summary_.runs = plan_.runs.size();
    summary_.jobs = graph_.jobs.size();
    recover();
    log(std::to_string(summary_.runs) + " runs, " + std::to_string(summary_.jobs) + " jobs: " +
        std::to_string(summary_.already_done) + " already done, " + std::to_string(pending_count()) + " to run on " +
        slot_description());
    while (true) {
      if (g_stop_signal != 0) stop_workers();  // throws kInterrupted
      if (std::chrono::steady_clock::now() - heartbeat > std::chrono::seconds(5)) {
        store::renew_runner_lease(db_);
        heartbeat = std::chrono::steady_clock::now();
      }
      const bool changed = reap();
      if (g_stop_signal != 0) continue;  // start nothing more
      const bool started = schedule();
      if (!any(JobState::kRunning) && !started) break;
      if (!changed && !started) {
        std::this_thread::sleep_for(std::chrono::duration<double>(slurm() ? options_.slurm_poll_seconds : options_.poll_seconds));
      }
    }
    summary_.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return summary_;
  }

 private:
  void log(const std::string& line) const {
    if (options_.log) options_.log(line);
  }

  bool slurm() const { return options_.executor == "slurm"; }

  std::string job_dir(const JobNode& job) const {
    return job_directory(options_.work_dir, job.key);
  }

  std::string describe_job(const JobNode& job) const {
    const std::string name = job.spec.value("name", job.owner_run.substr(0, 12));
    return job.kind == "train" ? "train " + name : "eval " + name + " @ " + job.label;
  }

  void record_plan() {
    store::record_sweep(db_, plan_.definition.name, plan_.definition.file);
    for (const auto& run : plan_.runs) {
      store::PlannedRun planned{run.run_key, run.name, plan_.definition.name, run.spec, {}};
      for (const auto& key : graph_.jobs_of_run.at(run.run_key)) {
        const JobNode& job = graph_.jobs[graph_.index.at(key)];
        planned.jobs.push_back({job.key, job.kind, job.label});
      }
      store::record_run_planned(db_, planned);
    }
    if (options_.retry_failed) {
      for (const auto& job : graph_.jobs) {
        const auto row = job_status(db_, job.key);
        if (row && row->status == store::kStatusFailed) {
          db_.write_transaction([&] {
            db_.prepare("UPDATE jobs SET status = 'planned', attempts = 0 WHERE job_key = ?").bind(1, job.key).run();
            for (const auto& run : job.runs) store::update_run_status(db_, run);
            store::record_event(db_, "retry", "failed job given fresh attempts", job.owner_run, job.key);
          });
        }
      }
    }
  }

  // Before anything runs: a training job asking for more GPUs than this runner can give it.
  void refuse_unplaceable_jobs() const {
    std::set<std::string> gpus(options_.gpus.begin(), options_.gpus.end());
    std::vector<std::string> problems;
    for (const auto& job : graph_.jobs) {
      const int wanted = processes_of(job);
      if (wanted <= 1) continue;
      const std::string run = job.spec.value("name", job.owner_run.substr(0, 12));
      if (slurm() && options_.slurm.gpus_per_job <= 0) {
        problems.push_back("run " + run + ": resources.gpus " + std::to_string(wanted) +
                           " needs GPU jobs (executor gpus_per_job / --gpus-per-job)");
      } else if (!slurm() && int(gpus.size()) < wanted) {
        problems.push_back("run " + run + ": resources.gpus " + std::to_string(wanted) + " but the runner has " +
                           std::to_string(gpus.size()) + " GPU(s) (--gpus)");
      }
    }
    if (problems.empty()) return;
    std::string text;
    for (const auto& p : problems) text += (text.empty() ? "" : "; ") + p;
    throw Error(ErrorCode::kInvalidInput, text);
  }

  void make_slots() {
    if (slurm()) return;  // Slurm schedules; schedule_slurm() only bounds what is queued at once
    if (options_.gpus.empty()) {
      const int parallel = std::max(1, options_.max_parallel);
      const unsigned cores = std::max(1u, std::thread::hardware_concurrency());
      const std::string threads = std::to_string(std::max(1u, cores / unsigned(parallel)));
      for (int i = 0; i < parallel; ++i) {
        slots_.push_back({"cpu", {{"CUDA_VISIBLE_DEVICES", ""}, {"OMP_NUM_THREADS", threads}}, std::nullopt});
      }
      return;
    }
    const int per_gpu = options_.max_parallel <= 0 ? 1 : std::max<int>(1, options_.max_parallel / int(options_.gpus.size()));
    for (int k = 0; k < per_gpu; ++k) {
      for (const auto& gpu : options_.gpus) slots_.push_back({"cuda", {{"CUDA_VISIBLE_DEVICES", gpu}}, std::nullopt});
    }
  }

  std::string slot_description() const {
    if (slurm()) {
      return "Slurm" + (options_.slurm.partition.empty() ? std::string() : " partition " + options_.slurm.partition) +
             (options_.slurm.gpus_per_job > 0 ? ", " + std::to_string(options_.slurm.gpus_per_job) + " GPU(s) per job" : ", CPU jobs");
    }
    if (options_.gpus.empty()) return std::to_string(slots_.size()) + " CPU worker(s)";
    std::string list;
    for (const auto& g : options_.gpus) list += (list.empty() ? "" : ",") + g;
    return std::to_string(slots_.size()) + " worker(s) on GPU " + list;
  }

  size_t pending_count() const {
    size_t n = 0;
    for (const auto& t : tracked_) n += t.state == JobState::kPending || t.state == JobState::kRunning;
    return n;
  }

  bool any(JobState state) const {
    for (const auto& t : tracked_) {
      if (t.state == state) return true;
    }
    return false;
  }

  // After a restart: finished work is ingested, live workers are adopted, the rest waits.
  void recover() {
    std::vector<std::string> diverged_trains;
    for (size_t i = 0; i < graph_.jobs.size(); ++i) {
      const JobNode& job = graph_.jobs[i];
      const auto row = job_status(db_, job.key);
      const std::string status = row ? row->status : store::kStatusPlanned;
      if (status == store::kStatusDone || status == store::kStatusDiverged) {
        tracked_[i].state = JobState::kFinished;
        if (status == store::kStatusDiverged && job.kind == "train") diverged_trains.push_back(job.key);
        ++summary_.already_done;
        continue;
      }
      if (status == store::kStatusFailed && row->attempts >= options_.max_attempts) {
        tracked_[i].state = JobState::kFailed;
        ++summary_.failed;
        continue;
      }
      const std::string dir = job_dir(job);
      if (status == store::kStatusFailed) continue;  // attempts left: runs again
      // Only a job recorded as running has a result file of its own attempt (start() removes the
      // previous one); a planned (retried) or queued job's file is an old, ingested failure.
      if (status == store::kStatusRunning && fs::exists(dir + "/result.json")) {
        log("recovering the result of " + describe_job(job) + " (finished while no runner was watching)");
        finish(i, std::nullopt);
        continue;
      }
      if (slurm()) {
        adopt_slurm_job(i, status);
        continue;
      }
      pid_t pid = 0;
      std::ifstream(dir + "/worker.pid") >> pid;
      if (status == store::kStatusRunning && worker_alive(pid, dir)) {
        log("adopting running worker " + std::to_string(pid) + " for " + describe_job(job));
        tracked_[i].state = JobState::kRunning;
        tracked_[i].pid = pid;
        tracked_[i].adopted = true;
        tracked_[i].started = std::chrono::steady_clock::now();
      }
    }
    // Evaluations of a training job that already ended without a checkpoint cannot run.
    for (const auto& key : diverged_trains) block_dependents(key, store::kStatusDiverged, "its training diverged");
    for (size_t i = 0; i < graph_.jobs.size(); ++i) {
      if (graph_.jobs[i].kind == "train" && tracked_[i].state == JobState::kFailed) {
        block_dependents(graph_.jobs[i].key, store::kStatusFailed, "its training job failed");
      }
    }
  }

  bool ready(size_t i) const {
    const JobNode& job = graph_.jobs[i];
    if (tracked_[i].state != JobState::kPending) return false;
    if (job.depends_on.empty()) return true;
    const Tracked& training = tracked_[graph_.index.at(job.depends_on)];
    if (training.state == JobState::kFinished) return true;
    // In Slurm an evaluation waits on its training there (afterok), so both are queued at once.
    return slurm() && training.state == JobState::kRunning && !training.slurm_id.empty();
  }

  // Free slots on `count` distinct GPUs (any free slot when count is 1); empty if there are not enough.
  std::vector<size_t> free_slots(int count) const {
    std::vector<size_t> chosen;
    std::set<std::string> gpus;
    for (size_t s = 0; s < slots_.size() && int(chosen.size()) < count; ++s) {
      if (slots_[s].job) continue;
      const std::string gpu = slots_[s].environment.at("CUDA_VISIBLE_DEVICES");
      if (count > 1 && !gpus.insert(gpu).second) continue;
      chosen.push_back(s);
    }
    if (int(chosen.size()) < count) chosen.clear();
    return chosen;
  }

  // Greedy in graph order: a job that needs more GPUs than are free now waits while smaller
  // jobs behind it start.
  bool schedule() {
    if (slurm()) return schedule_slurm();
    bool started = false;
    for (size_t i = 0; i < graph_.jobs.size(); ++i) {
      if (!ready(i)) continue;
      const auto chosen = free_slots(processes_of(graph_.jobs[i]));
      if (chosen.empty()) continue;
      start(i, chosen);
      started = true;
    }
    return started;
  }

  // JOB_DIR/job.json for a new attempt (written to a temp name and renamed); the previous
  // attempt's result file is removed so it cannot stand for this one.
  std::string write_job_file(size_t i, const std::string& device, int processes = 1) {
    const JobNode& job = graph_.jobs[i];
    const std::string dir = job_dir(job);
    fs::create_directories(dir);
    fs::remove(dir + "/result.json");
    const std::string train_dir = job.kind == "train" ? dir : job.depends_on.empty() ? "" : job_dir(graph_.jobs[graph_.index.at(job.depends_on)]);
    json job_file = {{"job", job.kind},
                     {"run_key", job.owner_run},
                     {"job_key", job.key},
                     {"spec", job.spec},
                     {"cache_dir", fs::absolute(options_.cache_dir).string()},
                     {"device", device}};
    if (job.kind == "train") {
      job_file["checkpoint"] = dir + "/checkpoint.safetensors";
      job_file["state_dir"] = dir + "/state";
      if (processes > 1) job_file["processes"] = processes;
    } else {
      job_file["precision"] = job.precision;
      job_file["checkpoint"] = train_dir.empty() ? "" : checkpoint_of(db_, job.depends_on, train_dir + "/checkpoint.safetensors");
    }
    const std::string tmp = dir + "/job.json.tmp";
    std::ofstream(tmp) << job_file.dump(1) << "\n";
    fs::rename(tmp, dir + "/job.json");
    return dir;
  }

  void start(size_t i, const std::vector<size_t>& slots) {
    const JobNode& job = graph_.jobs[i];
    const Slot& first = slots_[slots.front()];
    const std::string dir = write_job_file(i, first.device, int(slots.size()));
    auto environment = first.environment;
    if (slots.size() > 1) {  // CUDA_VISIBLE_DEVICES lists every GPU of the job
      std::string gpus;
      for (const size_t s : slots) gpus += (gpus.empty() ? "" : ",") + slots_[s].environment.at("CUDA_VISIBLE_DEVICES");
      environment["CUDA_VISIBLE_DEVICES"] = gpus;
    }
    store::record_job_status(db_, job.key, store::kStatusRunning);
    tracked_[i].pid = start_worker(options_.worker_binary, dir, environment);
    tracked_[i].state = JobState::kRunning;
    tracked_[i].adopted = false;
    tracked_[i].slots = slots;
    tracked_[i].started = std::chrono::steady_clock::now();
    for (const size_t s : slots) slots_[s].job = i;
    const auto row = job_status(db_, job.key);
    log("start  " + describe_job(job) + " on " + first.device +
        (environment.count("CUDA_VISIBLE_DEVICES") && first.device == "cuda" ? ":" + environment.at("CUDA_VISIBLE_DEVICES")
                                                                             : "") +
        " (attempt " + std::to_string(row ? row->attempts : 1) + ", " + dir + ")");
  }

  bool reap() {
    if (slurm()) return reap_slurm();
    bool changed = false;
    for (size_t i = 0; i < graph_.jobs.size(); ++i) {
      Tracked& t = tracked_[i];
      if (t.state != JobState::kRunning) continue;
      std::optional<WorkerExit> exit;
      if (t.adopted) {
        if (worker_alive(t.pid, job_dir(graph_.jobs[i]))) continue;
        exit = WorkerExit{};  // not our child: its exit status is unknown; the result file decides
      } else {
        exit = poll_worker(t.pid);
        if (!exit) continue;
        // Ctrl-C reaches the workers (same process group) as it reaches us: a worker that died of
        // it is interrupted, not failed. Our own handler may run a moment after its death.
        if (is_stop_signal(*exit)) {
          for (int n = 0; n < 20 && g_stop_signal == 0; ++n) std::this_thread::sleep_for(std::chrono::milliseconds(10));
          if (g_stop_signal != 0) {
            t.stopped = exit;
            return changed;
          }
        }
      }
      for (const size_t s : t.slots) slots_[s].job.reset();
      t.slots.clear();
      finish(i, t.adopted ? std::nullopt : exit);
      changed = true;
    }
    return changed;
  }

  // Ingests the job's result file, or records the crash; decides on a retry.
  void finish(size_t i, const std::optional<WorkerExit>& exit) {
    const JobNode& job = graph_.jobs[i];
    const std::string dir = job_dir(job);
    // Only an attempt this runner started was timed by it (a recovered one has no start time).
    const std::optional<double> seconds =
        tracked_[i].pid != 0 && !tracked_[i].adopted
            ? std::optional<double>(std::chrono::duration<double>(std::chrono::steady_clock::now() - tracked_[i].started).count())
            : std::nullopt;
    std::string status = store::kStatusFailed;
    std::string error;
    if (fs::exists(dir + "/result.json")) {
      try {
        const auto ingested = store::ingest_result_file(db_, dir + "/result.json", plan_.definition.name);
        status = ingested.status;
        if (status == store::kStatusFailed) {
          auto find = db_.prepare("SELECT coalesce(error, '') FROM jobs WHERE job_key = ?");
          find.bind(1, job.key);
          if (find.step()) error = find.column_text(0);
        }
      } catch (const Error& e) {
        error = std::string("result file rejected: ") + e.what();
        store::record_job_status(db_, job.key, store::kStatusFailed, error, seconds);
      }
    } else {
      const std::string who = tracked_[i].slurm_id.empty() ? "worker " + (exit ? describe(*exit) : std::string("ended"))
                                                           : "Slurm job " + tracked_[i].slurm_id + " " + slurm_end_text_;
      error = who + " without a result file; log tail:\n" + file_tail(dir + "/worker.log", 15);
      store::record_job_status(db_, job.key, store::kStatusFailed, error, seconds);
    }
    if (status == store::kStatusDone || status == store::kStatusDiverged) {
      tracked_[i].state = JobState::kFinished;
      ++(status == store::kStatusDone ? summary_.done : summary_.diverged);
      log(std::string(status == store::kStatusDone ? "done   " : "DIVERGED ") + describe_job(job) + " (" +
          duration_text(i, seconds) + ")");
      if (status == store::kStatusDiverged) block_dependents(job.key, store::kStatusDiverged, "its training diverged");
      return;
    }
    const auto row = job_status(db_, job.key);
    const int64_t attempts = row ? row->attempts : options_.max_attempts;
    // The console line: the error's first line without the "; log tail:" that announces the rest.
    std::string first_line = error.substr(0, error.find('\n'));
    if (const size_t tail = first_line.rfind("; log tail:"); tail != std::string::npos) first_line.erase(tail);
    if (attempts < options_.max_attempts) {
      tracked_[i].state = JobState::kPending;
      store::record_job_status(db_, job.key, store::kStatusQueued, error);
      log("FAILED " + describe_job(job) + ": " + first_line + " -- retrying (" + std::to_string(attempts) + "/" +
          std::to_string(options_.max_attempts) + ")");
      return;
    }
    tracked_[i].state = JobState::kFailed;
    ++summary_.failed;
    log("FAILED " + describe_job(job) + " after " + std::to_string(attempts) + " attempt(s): " + first_line +
        " (log: " + dir + "/worker.log)");
    block_dependents(job.key, store::kStatusFailed, "its training job failed");
  }

  // After SIGINT/SIGTERM: asks every running worker to stop (SIGTERM, then SIGKILL after the
  // grace period), ingests what finished anyway, records the rest as interrupted, and throws.
  [[noreturn]] void stop_workers() {
    const int signal = g_stop_signal;
    const std::string name = signal == SIGINT ? "SIGINT" : signal == SIGTERM ? "SIGTERM" : strsignal(signal);
    if (slurm()) leave_slurm_jobs(name);
    log("stopping on " + name + ": asking the running workers to stop");
    std::vector<size_t> running;
    for (size_t i = 0; i < graph_.jobs.size(); ++i) {
      Tracked& t = tracked_[i];
      if (t.state != JobState::kRunning) continue;
      running.push_back(i);
      if (!t.stopped && (!t.adopted || worker_alive(t.pid, job_dir(graph_.jobs[i])))) ::kill(t.pid, SIGTERM);
    }
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(options_.stop_grace_seconds);
    bool killed = false;
    while (true) {
      bool alive = false;
      for (size_t i : running) {
        Tracked& t = tracked_[i];
        if (t.stopped) continue;
        if (t.adopted) {
          if (worker_alive(t.pid, job_dir(graph_.jobs[i]))) {
            alive = true;
          } else {
            t.stopped = WorkerExit{};
          }
        } else if (auto exit = poll_worker(t.pid)) {
          t.stopped = exit;
        } else {
          alive = true;
        }
      }
      if (!alive) break;
      if (!killed && std::chrono::steady_clock::now() >= deadline) {
        log("workers still running after " + std::to_string(int(options_.stop_grace_seconds)) + " s: SIGKILL");
        for (size_t i : running) {
          if (!tracked_[i].stopped) ::kill(tracked_[i].pid, SIGKILL);
        }
        killed = true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    size_t interrupted = 0;
    for (size_t i : running) {
      const JobNode& job = graph_.jobs[i];
      const std::string dir = job_dir(job);
      if (fs::exists(dir + "/result.json")) {  // it finished before it could be stopped
        finish(i, tracked_[i].stopped);
        continue;
      }
      const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - tracked_[i].started).count();
      store::record_job_status(db_, job.key, store::kStatusInterrupted, "stopped by " + name,
                               tracked_[i].adopted ? std::nullopt : std::optional<double>(seconds));
      tracked_[i].state = JobState::kPending;
      ++interrupted;
      log("INTERRUPTED " + describe_job(job));
    }
    throw Error(ErrorCode::kInterrupted,
                "interrupted by " + name + ": " + std::to_string(interrupted) +
                    " running job(s) stopped and recorded as interrupted, " + std::to_string(summary_.done) +
                    " done in this launch; run the same command again to resume");
  }

  // The job's own duration (its result file's timings.seconds, as stored): a job recovered or
  // adopted after a restart was not timed by this runner. Our wall time only when nothing is stored
  // and we watched the whole attempt.
  std::string duration_text(size_t i, std::optional<double> measured) const {
    auto find = db_.prepare("SELECT seconds FROM jobs WHERE job_key = ?");
    find.bind(1, graph_.jobs[i].key);
    if (find.step() && find.column_type(0) != SQLITE_NULL) return std::to_string(int(find.column_double(0))) + " s";
    return measured ? std::to_string(int(*measured)) + " s" : "time unknown";
  }

  // Evaluation jobs of a training job that will not produce a checkpoint cannot run.
  void block_dependents(const std::string& train_key, const std::string& status, const std::string& reason) {
    for (size_t j = 0; j < graph_.jobs.size(); ++j) {
      if (graph_.jobs[j].depends_on != train_key || tracked_[j].state != JobState::kPending) continue;
      tracked_[j].state = status == store::kStatusDiverged ? JobState::kFinished : JobState::kFailed;
      store::record_job_status(db_, graph_.jobs[j].key, status, "not run: " + reason);
      ++(status == store::kStatusDiverged ? summary_.diverged : summary_.failed);
    }
  }

  // ---- executor slurm -------------------------------------------------------------------------

  std::string slurm_id_file(const JobNode& job) const { return job_dir(job) + "/slurm.job"; }

  // Submits every ready job (bounded by --max-parallel when set): trainings one by one, then the
  // evaluations ready together of one training (or of none) as one job array. An evaluation whose
  // training is itself in Slurm waits on it there (afterok).
  bool schedule_slurm() {
    size_t queued = 0;
    for (const auto& t : tracked_) queued += t.state == JobState::kRunning;
    const auto room = [&] { return options_.max_parallel <= 0 || queued < size_t(options_.max_parallel); };
    bool submitted = false;
    for (size_t i = 0; i < graph_.jobs.size() && room(); ++i) {
      if (graph_.jobs[i].kind != "train" || !ready(i)) continue;
      submit_slurm({i});
      ++queued;
      submitted = true;
    }
    for (std::vector<size_t> group : evaluations_by_training(graph_, [&](size_t i) { return ready(i); })) {
      if (options_.max_parallel > 0) {
        const size_t limit = size_t(options_.max_parallel);
        group.resize(std::min(group.size(), limit - std::min(queued, limit)));
      }
      if (group.empty()) break;
      submit_slurm(group);
      queued += group.size();
      submitted = true;
    }
    return submitted;
  }

  // One job alone, or several as a job array whose task k runs jobs[k].
  void submit_slurm(const std::vector<size_t>& jobs) {
    const JobNode& first = graph_.jobs[jobs.front()];
    const std::string device = options_.slurm.gpus_per_job > 0 ? "cuda" : "cpu";
    SlurmSubmission submission{slurm_job_name(first.kind, first.key, jobs.size()), "", options_.worker_binary, ""};
    // A training job with resources.gpus N: N GPUs of one node, its worker starts the other ranks.
    const int processes = jobs.size() == 1 ? processes_of(first) : 1;
    if (processes > 1) submission.gpus = processes;
    std::vector<std::string> dirs;
    for (size_t i : jobs) dirs.push_back(write_job_file(i, device, processes));
    if (jobs.size() == 1) {
      submission.job_dir = dirs.front();
    } else {
      const fs::path arrays = fs::absolute(fs::path(options_.work_dir) / "arrays");
      fs::create_directories(arrays);
      submission.job_dir = arrays.string();
      submission.array_list = (arrays / (first.key.substr(0, 12) + "-" + std::to_string(jobs.size()) + "-" +
                                         fs::unique_path("%%%%%%").string() + ".txt"))
                                  .string();
      std::ofstream list(submission.array_list);
      for (const auto& dir : dirs) list << dir << "\n";
      submission.array_size = jobs.size();
    }
    if (!first.depends_on.empty()) {
      const Tracked& training = tracked_[graph_.index.at(first.depends_on)];
      if (training.state == JobState::kRunning) submission.after_ok = training.slurm_id;
    }
    const std::string id = submit_job(options_.slurm, submission);
    for (size_t k = 0; k < jobs.size(); ++k) {
      const JobNode& job = graph_.jobs[jobs[k]];
      const std::string task_id = jobs.size() == 1 ? id : id + "_" + std::to_string(k);
      std::ofstream(slurm_id_file(job)) << task_id << "\n";
      store::record_job_status(db_, job.key, store::kStatusQueued);
      const std::string how = "submitted as Slurm job " + task_id +
                              (jobs.size() == 1 ? "" : " (array " + id + " of " + std::to_string(jobs.size()) + ")") +
                              (submission.after_ok.empty() ? "" : " after " + submission.after_ok);
      store::record_event(db_, "slurm", how, job.owner_run, job.key);
      Tracked& t = tracked_[jobs[k]];
      t = Tracked{};
      t.state = JobState::kRunning;
      t.slurm_id = task_id;
      t.started = std::chrono::steady_clock::now();
      log("submit " + describe_job(job) + " as Slurm job " + task_id +
          (submission.after_ok.empty() ? "" : " (after " + submission.after_ok + ")"));
    }
  }

  // One squeue call for every job in Slurm: a job seen running has its attempt counted; a job that
  // left the queue is settled by its result file and how Slurm says it ended.
  bool reap_slurm() {
    std::vector<std::string> ids;
    for (const auto& t : tracked_) {
      if (t.state == JobState::kRunning && !t.slurm_id.empty()) ids.push_back(t.slurm_id);
    }
    const auto queue = queued_jobs(ids);
    bool changed = false;
    for (size_t i = 0; i < graph_.jobs.size(); ++i) {
      Tracked& t = tracked_[i];
      if (t.state != JobState::kRunning || t.slurm_id.empty()) continue;
      const auto entry = queue.find(t.slurm_id);
      if (entry != queue.end()) {
        if (!t.slurm_started && entry->second.state != "PENDING" && entry->second.state != "CONFIGURING") {
          mark_slurm_started(i, entry->second.node);
          changed = true;
        }
        continue;
      }
      settle_slurm_job(i);
      changed = true;
    }
    return changed;
  }

  void mark_slurm_started(size_t i, const std::string& node) {
    Tracked& t = tracked_[i];
    t.slurm_started = true;
    t.started = std::chrono::steady_clock::now();
    store::record_job_status(db_, graph_.jobs[i].key, store::kStatusRunning);
    store::record_event(db_, "slurm", "Slurm job " + t.slurm_id + " running on " + (node.empty() ? "?" : node),
                        graph_.jobs[i].owner_run, graph_.jobs[i].key);
  }

  // A job that left Slurm's queue: ingested when it wrote a result; one that never started (its
  // training failed, or it was cancelled while pending) goes back to waiting without an attempt.
  void settle_slurm_job(size_t i) {
    Tracked& t = tracked_[i];
    const JobNode& job = graph_.jobs[i];
    const auto end = job_end(t.slurm_id);
    slurm_end_text_ = end ? "ended " + end->state + " (exit " + end->exit_code + ")" +
                                (end->node.empty() ? "" : " on " + end->node)
                          : "left the queue (Slurm no longer knows it)";
    store::record_event(db_, "slurm", "Slurm job " + t.slurm_id + " " + slurm_end_text_, job.owner_run, job.key);
    const bool has_result = fs::exists(job_dir(job) + "/result.json");
    if (!has_result && end && !end->started && !t.slurm_started) {
      t = Tracked{};
      const Tracked* training = job.depends_on.empty() ? nullptr : &tracked_[graph_.index.at(job.depends_on)];
      if (training != nullptr && training->state == JobState::kFailed) {
        t.state = JobState::kFailed;
        ++summary_.failed;
        store::record_job_status(db_, job.key, store::kStatusFailed, "not run: its training job failed");
      } else {
        store::record_job_status(db_, job.key, store::kStatusPlanned, "Slurm job not started: " + end->reason);
      }
      log("not started: " + describe_job(job) + " (Slurm " + end->state + ", " + end->reason + ")");
      return;
    }
    if (!t.slurm_started) mark_slurm_started(i, end ? end->node : "");  // it ran between two polls
    finish(i, std::nullopt);
    if (t.state != JobState::kRunning) t.slurm_id.clear();
  }

  // After a restart: a job recorded as queued or running whose Slurm job is still in the queue is
  // adopted, never submitted again; one that left the queue meanwhile is settled.
  void adopt_slurm_job(size_t i, const std::string& status) {
    const JobNode& job = graph_.jobs[i];
    if (status != store::kStatusQueued && status != store::kStatusRunning) return;
    std::string id;
    std::ifstream(slurm_id_file(job)) >> id;
    if (id.empty()) return;
    Tracked& t = tracked_[i];
    t.state = JobState::kRunning;
    t.slurm_id = id;
    t.slurm_started = status == store::kStatusRunning;
    t.started = std::chrono::steady_clock::now();
    const auto queue = queued_jobs({id});
    if (queue.count(id)) {
      log("adopting Slurm job " + id + " (" + queue.at(id).state + ") for " + describe_job(job));
      return;
    }
    settle_slurm_job(i);
  }

  // SIGINT/SIGTERM with executor slurm: the jobs stay in Slurm (the runner may come back and adopt
  // them; `sweep cancel` cancels them).
  [[noreturn]] void leave_slurm_jobs(const std::string& signal_name) {
    size_t left = 0;
    for (const auto& t : tracked_) left += t.state == JobState::kRunning;
    throw Error(ErrorCode::kInterrupted,
                "interrupted by " + signal_name + ": " + std::to_string(left) + " job(s) left in Slurm's queue, " +
                    std::to_string(summary_.done) + " done in this launch; run the same command again to adopt them "
                    "(or `sweep cancel` to cancel them)");
  }

  const SweepPlan& plan_;
  const RunnerOptions& options_;
  std::string slurm_end_text_;  // how the Slurm job being finished ended, for its error message
  store::Database db_;
  JobGraph graph_;
  std::vector<Slot> slots_;
  std::vector<Tracked> tracked_;
  RunnerSummary summary_;
  bool leased_ = false;
};

}  // namespace

size_t cancel_sweep_jobs(const SweepPlan& plan, const RunnerOptions& options) {
  RunnerLock lock(options.work_dir);
  store::Database db = store::Database::open(options.db_path);
  const JobGraph graph = build_job_graph(plan.runs);
  size_t cancelled = 0;
  for (const JobNode& job : graph.jobs) {
    const auto row = job_status(db, job.key);
    if (!row || (row->status != store::kStatusQueued && row->status != store::kStatusRunning)) continue;
    std::string id;
    std::ifstream(job_directory(options.work_dir, job.key) + "/slurm.job") >> id;
    if (id.empty()) continue;  // a local worker's job: local runs stop with Ctrl-C
    cancel_job(id);
    store::record_job_status(db, job.key, store::kStatusInterrupted, "Slurm job " + id + " cancelled by `sweep cancel`");
    if (options.log) options.log("cancelled Slurm job " + id + " (" + job.kind + " " + job.key.substr(0, 12) + ")");
    ++cancelled;
  }
  return cancelled;
}

RunnerSummary run_sweep(const SweepPlan& plan, const RunnerOptions& options) {
  if (options.worker_binary.empty() || !fs::exists(options.worker_binary)) {
    throw Error(ErrorCode::kNotFound, "worker binary '" + options.worker_binary + "' does not exist");
  }
  RunnerLock lock(options.work_dir);
  StopSignals stop_signals;
  Runner runner(plan, options);
  return runner.run();
}

}  // namespace matquant::sweep

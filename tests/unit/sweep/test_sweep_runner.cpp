// The local runner against a stand-in worker (tests/support/fake_worker.cpp): results ingested,
// shared jobs done once, crashes retried then recorded, divergence propagated, a runner
// killed mid-sweep losing nothing and redoing nothing, and SIGINT/SIGTERM recorded as interrupted.
#include "common/error.h"
#include "store/database.h"
#include "store/query.h"
#include "store/store_test_util.h"
#include "sweep/sweep_runner.h"
#include "sweep/sweep_views.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <map>
#include <thread>

namespace matquant::sweep {
namespace {

using store::testing::TempDir;

class SweepRunnerTest : public ::testing::Test {
 protected:
  void SetUp() override { ::setenv("FAKE_WORKER_LOG", dir.file("starts.log").c_str(), 1); }

  SweepPlan plan(const std::string& yaml) {
    store::testing::write_text(dir.file("s.yaml"), yaml);
    return load_sweep_plan(dir.file("s.yaml"));
  }

  RunnerOptions options(int parallel = 2) {
    RunnerOptions o;
    o.db_path = dir.file("db.sqlite");
    o.work_dir = dir.file("work");
    o.cache_dir = dir.file("cache");
    o.worker_binary = MATQUANT_FAKE_WORKER;
    o.max_parallel = parallel;
    o.poll_seconds = 0.02;
    return o;
  }

  // Job key -> how many times a worker started it.
  std::map<std::string, int> starts() const {
    std::map<std::string, int> out;
    std::ifstream in(dir.file("starts.log"));
    std::string key, kind;
    while (in >> key >> kind) ++out[key];
    return out;
  }

  // Waits (up to 10 s) until workers have logged `n` starts in total: a loaded machine may take a
  // while to fork them, and the signal tests must hit running workers.
  void wait_for_starts(int n) const {
    for (int tries = 0; tries < 1000; ++tries) {
      int total = 0;
      for (const auto& [key, k] : starts()) total += k;
      if (total >= n) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ADD_FAILURE() << "workers did not start";
  }

  int64_t count(const std::string& sql) const {
    const auto db = store::Database::open_read_only(dir.file("db.sqlite"));
    auto statement = db.prepare(sql);
    EXPECT_TRUE(statement.step());
    return statement.column_int(0);
  }

  TempDir dir;
};

constexpr const char* kGrid = R"(
sweep: fake
config: {model: "fake:ok", eval: {precisions: [bf16, "8", "4", "2"]}}
grid:
  variant: [baseline, sliced, matquant]
)";

TEST_F(SweepRunnerTest, RunsEveryJobOnceAndIngestsItsMetrics) {
  const auto summary = run_sweep(plan(kGrid), options());
  // baseline & sliced share the int8 training and evaluations; matquant has its own.
  EXPECT_EQ(summary.runs, 3u);
  EXPECT_EQ(summary.jobs, 2u + 1u + 3u + 3u);  // 2 trainings, bf16, 3 precisions x 2 checkpoints
  EXPECT_EQ(summary.done, summary.jobs);
  EXPECT_EQ(summary.failed, 0u);
  for (const auto& [key, n] : starts()) EXPECT_EQ(n, 1) << key;
  EXPECT_EQ(count("SELECT count(*) FROM runs WHERE status = 'done'"), 3);
  EXPECT_EQ(count("SELECT count(*) FROM metrics WHERE metric = 'log_pplx'"), 7);
  // The sliced run sees the shared int4 evaluation: 10 / 4.
  const auto db = store::Database::open_read_only(dir.file("db.sqlite"));
  auto value = db.prepare(
      "SELECT m.value FROM runs r JOIN run_jobs rj ON rj.run_key = r.run_key JOIN metrics m ON m.job_key = rj.job_key "
      "WHERE r.name = 'fake/sliced' AND m.precision = 'int4'");
  ASSERT_TRUE(value.step());
  EXPECT_DOUBLE_EQ(value.column_double(0), 2.5);
}

TEST_F(SweepRunnerTest, RelaunchingSkipsFinishedWork) {
  run_sweep(plan(kGrid), options());
  const auto first = starts();
  const auto again = run_sweep(plan(kGrid), options());
  EXPECT_EQ(again.already_done, again.jobs);
  EXPECT_EQ(again.done, 0u);
  EXPECT_EQ(starts(), first);
}

TEST_F(SweepRunnerTest, AChangedSpecUnderTheSameNameIsRefused) {
  run_sweep(plan(kGrid), options());
  std::string changed = kGrid;
  changed.replace(changed.find("\"fake:ok\""), 9, "\"fake:ok\", seed: 7");
  try {
    run_sweep(plan(changed), options());
    FAIL() << "expected a refusal";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("changed their spec"), std::string::npos) << e.what();
  }
}

TEST_F(SweepRunnerTest, CrashesAreRetriedThenRecordedWithTheLogTailAndTheRestGoesOn) {
  const auto summary = run_sweep(plan(R"(
sweep: crashy
config: {eval: {precisions: ["4"]}}
grid:
  model: ["fake:crash", "fake:ok", "fake:flaky"]
)"),
                                 options());
  EXPECT_EQ(summary.failed, 2u);  // the crashing training, and its evaluation that cannot run
  EXPECT_EQ(summary.done, 4u);    // ok (train, eval) and flaky after its retry (train, eval)
  const auto db = store::Database::open_read_only(dir.file("db.sqlite"));
  auto failed = db.prepare("SELECT attempts, error FROM jobs WHERE kind = 'train' AND status = 'failed'");
  ASSERT_TRUE(failed.step());
  EXPECT_EQ(failed.column_int(0), 2);
  const std::string error = failed.column_text(1);
  EXPECT_NE(error.find("killed by signal"), std::string::npos) << error;
  EXPECT_NE(error.find("about to crash"), std::string::npos) << error;
  EXPECT_NE(render_sweep_status(db, "crashy").find("failed jobs"), std::string::npos);
  EXPECT_EQ(count("SELECT count(*) FROM runs WHERE status = 'failed'"), 1);
  EXPECT_EQ(count("SELECT count(*) FROM runs WHERE status = 'done'"), 2);
}

// Issue 14 item 1: the last attempt's result file equals the previous one byte for byte; ingest's
// "already ingested" shortcut once skipped it and left the job `running` with no error.
TEST_F(SweepRunnerTest, AFailureIdenticalToThePreviousAttemptIsStillRecorded) {
  std::vector<std::string> lines;
  auto o = options();
  o.log = [&](const std::string& line) { lines.push_back(line); };
  const std::string yaml = "sweep: same\nconfig: {model: \"fake:fail\", eval: {precisions: [\"4\"]}}\n";
  const auto summary = run_sweep(plan(yaml), o);
  EXPECT_EQ(summary.failed, 2u);  // the training and the evaluation it blocks
  EXPECT_EQ(count("SELECT count(*) FROM jobs WHERE status = 'running'"), 0);
  const auto db = store::Database::open_read_only(dir.file("db.sqlite"));
  auto failed = db.prepare("SELECT attempts, coalesce(error, '') FROM jobs WHERE kind = 'train' AND status = 'failed'");
  ASSERT_TRUE(failed.step());
  EXPECT_EQ(failed.column_int(0), 2);
  EXPECT_EQ(failed.column_text(1), "fake failure: the same on every attempt");
  EXPECT_EQ(count("SELECT count(*) FROM runs WHERE status = 'failed'"), 1);
  bool reason_printed = false;
  for (const auto& line : lines) {
    if (line.find("after 2 attempt(s): fake failure") != std::string::npos) reason_printed = true;
  }
  EXPECT_TRUE(reason_printed);
  // `sweep retry` has something to run.
  o.retry_failed = true;
  lines.clear();
  const auto again = run_sweep(plan(yaml), o);
  EXPECT_EQ(again.failed, 2u);
  ASSERT_EQ(starts().size(), 1u);  // only the training ran: twice per launch
  EXPECT_EQ(starts().begin()->second, 4);
}

TEST_F(SweepRunnerTest, RetryGivesFailedJobsFreshAttempts) {
  auto o = options();
  o.max_attempts = 1;
  const auto first = run_sweep(plan("sweep: r\nconfig: {model: \"fake:flaky\", eval: {precisions: [\"4\"]}}\n"), o);
  EXPECT_EQ(first.failed, 2u);
  o.retry_failed = true;
  o.max_attempts = 2;  // the evaluation is flaky too: its first attempt fails
  const auto second = run_sweep(plan("sweep: r\nconfig: {model: \"fake:flaky\", eval: {precisions: [\"4\"]}}\n"), o);
  EXPECT_EQ(second.failed, 0u);
  EXPECT_EQ(second.done, 2u);
  EXPECT_EQ(count("SELECT count(*) FROM runs WHERE status = 'done'"), 1);
}

TEST_F(SweepRunnerTest, DivergedTrainingMarksItsRunDiverged) {
  const auto summary = run_sweep(plan("sweep: dv\nconfig: {model: \"fake:diverge\", eval: {precisions: [\"8\", \"2\"]}}\n"), options());
  EXPECT_EQ(summary.diverged, 3u);
  EXPECT_EQ(count("SELECT count(*) FROM runs WHERE status = 'diverged'"), 1);
  EXPECT_EQ(count("SELECT count(*) FROM metrics"), 0);
}

TEST_F(SweepRunnerTest, ACorruptResultFileIsRejectedAndNothingElseIsLost) {
  const auto summary = run_sweep(plan(R"(
sweep: garbage
config: {eval: {precisions: ["4"]}}
grid: {model: ["fake:garbage", "fake:ok"]}
)"),
                                 options());
  EXPECT_EQ(summary.done, 2u);
  const auto db = store::Database::open_read_only(dir.file("db.sqlite"));
  auto failed = db.prepare("SELECT error FROM jobs WHERE kind = 'train' AND status = 'failed'");
  ASSERT_TRUE(failed.step());
  EXPECT_NE(failed.column_text(0).find("result file rejected"), std::string::npos) << failed.column_text(0);
  EXPECT_EQ(count("SELECT count(*) FROM metrics"), 1);
}

// Issue 15: a training job with resources.gpus N gets N distinct GPUs of --gpus at once (its
// worker is told to start N processes); two 2-GPU jobs on 3 GPUs cannot overlap, while the
// 1-GPU evaluations fill the GPU left over.
TEST_F(SweepRunnerTest, MultiGpuTrainingJobsGetDisjointGpuSets) {
  ::setenv("FAKE_WORKER_SECONDS", "0.3", 1);
  ::setenv("FAKE_WORKER_GPU_LOG", dir.file("gpus.log").c_str(), 1);
  const SweepPlan p = plan(R"(
sweep: packed
config: {model: "fake:slow", resources: {gpus: 2}, eval: {precisions: ["4"]}}
grid: {seed: [0, 1]}
)");
  auto o = options(3);
  o.gpus = {"0", "1", "2"};
  const auto summary = run_sweep(p, o);
  ::unsetenv("FAKE_WORKER_SECONDS");
  ::unsetenv("FAKE_WORKER_GPU_LOG");
  EXPECT_EQ(summary.failed, 0u);
  EXPECT_EQ(count("SELECT count(*) FROM jobs WHERE status = 'done'"), 4);
  struct Interval {
    double start, end;
    std::string gpus;
    int processes;
  };
  std::vector<Interval> trains;
  std::ifstream in(dir.file("gpus.log"));
  std::string key, gpus;
  double start = 0, end = 0;
  int processes = 0;
  while (in >> key >> start >> end >> gpus >> processes) {
    if (processes > 1) trains.push_back({start, end, gpus, processes});
    else EXPECT_EQ(gpus.find(','), std::string::npos) << "an evaluation got several GPUs: " << gpus;
  }
  ASSERT_EQ(trains.size(), 2u);
  for (const auto& t : trains) {
    EXPECT_EQ(t.processes, 2);
    ASSERT_EQ(t.gpus.size(), 3u) << t.gpus;  // "a,b"
    EXPECT_NE(t.gpus[0], t.gpus[2]) << t.gpus;
  }
  EXPECT_TRUE(trains[0].end <= trains[1].start || trains[1].end <= trains[0].start)
      << "two 2-GPU jobs overlapped on 3 GPUs";
}

TEST_F(SweepRunnerTest, AJobAskingForMoreGpusThanTheRunnerHasIsRefusedBeforeAnythingRuns) {
  const SweepPlan p = plan("sweep: big\nconfig: {model: \"fake:ok\", resources: {gpus: 4}, eval: {precisions: [\"4\"]}}\n");
  auto o = options(2);
  o.gpus = {"0", "1"};
  try {
    run_sweep(p, o);
    FAIL() << "a 4-GPU job was accepted by a 2-GPU runner";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidInput);
    EXPECT_NE(std::string(e.what()).find("resources.gpus 4 but the runner has 2 GPU(s)"), std::string::npos) << e.what();
  }
  EXPECT_TRUE(starts().empty());
}

TEST_F(SweepRunnerTest, ARunnerKilledMidSweepLosesNothingAndRedoesNothing) {
  const std::string yaml = R"(
sweep: killed
config: {model: "fake:slow", eval: {precisions: ["8", "4", "2"]}}
grid: {seed: [0, 1, 2]}
)";
  ::setenv("FAKE_WORKER_SECONDS", "0.4", 1);
  const SweepPlan p = plan(yaml);
  const pid_t child = ::fork();
  if (child == 0) {
    try {
      run_sweep(p, options());
    } catch (...) {
    }
    ::_exit(0);
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(1300));  // some jobs done, some running
  ::kill(child, SIGKILL);
  ::waitpid(child, nullptr, 0);
  const int64_t done_before = count("SELECT count(*) FROM jobs WHERE status = 'done'");
  EXPECT_GT(done_before, 0);
  EXPECT_LT(done_before, 12);
  const auto summary = run_sweep(p, options());
  EXPECT_EQ(summary.failed, 0u);
  EXPECT_EQ(count("SELECT count(*) FROM jobs WHERE status = 'done'"), 12);
  EXPECT_EQ(count("SELECT count(*) FROM metrics"), 9);  // one row per evaluation, none duplicated
  // No job that had finished ran again; a job cut off mid-run (its worker outlived the runner and
  // was adopted) ran at most once more.
  for (const auto& [key, n] : starts()) EXPECT_LE(n, 2) << key;
  int64_t total_starts = 0;
  for (const auto& [key, n] : starts()) total_starts += n;
  EXPECT_LE(total_starts, 12 + 2);
  ::unsetenv("FAKE_WORKER_SECONDS");
}

// Issue 14: a second runner on the same database with another work directory used to run every
// job again; the database lease refuses it while the first runs.
TEST_F(SweepRunnerTest, ASecondRunnerOnTheSameDatabaseIsRefusedWhateverItsWorkDir) {
  ::setenv("FAKE_WORKER_SECONDS", "0.5", 1);
  const SweepPlan p = plan("sweep: twice\nconfig: {model: \"fake:slow\", eval: {precisions: [\"4\"]}}\n");
  const pid_t child = ::fork();
  if (child == 0) {
    try {
      run_sweep(p, options());
    } catch (...) {
      ::_exit(1);
    }
    ::_exit(0);
  }
  wait_for_starts(1);  // the first runner holds the lease
  auto other = options();
  other.work_dir = dir.file("other-work");
  try {
    run_sweep(p, other);
    ADD_FAILURE() << "expected a refusal";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("another sweep runner is using"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(dir.file("work")), std::string::npos) << e.what();
  }
  int wait_status = 0;
  ::waitpid(child, &wait_status, 0);
  EXPECT_TRUE(WIFEXITED(wait_status) && WEXITSTATUS(wait_status) == 0);
  for (const auto& [key, n] : starts()) EXPECT_EQ(n, 1) << key;
  EXPECT_EQ(count("SELECT count(*) FROM runner_leases"), 0);  // released at the end
  ::unsetenv("FAKE_WORKER_SECONDS");
}

// Issue 14 item 4: jobs that finished while no runner watched are recovered on restart; their
// time is the stored one (the fake worker's 0.01 s), not "now minus a start time never set".
TEST_F(SweepRunnerTest, ARecoveredJobPrintsItsStoredDuration) {
  ::setenv("FAKE_WORKER_SECONDS", "0.4", 1);
  const SweepPlan p = plan("sweep: recovered\nconfig: {model: \"fake:slow\", eval: {precisions: [\"4\"]}}\n"
                           "grid: {seed: [0, 1]}\n");
  const pid_t child = ::fork();
  if (child == 0) {
    try {
      run_sweep(p, options());
    } catch (...) {
    }
    ::_exit(0);
  }
  wait_for_starts(2);  // both trainings running
  ::kill(child, SIGKILL);
  ::waitpid(child, nullptr, 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(1000));  // their workers finish unwatched
  std::vector<std::string> lines;
  auto o = options();
  o.log = [&](const std::string& line) { lines.push_back(line); };
  ::setenv("FAKE_WORKER_SECONDS", "0.02", 1);
  const auto summary = run_sweep(p, o);
  EXPECT_EQ(summary.done, 4u);
  size_t recovered = 0;
  for (size_t n = 0; n < lines.size(); ++n) {
    if (lines[n].rfind("recovering", 0) != 0) continue;
    ++recovered;
    ASSERT_LT(n + 1, lines.size());
    EXPECT_EQ(lines[n + 1].substr(lines[n + 1].size() - 5), "(0 s)") << lines[n + 1];
  }
  EXPECT_EQ(recovered, 2u);
  ::unsetenv("FAKE_WORKER_SECONDS");
}

// Issue 14 item 2: Ctrl-C (SIGINT to the runner's process group, workers included) and SIGTERM to
// the runner alone both stop the workers, leave no job `running`, record the stopped jobs as
// interrupted (no attempt spent) and exit 130; the next launch runs them and finishes the sweep.
TEST_F(SweepRunnerTest, SigintOrSigtermStopsTheWorkersRecordsThemInterruptedAndARestartResumes) {
  const std::string yaml = R"(
sweep: stopped
config: {model: "fake:slow", eval: {precisions: ["8", "4", "2"]}}
grid: {seed: [0, 1, 2]}
)";
  for (const bool whole_group : {true, false}) {
    SCOPED_TRACE(whole_group ? "SIGINT to the process group" : "SIGTERM to the runner");
    const std::string db_path = dir.file(whole_group ? "group.sqlite" : "runner.sqlite");
    auto o = options();
    o.db_path = db_path;
    o.work_dir = dir.file(whole_group ? "work-group" : "work-runner");
    ::setenv("FAKE_WORKER_SECONDS", "1.5", 1);
    ::unlink(dir.file("starts.log").c_str());  // wait_for_starts counts this round's starts
    const SweepPlan p = plan(yaml);
    const pid_t child = ::fork();
    if (child == 0) {
      ::setpgid(0, 0);
      try {
        run_sweep(p, o);
      } catch (const Error& e) {
        ::_exit(e.exit_code());
      } catch (...) {
        ::_exit(99);
      }
      ::_exit(0);
    }
    ::setpgid(child, child);
    wait_for_starts(2);  // two trainings running, none done
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    ::kill(whole_group ? -child : child, whole_group ? SIGINT : SIGTERM);
    int wait_status = 0;
    ::waitpid(child, &wait_status, 0);
    ASSERT_TRUE(WIFEXITED(wait_status));
    EXPECT_EQ(WEXITSTATUS(wait_status), 130);
    EXPECT_EQ(::kill(-child, 0), -1) << "a worker outlived the runner";  // nothing left in its group
    const auto count_in = [&](const std::string& sql) {
      const auto db = store::Database::open_read_only(db_path);
      auto statement = db.prepare(sql);
      EXPECT_TRUE(statement.step());
      return statement.column_int(0);
    };
    EXPECT_EQ(count_in("SELECT count(*) FROM jobs WHERE status = 'running'"), 0);
    EXPECT_EQ(count_in("SELECT count(*) FROM jobs WHERE status = 'interrupted' AND attempts = 0"), 2);
    EXPECT_EQ(count_in("SELECT count(*) FROM jobs WHERE status = 'failed'"), 0);
    {
      const auto db = store::Database::open_read_only(db_path);
      const std::string status = render_sweep_status(db, "stopped");
      EXPECT_NE(status.find("2 interrupted"), std::string::npos) << status;
    }
    ::setenv("FAKE_WORKER_SECONDS", "0.02", 1);
    const auto summary = run_sweep(p, o);
    EXPECT_EQ(summary.failed, 0u);
    EXPECT_EQ(summary.done, 12u);
    EXPECT_EQ(count_in("SELECT count(*) FROM jobs WHERE status = 'done' AND attempts = 1"), 12);
  }
  ::unsetenv("FAKE_WORKER_SECONDS");
}

}  // namespace
}  // namespace matquant::sweep

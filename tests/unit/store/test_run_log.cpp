// The runner's records: planning, job status, resume (job_done) and run status derivation.
#include "common/error.h"
#include "store/database.h"
#include "store/ingest.h"
#include "store/query.h"
#include "store/run_log.h"
#include "store/spec_params.h"
#include "store_test_util.h"

#include <gtest/gtest.h>

namespace matquant::store {
namespace {

using nlohmann::json;
using testing::TempDir;

std::string scalar(const Database& db, const std::string& sql) {
  const QueryResult result = run_query(db, sql);
  if (result.rows.empty()) return "<no row>";
  return result.rows[0][0].is_null() ? "NULL" : result.rows[0][0].text;
}

PlannedRun sample_run(const std::string& run_key, const std::string& train_key) {
  return {run_key, "run " + run_key, "table1",
          json{{"model", "builtin:tiny-llama"}, {"variant", "matquant"}},
          {{train_key, "train", ""}, {run_key + "-eval-int4", "eval", "int4"}}};
}

TEST(StoreRunLog, PlannedRunHasPlannedJobsAndParams) {
  TempDir dir;
  Database db = Database::open(dir.file("results.sqlite"));
  record_sweep(db, "table1", "sweeps/table1.yaml");
  record_run_planned(db, sample_run("r1", "t1"));
  EXPECT_EQ(scalar(db, "SELECT status FROM runs WHERE run_key = 'r1'"), "planned");
  EXPECT_EQ(scalar(db, "SELECT count(*) FROM jobs WHERE status = 'planned'"), "2");
  EXPECT_EQ(scalar(db, "SELECT value FROM params WHERE key = 'model'"), "builtin:tiny-llama");
  EXPECT_EQ(scalar(db, "SELECT file FROM sweeps"), "sweeps/table1.yaml");
  EXPECT_FALSE(job_done(db, "t1"));
  EXPECT_FALSE(job_done(db, "unknown"));
}

TEST(StoreRunLog, RunStatusFollowsItsJobs) {
  TempDir dir;
  Database db = Database::open(dir.file("results.sqlite"));
  record_run_planned(db, sample_run("r1", "t1"));
  record_job_status(db, "t1", "running");
  EXPECT_EQ(scalar(db, "SELECT status FROM runs"), "running");
  EXPECT_EQ(scalar(db, "SELECT attempts FROM jobs WHERE job_key = 't1'"), "1");
  record_job_status(db, "t1", "failed", "out of memory");
  EXPECT_EQ(scalar(db, "SELECT status FROM runs"), "failed");
  EXPECT_FALSE(job_done(db, "t1"));
  record_job_status(db, "t1", "running");
  EXPECT_EQ(scalar(db, "SELECT attempts FROM jobs WHERE job_key = 't1'"), "2");
  record_job_status(db, "t1", "done", "", 3.5);
  EXPECT_TRUE(job_done(db, "t1"));
  EXPECT_EQ(scalar(db, "SELECT status FROM runs"), "planned");  // the eval job is still to run
  EXPECT_EQ(scalar(db, "SELECT finished_at FROM runs"), "NULL");
  record_job_status(db, "r1-eval-int4", "done");
  EXPECT_EQ(scalar(db, "SELECT status FROM runs"), "done");
  EXPECT_NE(scalar(db, "SELECT finished_at FROM runs"), "NULL");
  EXPECT_EQ(scalar(db, "SELECT seconds FROM jobs WHERE job_key = 't1'"), "3.5");
}

TEST(StoreRunLog, ReplanningKeepsFinishedJobs) {
  TempDir dir;
  Database db = Database::open(dir.file("results.sqlite"));
  record_run_planned(db, sample_run("r1", "t1"));
  record_job_status(db, "t1", "done");
  record_run_planned(db, sample_run("r1", "t1"));
  EXPECT_TRUE(job_done(db, "t1"));
}

TEST(StoreRunLog, SharedJobUpdatesEveryRunUsingIt) {
  TempDir dir;
  Database db = Database::open(dir.file("results.sqlite"));
  record_run_planned(db, sample_run("r1", "shared-train"));
  record_run_planned(db, sample_run("r2", "shared-train"));
  EXPECT_EQ(scalar(db, "SELECT count(*) FROM jobs WHERE job_key = 'shared-train'"), "1");
  record_job_status(db, "shared-train", "diverged", "loss is NaN");
  EXPECT_EQ(scalar(db, "SELECT group_concat(status) FROM (SELECT status FROM runs ORDER BY run_key)"),
            "diverged,diverged");
  EXPECT_TRUE(job_done(db, "shared-train"));  // rerunning a diverged job diverges again
}

TEST(StoreRunLog, IngestCompletesAPlannedJob) {
  TempDir dir;
  Database db = Database::open(dir.file("results.sqlite"));
  PlannedRun run = sample_run("run-a", "train-a");
  run.jobs = {{"job-a-int4", "eval", "int4"}};
  record_run_planned(db, run);
  const std::string file = dir.file("result.json");
  testing::write_text(file, testing::sample_result().dump());
  ingest_result_file(db, file, "table1");
  EXPECT_TRUE(job_done(db, "job-a-int4"));
  EXPECT_EQ(scalar(db, "SELECT status FROM runs"), "done");
  EXPECT_EQ(scalar(db, "SELECT name FROM runs"), "run run-a");  // the planned name is kept
}

TEST(StoreRunLog, UnknownJobOrStatusIsAnError) {
  TempDir dir;
  Database db = Database::open(dir.file("results.sqlite"));
  EXPECT_THROW(record_job_status(db, "nope", "running"), Error);
  record_run_planned(db, sample_run("r1", "t1"));
  EXPECT_THROW(record_job_status(db, "t1", "finished"), Error);
}

TEST(StoreSpecParams, FlattensNestedObjectsToDottedKeys) {
  const json spec = {{"model", "m"}, {"bits", {8, 4, 2}}, {"lambdas", {0.1, 0.1, 1.0}},
                     {"train", {{"steps", 200}, {"learning_rate", 1e-5}}}, {"eval", {{"perplexity", true}}},
                     {"distillation", ""}, {"note", nullptr}};
  const std::vector<SpecParam> expected = {
      {"bits", "[8,4,2]"},       {"distillation", ""},          {"eval.perplexity", "true"},
      {"lambdas", "[0.1,0.1,1.0]"}, {"model", "m"},             {"note", std::nullopt},
      {"train.learning_rate", "1e-05"}, {"train.steps", "200"}};
  EXPECT_EQ(flatten_spec(spec), expected);
}

}  // namespace
}  // namespace matquant::store

// Ingest: a result file becomes run, job, params, metrics and an event; doing it twice changes
// nothing; a broken file is refused with its name and field, and leaves the database untouched.
#include "common/error.h"
#include "store/database.h"
#include "store/ingest.h"
#include "store/query.h"
#include "store/run_log.h"
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

TEST(StoreIngest, StoresRunJobParamsMetricsAndEvent) {
  TempDir dir;
  Database db = Database::open(dir.file("results.sqlite"));
  const std::string file = dir.file("result.json");
  testing::write_text(file, testing::sample_result().dump(1));

  const IngestResult result = ingest_result_file(db, file, "table1");
  EXPECT_TRUE(result.changed);
  EXPECT_EQ(result.run_key, "run-a");
  EXPECT_EQ(result.job_key, "job-a-int4");
  EXPECT_EQ(result.metrics, 2u);

  EXPECT_EQ(scalar(db, "SELECT name || '|' || sweep || '|' || status || '|' || host || '|' || git_sha || '|' || "
                       "binary_version FROM runs"),
            "tiny-matquant|table1|done|test-host|abc123|0.1.0");
  EXPECT_EQ(scalar(db, "SELECT kind || '|' || precision || '|' || status || '|' || attempts || '|' || seconds FROM jobs"),
            "eval|int4|done|1|12.5");
  EXPECT_EQ(scalar(db, "SELECT value FROM metrics WHERE metric = 'log_pplx' AND task = 'validation'"), "2.83");
  EXPECT_EQ(scalar(db, "SELECT value FROM params WHERE key = 'train.steps'"), "200");
  EXPECT_EQ(scalar(db, "SELECT value FROM params WHERE key = 'train.learning_rate'"), "1e-05");
  EXPECT_EQ(scalar(db, "SELECT value FROM params WHERE key = 'bits'"), "[8,4,2]");
  EXPECT_EQ(scalar(db, "SELECT value FROM params WHERE key = 'variant'"), "matquant");
  EXPECT_EQ(scalar(db, "SELECT count(*) FROM run_jobs"), "1");
  EXPECT_EQ(scalar(db, "SELECT count(*) FROM sweeps WHERE name = 'table1'"), "1");
  EXPECT_EQ(scalar(db, "SELECT kind FROM events"), "ingest");
}

TEST(StoreIngest, IngestingTheSameFileTwiceChangesNothing) {
  TempDir dir;
  Database db = Database::open(dir.file("results.sqlite"));
  const std::string file = dir.file("result.json");
  testing::write_text(file, testing::sample_result().dump(1));
  ingest_result_file(db, file, "table1");
  const std::string before = testing::dump_tables(db);

  const IngestResult again = ingest_result_file(db, file, "table1");
  EXPECT_FALSE(again.changed);
  EXPECT_EQ(testing::dump_tables(db), before);
}

TEST(StoreIngest, ANewResultForTheSameJobReplacesItsMetrics) {
  TempDir dir;
  Database db = Database::open(dir.file("results.sqlite"));
  const std::string file = dir.file("result.json");
  json result = testing::sample_result();
  testing::write_text(file, result.dump());
  ingest_result_file(db, file, "");
  result["metrics"] = json::array({{{"precision", "int4"}, {"task", "validation"}, {"metric", "log_pplx"}, {"value", 2.5}}});
  testing::write_text(file, result.dump());
  EXPECT_TRUE(ingest_result_file(db, file, "").changed);
  EXPECT_EQ(scalar(db, "SELECT count(*) || '|' || max(value) FROM metrics"), "1|2.5");
}

TEST(StoreIngest, NonFiniteValuesAreStoredAsNull) {
  TempDir dir;
  Database db = Database::open(dir.file("results.sqlite"));
  json result = testing::sample_result();
  result["status"] = "diverged";
  result["metrics"][0]["value"] = nullptr;
  const std::string file = dir.file("result.json");
  testing::write_text(file, result.dump());
  ingest_result_file(db, file, "");
  EXPECT_EQ(scalar(db, "SELECT value FROM metrics WHERE metric = 'log_pplx'"), "NULL");
  EXPECT_EQ(scalar(db, "SELECT status FROM runs"), "diverged");
}

// Each broken variant must be refused with a message naming the file and (where there is one)
// the field, and must leave the database exactly as it was.
struct BrokenFile {
  std::string name;
  std::string text;
  std::string expected_in_message;
};

std::vector<BrokenFile> broken_files() {
  const std::string good = testing::sample_result().dump(1);
  json missing_metrics = testing::sample_result();
  missing_metrics.erase("metrics");
  json wrong_type = testing::sample_result();
  wrong_type["metrics"][1]["value"] = "16.94";
  json bad_version = testing::sample_result();
  bad_version["format_version"] = 2;
  json bad_status = testing::sample_result();
  bad_status["status"] = "finished";
  json no_precision = testing::sample_result();
  no_precision.erase("precision");
  json duplicate = testing::sample_result();
  duplicate["metrics"][1]["metric"] = "log_pplx";
  json empty_key = testing::sample_result();
  empty_key["job_key"] = "";
  return {
      {"truncated", good.substr(0, good.size() / 2), "not valid JSON"},
      {"empty", "", "empty file"},
      {"not an object", "[1, 2]", "expected a JSON object"},
      {"missing metrics", missing_metrics.dump(), "metrics: missing required field"},
      {"wrong type", wrong_type.dump(), "metrics[1].value: expected a number"},
      {"bad version", bad_version.dump(), "format_version: unsupported version 2"},
      {"bad status", bad_status.dump(), "status: 'finished' is not one of"},
      {"eval without precision", no_precision.dump(), "precision: missing"},
      {"duplicate metric", duplicate.dump(), "metrics[1]: duplicate metric"},
      {"empty job key", empty_key.dump(), "job_key: must not be empty"},
  };
}

TEST(StoreIngest, CorruptOrPartialFilesAreRejectedAndNothingChanges) {
  TempDir dir;
  Database db = Database::open(dir.file("results.sqlite"));
  const std::string good_file = dir.file("good.json");
  testing::write_text(good_file, testing::sample_result("run-0", "job-0").dump());
  ingest_result_file(db, good_file, "table1");
  const std::string before = testing::dump_tables(db);

  for (const BrokenFile& broken : broken_files()) {
    SCOPED_TRACE(broken.name);
    const std::string file = dir.file("broken.json");
    testing::write_text(file, broken.text);
    try {
      ingest_result_file(db, file, "table1");
      ADD_FAILURE() << "accepted a broken file";
    } catch (const Error& e) {
      const std::string message = e.what();
      EXPECT_EQ(e.code(), ErrorCode::kInvalidInput);
      EXPECT_EQ(message.rfind(file, 0), 0u) << message;  // starts with the file name
      EXPECT_NE(message.find(broken.expected_in_message), std::string::npos) << message;
    }
    EXPECT_EQ(testing::dump_tables(db), before);
  }
}

TEST(StoreIngest, TruncatedFileNamesTheLine) {
  TempDir dir;
  Database db = Database::open(dir.file("results.sqlite"));
  const std::string text = "{\n \"format_version\": 1,\n \"run_key\": \"r\",\n \"metr";
  const std::string file = dir.file("result.json");
  testing::write_text(file, text);
  try {
    ingest_result_file(db, file, "");
    FAIL() << "accepted a truncated file";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), file + ":4: not valid JSON (truncated or corrupt file?)");
  }
}

TEST(StoreIngest, MissingFileIsNotFound) {
  TempDir dir;
  Database db = Database::open(dir.file("results.sqlite"));
  try {
    ingest_result_file(db, dir.file("nope.json"), "");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kNotFound);
  }
}

}  // namespace
}  // namespace matquant::store

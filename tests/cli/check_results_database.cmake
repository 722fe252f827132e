# Issue 14, as a user meets it: a garbage or empty database file is refused in one line and left
# untouched, and `query --timeout` stops a recursive query that never ends.
# -DMATQUANT=path/to/matquant -DSOURCE=repository root -DWORK=scratch directory
file(REMOVE_RECURSE ${WORK})
file(MAKE_DIRECTORY ${WORK})

function(expect_refusal what rc err expected_rc needle)
  if(NOT rc EQUAL expected_rc)
    message(FATAL_ERROR "${what}: expected exit ${expected_rc}, got ${rc}: ${err}")
  endif()
  string(FIND "${err}" "${needle}" pos)
  if(pos EQUAL -1)
    message(FATAL_ERROR "${what}: expected '${needle}' in: ${err}")
  endif()
endfunction()

# A file that is not SQLite: `sweep run` refuses it before SQLite touches it.
file(WRITE ${WORK}/garbage.sqlite "this is not a database, but it is somebody's file\n")
file(SHA256 ${WORK}/garbage.sqlite before)
execute_process(COMMAND ${MATQUANT} sweep run ${SOURCE}/sweeps/quickstart.yaml --db ${WORK}/garbage.sqlite
                        --work-dir ${WORK}/work --no-report
                RESULT_VARIABLE rc ERROR_VARIABLE err OUTPUT_QUIET)
expect_refusal("sweep run on a garbage file" "${rc}" "${err}" 3 "is not a matquant results database")
file(SHA256 ${WORK}/garbage.sqlite after)
if(NOT before STREQUAL after)
  message(FATAL_ERROR "sweep run modified a file it could not open as a results database")
endif()

# A 0-byte file: the reading commands say what it is, not "no such table".
file(WRITE ${WORK}/empty.sqlite "")
execute_process(COMMAND ${MATQUANT} query "SELECT count(*) FROM metrics" --db ${WORK}/empty.sqlite
                RESULT_VARIABLE rc ERROR_VARIABLE err OUTPUT_QUIET)
expect_refusal("query on a 0-byte file" "${rc}" "${err}" 3 "is not a matquant results database")
file(SIZE ${WORK}/empty.sqlite size)
if(NOT size EQUAL 0)
  message(FATAL_ERROR "query wrote to a 0-byte database file (${size} bytes now)")
endif()

# A real database (one ingested result), then a query that never ends.
file(WRITE ${WORK}/result.json [=[
{"format_version": 1, "run_key": "run-a", "job_key": "job-a", "job": "eval", "status": "done",
 "spec": {"name": "tiny", "model": "builtin:tiny-llama"}, "precision": "int4",
 "metrics": [{"precision": "int4", "task": "validation", "metric": "log_pplx", "value": 2.83}],
 "artifacts": [], "timings": {"seconds": 1.0}, "device": "cpu", "host": "h", "versions": {"matquant": "t"},
 "git_sha": "t", "started_at": "2026-11-23T22:37:00Z", "finished_at": "2026-11-23T22:38:00Z"}
]=])
execute_process(COMMAND ${MATQUANT} ingest ${WORK}/result.json --db ${WORK}/ok.sqlite RESULT_VARIABLE rc ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "ingest failed (${rc}): ${err}")
endif()
string(TIMESTAMP start "%s")
execute_process(COMMAND ${MATQUANT} query
                        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c"
                        --db ${WORK}/ok.sqlite --timeout 1
                RESULT_VARIABLE rc ERROR_VARIABLE err OUTPUT_QUIET TIMEOUT 60)
string(TIMESTAMP end "%s")
expect_refusal("an endless query" "${rc}" "${err}" 3 "query stopped after 1 s (--timeout 1")
math(EXPR took "${end} - ${start}")
if(took GREATER 20)
  message(FATAL_ERROR "query --timeout 1 took ${took} s")
endif()

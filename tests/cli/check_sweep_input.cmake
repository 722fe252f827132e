# `sweep plan` and `sweep run` refuse the same malformed sweep files with the same message and exit
# 3, before anything runs (issue 14): a recursive alias (it crashed plan with SIGSEGV), non-UTF-8
# bytes (plan passed, run died with exit 70), an unknown built-in model and a missing data file
# (both passed plan and failed at run time), a duplicate key, and a grid over the run limit.
file(REMOVE_RECURSE "${WORK}")
file(MAKE_DIRECTORY "${WORK}")
file(WRITE "${WORK}/cycle.yaml" "sweep: t\nconfig: &a\n  train: *a\n")
file(WRITE "${WORK}/model.yaml" "sweep: t\nconfig: {model: \"builtin:nope\"}\n")
file(WRITE "${WORK}/data.yaml" "sweep: t\nconfig: {data.train: no-such-file.txt}\n")
file(WRITE "${WORK}/dup.yaml" "sweep: t\ngrid: {seed: [1]}\ngrid: {seed: [2]}\n")
file(WRITE "${WORK}/big.yaml" "sweep: t\ngrid: {seed: [1, 2, 3], train.steps: [1, 2, 3]}\n")
# A Latin-1 'é' (0xE9): CMake's file(WRITE) writes only UTF-8, so printf writes this one.
execute_process(COMMAND printf "sweep: t\\nconfig: {name: \"caf\\351\"}\\n" OUTPUT_FILE "${WORK}/utf8.yaml")

function(expect_refused file pattern extra)
  foreach(action plan run)
    execute_process(COMMAND ${MATQUANT} sweep ${action} "${WORK}/${file}" --db "${WORK}/db.sqlite"
                            --work-dir "${WORK}/work" ${extra}
                    RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err WORKING_DIRECTORY "${WORK}")
    if(NOT rc EQUAL 3)
      message(FATAL_ERROR "sweep ${action} ${file}: expected exit 3, got ${rc}: ${out}${err}")
    endif()
    string(FIND "${err}" "${pattern}" pos)
    if(pos EQUAL -1)
      message(FATAL_ERROR "sweep ${action} ${file}: expected '${pattern}' in: ${err}")
    endif()
  endforeach()
  if(EXISTS "${WORK}/work")
    message(FATAL_ERROR "sweep run ${file} started work before refusing the file")
  endif()
endfunction()

expect_refused(cycle.yaml "cycle.yaml:3:10: this alias names a node that contains it (a cycle)" "")
expect_refused(utf8.yaml "utf8.yaml:2:20: not valid UTF-8 at byte offset 28 (0xE9)" "")
expect_refused(model.yaml "model: unknown built-in model 'builtin:nope'" "")
expect_refused(data.yaml "data.yaml:2:22: data.train: data file no-such-file.txt does not exist" "")
expect_refused(dup.yaml "dup.yaml:3:1: 'grid' is given twice in one mapping" "")
expect_refused(big.yaml "expands to 9 runs (grid 3 x 3), more than the limit of 8" "--max-runs=8")
execute_process(COMMAND ${MATQUANT} sweep plan "${WORK}/big.yaml" --max-runs 9 RESULT_VARIABLE rc OUTPUT_VARIABLE out)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "sweep plan big.yaml --max-runs 9 should pass, got ${rc}")
endif()
execute_process(COMMAND ${MATQUANT} sweep plan "${WORK}" RESULT_VARIABLE rc ERROR_VARIABLE err)
string(FIND "${err}" "is a directory" pos)
if(NOT rc EQUAL 3 OR pos EQUAL -1)
  message(FATAL_ERROR "sweep plan DIRECTORY: expected exit 3 and 'is a directory', got ${rc}: ${err}")
endif()

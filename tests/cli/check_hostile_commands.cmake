# What scripts/hostile-input-campaign.sh found failing, each kept failing cleanly: one line, a
# documented exit code, no JSON-library or LibTorch text, nothing half-written. Needs -DMATQUANT,
# -DSOURCE, -DWORK.
file(REMOVE_RECURSE "${WORK}")
file(MAKE_DIRECTORY "${WORK}/adir.safetensors")
set(MODEL "${SOURCE}/tests/fixtures/lm_eval/models/llama")
set(TASKS "${SOURCE}/tests/fixtures/tasks/release")

function(expect name expected_rc expected_text)
  execute_process(COMMAND ${MATQUANT} ${ARGN} WORKING_DIRECTORY "${WORK}" RESULT_VARIABLE rc ERROR_VARIABLE err OUTPUT_QUIET)
  if(NOT rc EQUAL ${expected_rc})
    message(FATAL_ERROR "${name}: expected exit ${expected_rc}, got ${rc}: ${err}")
  endif()
  string(FIND "${err}" "${expected_text}" found)
  if(found EQUAL -1)
    message(FATAL_ERROR "${name}: expected '${expected_text}' in: ${err}")
  endif()
  foreach(forbidden "json.exception" "LibTorch error" "boost::filesystem" "internal error")
    string(FIND "${err}" "${forbidden}" bad)
    if(NOT bad EQUAL -1)
      message(FATAL_ERROR "${name}: '${forbidden}' in: ${err}")
    endif()
  endforeach()
endfunction()

# Run specs: deep nesting (was a segfault), a number out of range (was exit 70), empty, truncated.
string(REPEAT "[" 100000 deep)
file(WRITE "${WORK}/deep.json" "{\"model\": ${deep}")
file(WRITE "${WORK}/huge_number.json" [[{"model": "builtin:tiny-llama", "train": {"learning_rate": 1e999}}]])
file(WRITE "${WORK}/empty.json" "")
file(WRITE "${WORK}/truncated.json" [[{"model": "builtin:tiny-llama", "train": {"steps": ]])
expect(deep 3 "JSON nested deeper than 256 levels" train deep.json --out x.safetensors)
expect(huge_number 3 "huge_number.json: not valid JSON: number overflow" train huge_number.json --out x.safetensors)
expect(empty 3 "empty.json: empty, expected JSON" train empty.json --out x.safetensors)
expect(truncated 3 "truncated.json: not valid JSON: parse error at line 1" train truncated.json --out x.safetensors)
expect(directory_spec 3 "is a directory" train adir.safetensors --out x.safetensors)

# Command-line values: a device LibTorch does not know (was exit 70), negative counts (were accepted).
expect(device 2 "--device must be cpu, cuda or cuda:N, not 'tpu'" eval --model "${MODEL}" --device tpu --tasks boolq --task-dir "${TASKS}")
expect(limit 2 "--limit must not be negative" eval --model "${MODEL}" --limit -1 --tasks boolq --task-dir "${TASKS}")
expect(max_length 2 "--max-length must not be negative" eval --model "${MODEL}" --max-length -5 --tasks boolq --task-dir "${TASKS}")
file(WRITE "${WORK}/s.yaml" "sweep: s\nconfig: {model: builtin:tiny-llama}\n")
expect(max_runs 2 "--max-runs must not be negative" sweep plan s.yaml --max-runs -1)
expect(metric_name 2 "the metric is acc or acc_norm" report --table 2 --metric boolq=f1)
expect(metric_task 2 "unknown task 'mmlu'" report --table 2 --metric mmlu=acc)
file(WRITE "${WORK}/long.yaml" "sweep: s\nconfig: {model: builtin:tiny-llama, train: {seq_len: 9223372036854775807}}\n")
expect(seq_len 3 "train.seq_len: must be at most 1048576" sweep plan long.yaml)

# A checkpoint path that is a directory: exit 5, and no temp file left beside it.
file(WRITE "${WORK}/tiny.json" [[{"model": "builtin:tiny-llama", "train": {"steps": 1, "batch_size": 1, "seq_len": 16}}]])
expect(out_is_directory 5 "cannot write adir.safetensors: it is a directory"
       train tiny.json --out adir.safetensors --cache-dir "${SOURCE}/results/cache")
if(EXISTS "${WORK}/adir.safetensors.tmp")
  message(FATAL_ERROR "out_is_directory: adir.safetensors.tmp was left behind")
endif()
# A checkpoint in the current directory (no directory part; was exit 70 after training).
execute_process(COMMAND ${MATQUANT} train tiny.json --out here.safetensors --cache-dir "${SOURCE}/results/cache"
                WORKING_DIRECTORY "${WORK}" RESULT_VARIABLE rc ERROR_VARIABLE err OUTPUT_QUIET)
if(NOT rc EQUAL 0 OR NOT EXISTS "${WORK}/here.safetensors")
  message(FATAL_ERROR "train --out here.safetensors: expected exit 0 and the file, got ${rc}: ${err}")
endif()

# Read-only PRAGMAs the query help promises.
execute_process(COMMAND ${MATQUANT} query "pragma integrity_check" --db "${SOURCE}/results/reference/matquant.sqlite"
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0 OR NOT out MATCHES "ok")
  message(FATAL_ERROR "query pragma integrity_check: expected ok, got ${rc}: ${out}${err}")
endif()

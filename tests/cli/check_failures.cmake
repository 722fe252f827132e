# Hostile model configs as a user meets them (issue 14): heads 0 was SIGFPE (exit 136), an
# allocation failure was "terminate called after throwing" (exit 134) or a C++ backtrace. Now:
# one line on stderr, exit 3 (invalid input) and exit 8 (out of memory). Needs -DMATQUANT, -DWORK.
file(REMOVE_RECURSE "${WORK}")
file(MAKE_DIRECTORY "${WORK}/heads0" "${WORK}/huge")
file(WRITE "${WORK}/heads0/config.json" [[{"model_type": "llama", "vocab_size": 100, "hidden_size": 64,
  "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 0, "rms_norm_eps": 0}]])
# Valid, but the embedding alone is 2^30 x 4096 floats (16 TiB).
file(WRITE "${WORK}/huge/config.json" [[{"model_type": "llama", "vocab_size": 1073741824, "hidden_size": 4096,
  "intermediate_size": 128, "num_hidden_layers": 1, "num_attention_heads": 32}]])

function(expect_failure model expected_rc expected_text)
  execute_process(COMMAND ${MATQUANT} forward --model "${WORK}/${model}" --input "${WORK}/none.safetensors"
                  RESULT_VARIABLE rc ERROR_VARIABLE err OUTPUT_QUIET)
  if(NOT rc EQUAL ${expected_rc})
    message(FATAL_ERROR "${model}: expected exit ${expected_rc}, got ${rc}: ${err}")
  endif()
  string(FIND "${err}" "${expected_text}" pos)
  if(pos EQUAL -1)
    message(FATAL_ERROR "${model}: expected '${expected_text}' in: ${err}")
  endif()
  foreach(forbidden "frame #" "terminate called" "Exception raised from")
    string(FIND "${err}" "${forbidden}" bad)
    if(NOT bad EQUAL -1)
      message(FATAL_ERROR "${model}: '${forbidden}' in: ${err}")
    endif()
  endforeach()
endfunction()

expect_failure(heads0 3 "2 problems:\n  ${WORK}/heads0/config.json: num_attention_heads: must be at least 1, got 0")
expect_failure(heads0 3 "config.json: rms_norm_eps: must be a positive number, got 0")
expect_failure(huge 8 "matquant: error: out of memory: DefaultCPUAllocator: can't allocate memory: you tried to allocate")

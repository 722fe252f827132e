# `matquant eval` as lm-eval users run it: a Hugging Face directory, tasks, no spec and no
# checkpoint. Each task's rows are printed and written to the results file as it finishes; a task
# that cannot be scored (a continuation longer than --max-length) fails alone, naming its document,
# and the exit code says so after the other tasks' results are out.
file(REMOVE_RECURSE "${WORK}")
file(MAKE_DIRECTORY "${WORK}")
set(MODEL "${SOURCE}/tests/fixtures/lm_eval/models/llama")
set(TASKS "${SOURCE}/tests/fixtures/tasks/release")

execute_process(COMMAND ${MATQUANT} eval --help RESULT_VARIABLE rc OUTPUT_VARIABLE help)
string(FIND "${help}" "--checkpoint CKPT --precision" old_usage)
if(NOT rc EQUAL 0 OR NOT old_usage EQUAL -1)
  message(FATAL_ERROR "eval --help must not present a checkpoint as required:\n${help}")
endif()
execute_process(COMMAND ${MATQUANT} eval RESULT_VARIABLE rc ERROR_VARIABLE err)
if(NOT rc EQUAL 2)
  message(FATAL_ERROR "eval with nothing to evaluate should be a usage error (2), got ${rc}: ${err}")
endif()
execute_process(COMMAND ${MATQUANT} eval --model "${MODEL}" --precision 4 --tasks boolq --task-dir "${TASKS}"
                RESULT_VARIABLE rc ERROR_VARIABLE err)
string(FIND "${err}" "--checkpoint" named)
if(NOT rc EQUAL 2 OR named EQUAL -1)
  message(FATAL_ERROR "a quantized precision without a checkpoint should be exit 2 naming --checkpoint, got ${rc}: ${err}")
endif()

# The whole model in bf16 on two tasks; perplexity is not run unless asked for.
execute_process(COMMAND ${MATQUANT} eval --model "${MODEL}" --tasks boolq piqa --task-dir "${TASKS}"
                        --output-path "${WORK}/results.json"
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "eval --model DIR --tasks should work without a spec, got ${rc}: ${err}")
endif()
foreach(row "bf16\tboolq\tacc\t" "bf16\tpiqa\tacc_norm\t")
  string(FIND "${out}" "${row}" found)
  if(found EQUAL -1)
    message(FATAL_ERROR "missing row '${row}':\n${out}")
  endif()
endforeach()
string(FIND "${out}" "log_pplx" perplexity)
if(NOT perplexity EQUAL -1)
  message(FATAL_ERROR "perplexity was not asked for:\n${out}")
endif()
file(READ "${WORK}/results.json" results)
string(JSON boolq_acc GET "${results}" results boolq "acc,none")
string(JSON piqa_docs GET "${results}" n-samples piqa effective)
if(NOT piqa_docs EQUAL 4)
  message(FATAL_ERROR "results.json n-samples piqa should be 4, got ${piqa_docs}")
endif()

# PIQA with a 60-word solution and a 48-token context: piqa fails naming document 1, boolq is kept.
file(READ "${TASKS}/piqa/valid.jsonl" piqa)
string(REPEAT "water " 60 long)
string(REPLACE "use the bridge." "${long}" piqa "${piqa}")
file(WRITE "${WORK}/piqa/valid.jsonl" "${piqa}")
file(COPY "${TASKS}/piqa/valid-labels.lst" DESTINATION "${WORK}/piqa")
execute_process(COMMAND ${MATQUANT} eval --model "${MODEL}" --tasks piqa boolq --task-dir "${TASKS}"
                        --task-file "piqa=${WORK}/piqa/valid.jsonl" --max-length 48 --output-path "${WORK}/partial.json"
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
string(FIND "${err}" "document 1 (line 2) choice 0" named)
if(NOT rc EQUAL 3 OR named EQUAL -1)
  message(FATAL_ERROR "an overlong continuation should fail its task (exit 3) naming the document, got ${rc}: ${err}")
endif()
string(FIND "${out}" "bf16\tboolq\tacc\t" kept)
if(kept EQUAL -1)
  message(FATAL_ERROR "boolq's rows must still be printed:\n${out}")
endif()
file(READ "${WORK}/partial.json" partial)
string(JSON kept_acc GET "${partial}" results boolq "acc,none")
string(JSON failures GET "${partial}" failures)
string(FIND "${failures}" "piqa" failed_named)
if(failed_named EQUAL -1)
  message(FATAL_ERROR "partial.json should record piqa's failure: ${failures}")
endif()

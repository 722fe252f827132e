#pragma once
// One reader per task family: the authors' release files and the Hugging Face datasets' JSON/JSONL
// exports (detected per record by their field names), turned into lm-evaluation-harness' prompts,
// choices and gold index (lm_eval/tasks/{arc,super_glue/boolq,hellaswag,piqa,winogrande,
// openbookqa,siqa}). See docs/eval.md for each task's template.
#include "eval/task_document.h"

#include <string>
#include <vector>

namespace matquant::eval {

std::vector<TaskDocument> read_arc_documents(const std::string& path);
std::vector<TaskDocument> read_openbookqa_documents(const std::string& path);
std::vector<TaskDocument> read_boolq_documents(const std::string& path);
std::vector<TaskDocument> read_hellaswag_documents(const std::string& path);
std::vector<TaskDocument> read_piqa_documents(const std::string& path);
std::vector<TaskDocument> read_winogrande_documents(const std::string& path);
std::vector<TaskDocument> read_siqa_documents(const std::string& path);

// lm-eval's hellaswag/utils.py preprocess(): strip, " [title]" -> ". ", drop "[...]", "  " -> " ".
std::string hellaswag_preprocess(const std::string& text);

// PIQA / Social IQa release labels beside their JSONL: valid.jsonl -> valid-labels.lst.
std::string labels_path_for(const std::string& jsonl_path);

}  // namespace matquant::eval

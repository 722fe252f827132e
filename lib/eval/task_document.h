#pragma once
// One zero-shot example as lm-evaluation-harness scores it (output_type: multiple_choice): one
// log-likelihood request per choice, the gold index, and the choice texts acc_norm divides by; or
// one document of a perplexity task (output_type: loglikelihood_rolling).
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace matquant::eval {

struct TaskDocument {
  // (context, continuation) per choice. Most tasks share one context and differ in the
  // continuation; WinoGrande's contexts differ and the continuation is shared.
  std::vector<std::pair<std::string, std::string>> requests;
  std::vector<std::string> choices;  // lm-eval's doc_to_choice: acc_norm uses their lengths
  int64_t gold = 0;
  int64_t line = 0;  // line of the source file, for messages
  // output_type loglikelihood_rolling (wikitext): the text scored whole, and the page's word and
  // UTF-8 byte counts that word_perplexity / byte_perplexity divide by.
  std::string rolling_target;
  int64_t words = 0;
  int64_t bytes = 0;
};

// A task's documents as read from one file.
struct LoadedTask {
  std::string name;    // our name, e.g. arc_challenge
  std::string split;   // the split lm-eval scores: test or validation
  std::string path;    // the file read
  bool has_acc_norm = true;
  bool rolling = false;  // loglikelihood_rolling (perplexity) rather than multiple_choice
  std::vector<TaskDocument> documents;
};

}  // namespace matquant::eval

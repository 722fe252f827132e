#pragma once
// One zero-shot example as lm-evaluation-harness scores it (output_type: multiple_choice): one
// log-likelihood request per choice, the gold index, and the choice texts acc_norm divides by.
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
};

// A task's documents as read from one file.
struct LoadedTask {
  std::string name;    // our name, e.g. arc_challenge
  std::string split;   // the split lm-eval scores: test or validation
  std::string path;    // the file read
  bool has_acc_norm = true;
  std::vector<TaskDocument> documents;
};

}  // namespace matquant::eval

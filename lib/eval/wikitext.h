#pragma once
// WikiText-2 as lm-evaluation-harness' `wikitext` task scores it (lm_eval/tasks/wikitext/): one
// document per Wikipedia article, the target text wikitext_detokenizer(page), words and bytes counted
// on the page before detokenization (preprocess_wikitext.py process_results).
#include "eval/task_document.h"

#include <string>
#include <vector>

namespace matquant::eval {

struct WikitextPage {
  std::string page;
  int64_t line = 0;  // 1-based line of the file where the page starts
};

// EleutherAI/wikitext_document_level's split of a raw file (wikitext_document_level.py
// _generate_examples): the text split on "\n"; a line that, after "= = =" -> "===", "= =" -> "=="
// and strip(), starts with "= " and ends with " =" (a top-level " = Title = " heading, not
// " = = Section = = ") starts a new page; pages are their lines joined by "\n"; blank pages are
// dropped except the last, which is always kept. "\r\n" and "\r" read as "\n" (Python text mode).
std::vector<WikitextPage> split_wikitext_pages(const std::string& raw);

// lm-eval's wikitext_detokenizer, the same replacements and regular expressions in the same order.
std::string wikitext_detokenize(const std::string& page);

// `wiki.test.raw` (split as above) or the Hugging Face export (JSONL, field `page`): documents
// with rolling_target = wikitext_detokenize(page), words = len(re.split(r"\s+", page)), bytes =
// len(page.encode("utf-8")).
std::vector<TaskDocument> read_wikitext_documents(const std::string& path);

}  // namespace matquant::eval

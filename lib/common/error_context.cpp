#include "common/error_context.h"

#include <exception>
#include <utility>

namespace matquant {

namespace {
thread_local std::vector<std::string> unwound_contexts;
thread_local int open_contexts = 0;
}  // namespace

ErrorContext::ErrorContext(std::string what)
    : what_(std::move(what)), uncaught_at_start_(std::uncaught_exceptions()) {
  if (open_contexts++ == 0) unwound_contexts.clear();
}

ErrorContext::~ErrorContext() {
  --open_contexts;
  if (std::uncaught_exceptions() <= uncaught_at_start_) return;
  try {
    unwound_contexts.push_back(what_);
  } catch (...) {  // out of memory while recording: the failure is still reported, without this text
  }
}

std::vector<std::string> take_error_context() {
  std::vector<std::string> taken;
  taken.swap(unwound_contexts);
  return taken;
}

}  // namespace matquant

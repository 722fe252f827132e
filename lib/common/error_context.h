#pragma once
#include <string>
#include <vector>

namespace matquant {

// Names what is being done, for failures that cannot name it themselves: LibTorch's out-of-memory
// error knows the allocation, not the job. While an exception unwinds through a scope, the scope's
// text is kept; describe_failure (common/failure.h) reads it back.
//   const ErrorContext scope("train job 3f2a (gemma2-2b, qat, batch 16 x 256)");
class ErrorContext {
 public:
  explicit ErrorContext(std::string what);
  ~ErrorContext();
  ErrorContext(const ErrorContext&) = delete;
  ErrorContext& operator=(const ErrorContext&) = delete;

 private:
  std::string what_;
  int uncaught_at_start_;
};

// The texts of the scopes the last exception on this thread left, innermost first, and forgets
// them; empty when it left none. Opening an outermost scope forgets stale ones too.
std::vector<std::string> take_error_context();

}  // namespace matquant

#pragma once
// Any exception that reaches a command's edge (main, the sweep worker) as one line and an exit
// code (README "Exit codes"): our Error as it is; a failed allocation, CUDA or host, as
// kOutOfMemory with the allocator's "Tried to allocate" sentence, what was being done (ErrorContext)
// and what to change; any other LibTorch or C++ error as kInternal with the first line of its
// message, never its C++ backtrace.
#include "common/error.h"
#include "common/error_context.h"

#include <exception>
#include <string>

namespace matquant {

struct Failure {
  ErrorCode code = ErrorCode::kInternal;
  std::string message;  // one line, without a "matquant: error:" prefix
  int exit_code() const { return static_cast<int>(code); }
};

// Also takes the ErrorContext texts the exception left (take_error_context).
Failure describe_failure(const std::exception_ptr& error);

// For an exception that escapes every handler (another thread, a noexcept function): prints
// "PROGRAM: error: ..." as main would and exits with its code instead of abort()'s 134.
void install_terminate_handler(const char* program);

}  // namespace matquant

#pragma once
// One error type for the whole library: thrown where a problem is found, caught once in
// main, printed as one line and mapped to a documented exit code (see README "Exit codes").
#include <stdexcept>
#include <string>

namespace matquant {

enum class ErrorCode {
  kUsage = 2,         // bad command line
  kInvalidInput = 3,  // malformed file, field or value given by the user
  kNotFound = 4,      // a file or directory the user named does not exist
  kIo = 5,            // reading or writing failed
  kDiverged = 6,      // training produced NaN/Inf
  kOutOfMemory = 8,   // an allocation failed, on the GPU (CUDA out of memory) or the host
  kDistributed = 9,   // a multi-process run could not form its process group, or lost a rank
  kInternal = 70,     // a bug: an invariant of ours did not hold
  kInterrupted = 130,  // stopped by SIGINT/SIGTERM (128 + SIGINT, the shell's convention); work recorded
};

class Error : public std::runtime_error {
 public:
  Error(ErrorCode code, const std::string& message) : std::runtime_error(message), code_(code) {}
  ErrorCode code() const { return code_; }
  int exit_code() const { return static_cast<int>(code_); }

 private:
  ErrorCode code_;
};

// Formats "FILE:LINE: FIELD: message" for errors located in a user's file.
std::string located_message(const std::string& file, long line, const std::string& field,
                            const std::string& message);

[[noreturn]] void throw_invalid(const std::string& message);
[[noreturn]] void throw_usage(const std::string& message);

}  // namespace matquant

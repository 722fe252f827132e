#include "common/failure.h"

#include <boost/filesystem.hpp>

#include <c10/util/Exception.h>
#include <c10/util/Logging.h>

#include <cstdio>
#include <cstdlib>
#include <new>

namespace matquant {

namespace {

constexpr const char* kMemoryHint =
    "to fit, set train.activation_checkpointing: true (QAT), train.offload_optimizer_state: true (QAT: AdamW "
    "moments in host memory), train on several GPUs (matquant train --nproc N), or lower train.batch_size, or "
    "eval.batch_size when evaluating";

std::string first_line(const std::string& text) { return text.substr(0, text.find('\n')); }

bool contains(const std::string& text, const char* needle) { return text.find(needle) != std::string::npos; }

// The allocator's own sentence, from where it starts: CUDA's "CUDA out of memory. Tried to allocate
// 2.00 GiB. GPU 0 has ... free. ..." without the trailing documentation link; the host allocator's
// "DefaultCPUAllocator: can't allocate memory: you tried to allocate N bytes. ..." without the
// "[enforce fail at alloc_cpu.cpp:127] err == 0." in front of it.
std::string allocator_sentence(const std::string& line) {
  std::string text = line;
  for (const char* start : {"CUDA out of memory", "DefaultCPUAllocator", "CUDA error: out of memory"}) {
    const auto at = text.find(start);
    if (at != std::string::npos) {
      text = text.substr(at);
      break;
    }
  }
  const auto link = text.find("See documentation");
  if (link != std::string::npos) text = text.substr(0, link);
  while (!text.empty() && (text.back() == ' ' || text.back() == '.')) text.pop_back();
  return text;
}

bool is_allocation_failure(const std::string& line) {
  return contains(line, "out of memory") || contains(line, "DefaultCPUAllocator: can't allocate memory") ||
         contains(line, "DefaultCPUAllocator: not enough memory") || contains(line, "CUBLAS_STATUS_ALLOC_FAILED");
}

// torch::save's archive writer (caffe2 inline_container) reports a short write as a failed
// enforce, not as an I/O error: a full disk or a file size limit.
bool is_write_failure(const std::string& line) {
  return contains(line, "inline_container.cc") || contains(line, "PytorchStreamWriter failed writing");
}

std::string joined_context() {
  std::string text;
  for (const auto& c : take_error_context()) text += (text.empty() ? " while " : ", in ") + c;
  return text;
}

Failure out_of_memory(const std::string& what) {
  return {ErrorCode::kOutOfMemory, "out of memory" + joined_context() + ": " + what + "; " + kMemoryHint};
}

}  // namespace

Failure describe_failure(const std::exception_ptr& error) {
  try {
    std::rethrow_exception(error);
  } catch (const Error& e) {
    take_error_context();  // our errors name their own context
    return {e.code(), e.what()};
  } catch (const c10::OutOfMemoryError& e) {
    return out_of_memory(allocator_sentence(first_line(e.what_without_backtrace())));
  } catch (const c10::Error& e) {
    // The host allocator and cuBLAS report a failed allocation as a plain c10::Error.
    const std::string line = first_line(e.what_without_backtrace());
    if (is_allocation_failure(line)) return out_of_memory(allocator_sentence(line));
    if (is_write_failure(line)) {
      return {ErrorCode::kIo, "writing a file failed" + joined_context() + " (disk full or a file size limit?): " + line};
    }
    return {ErrorCode::kInternal, "LibTorch error" + joined_context() + ": " + line};
  } catch (const std::bad_alloc&) {
    return out_of_memory("host memory allocation failed (std::bad_alloc)");
  } catch (const boost::filesystem::filesystem_error& e) {
    // A path that cannot be made or replaced (a file where a directory is wanted, a directory
    // where a file is): the user's input, reported as an I/O failure.
    std::string paths = e.path1().string();
    if (!e.path2().empty()) paths += " -> " + e.path2().string();
    return {ErrorCode::kIo, "cannot use " + paths + joined_context() + ": " + e.code().message()};
  } catch (const std::exception& e) {
    const std::string where = joined_context();
    return {ErrorCode::kInternal, first_line(e.what()) + (where.empty() ? "" : " (" + where.substr(1) + ")")};
  } catch (...) {
    return {ErrorCode::kInternal, "unknown exception" + joined_context()};
  }
}

namespace {

// libsentencepiece and libc10 both export FLAGS_minloglevel (an absl::Flag there, a 4-byte int
// here). Where libc10 comes first in symbol lookup (our test binaries), sentencepiece's constructor
// writes its flag over c10's int and the byte after it, caffe2_use_fatal_for_enforce, which turns
// every CAFFE_ENFORCE, the host allocator's "can't allocate memory" included, into abort() (exit
// 134) instead of an exception. Shared libraries are initialised before this executable's statics,
// so this puts c10's default back after the damage.
[[maybe_unused]] const bool enforce_throws = [] {
  FLAGS_caffe2_use_fatal_for_enforce = false;
  return true;
}();

const char* terminate_program = "matquant";

[[noreturn]] void report_and_exit() {
  const std::exception_ptr error = std::current_exception();
  if (!error) {
    std::fprintf(stderr, "%s: internal error: terminated without an exception\n", terminate_program);
    std::fflush(stderr);
    std::_Exit(static_cast<int>(ErrorCode::kInternal));
  }
  const Failure failure = describe_failure(error);
  const char* kind = failure.code == ErrorCode::kInternal ? "internal error" : "error";
  std::fprintf(stderr, "%s: %s: %s\n", terminate_program, kind, failure.message.c_str());
  std::fflush(stderr);
  std::_Exit(failure.exit_code());  // no static destructors: the process is in an unknown state
}

}  // namespace

void install_terminate_handler(const char* program) {
  terminate_program = program;
  std::set_terminate(&report_and_exit);
}

}  // namespace matquant

// Exceptions at a command's edge become one line and a documented exit code (lib/common/failure.h):
// CUDA or host out of memory is exit 8 naming the allocation, the job and what to change, never
// "terminate called after throwing c10::OutOfMemoryError" (exit 134) or a C++ backtrace.
#include "common/error_context.h"
#include "common/failure.h"

#include <ATen/ATen.h>
#include <c10/util/Exception.h>
#include <gtest/gtest.h>

#include <functional>
#include <new>
#include <thread>

using matquant::ErrorCode;
using matquant::Failure;

namespace {

// The allocator's text in torch 2.11 (c10/cuda/CUDACachingAllocator.cpp), thrown the way it throws.
const char* kCudaOutOfMemory =
    "CUDA out of memory. Tried to allocate 2.00 GiB. GPU 0 has a total capacity of 139.81 GiB of which "
    "1.20 GiB is free. Including non-PyTorch memory, this process has 138.60 GiB memory in use. Of the "
    "allocated memory 135.10 GiB is allocated by PyTorch, and 2.31 GiB is reserved by PyTorch but "
    "unallocated. If reserved but unallocated memory is large try setting "
    "PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True to avoid fragmentation.  See documentation for "
    "Memory Management  (https://docs.pytorch.org/docs/stable/notes/cuda.html#optimizing-memory-usage-with-"
    "pytorch-cuda-alloc-conf)";

Failure failure_of(const std::function<void()>& body) {
  try {
    body();
  } catch (...) {
    return matquant::describe_failure(std::current_exception());
  }
  ADD_FAILURE() << "nothing was thrown";
  return {};
}

void throw_cuda_out_of_memory() { TORCH_CHECK_WITH(OutOfMemoryError, false, kCudaOutOfMemory); }

bool one_line(const std::string& text) { return text.find('\n') == std::string::npos; }

}  // namespace

TEST(FailureMessages, CudaOutOfMemoryIsExit8WithTheAllocationAndHints) {
  const Failure f = failure_of(throw_cuda_out_of_memory);
  EXPECT_EQ(f.code, ErrorCode::kOutOfMemory);
  EXPECT_EQ(f.exit_code(), 8);
  EXPECT_EQ(f.message.rfind("out of memory: CUDA out of memory. Tried to allocate 2.00 GiB. GPU 0 has a total "
                            "capacity of 139.81 GiB of which 1.20 GiB is free.", 0), 0u) << f.message;
  EXPECT_NE(f.message.find("train.activation_checkpointing: true"), std::string::npos) << f.message;
  EXPECT_NE(f.message.find("train.batch_size"), std::string::npos) << f.message;
  EXPECT_EQ(f.message.find("See documentation"), std::string::npos) << f.message;
  EXPECT_EQ(f.message.find("Exception raised from"), std::string::npos) << f.message;
  EXPECT_TRUE(one_line(f.message)) << f.message;
}

TEST(FailureMessages, OutOfMemoryNamesWhatWasBeingDone) {
  const Failure f = failure_of([] {
    const matquant::ErrorContext job("train job 3f2a (model gemma2, qat, batch 16 x 256)");
    const matquant::ErrorContext step("step 7");
    throw_cuda_out_of_memory();
  });
  EXPECT_EQ(f.message.rfind("out of memory while step 7, in train job 3f2a (model gemma2, qat, batch 16 x 256): "
                            "CUDA out of memory. Tried to allocate 2.00 GiB.", 0), 0u) << f.message;
  // Read once: a later failure outside any scope names no stale context.
  EXPECT_EQ(failure_of(throw_cuda_out_of_memory).message.rfind("out of memory: CUDA", 0), 0u);
}

TEST(FailureMessages, HostAllocationFailureIsOutOfMemoryToo) {
  // 4 EiB, past any address space, so even a host that overcommits memory (the GPU machine does)
  // refuses it at once; the host allocator throws a plain c10::Error.
  const Failure f = failure_of([] { at::empty({int64_t{1} << 60}, at::TensorOptions().dtype(at::kFloat)); });
  EXPECT_EQ(f.code, ErrorCode::kOutOfMemory) << f.message;
  EXPECT_NE(f.message.find("you tried to allocate 4611686018427387904 bytes"), std::string::npos) << f.message;
  EXPECT_EQ(f.message.find("enforce fail"), std::string::npos) << f.message;
  EXPECT_TRUE(one_line(f.message)) << f.message;

  EXPECT_EQ(failure_of([] { throw std::bad_alloc(); }).code, ErrorCode::kOutOfMemory);
}

TEST(FailureMessages, OtherLibTorchErrorsAreInternalWithoutBacktrace) {
  const Failure f = failure_of([] { TORCH_CHECK(false, "size mismatch, m1: [2 x 3], m2: [4 x 5]"); });
  EXPECT_EQ(f.code, ErrorCode::kInternal);
  EXPECT_EQ(f.exit_code(), 70);
  EXPECT_EQ(f.message, "LibTorch error: size mismatch, m1: [2 x 3], m2: [4 x 5]");
  // A real one from an operator: its first line only.
  const Failure op = failure_of([] { at::matmul(at::ones({2, 3}), at::ones({4, 5})); });
  EXPECT_EQ(op.code, ErrorCode::kInternal);
  EXPECT_TRUE(one_line(op.message)) << op.message;
  EXPECT_EQ(op.message.rfind("LibTorch error: ", 0), 0u) << op.message;
}

TEST(FailureMessages, OurErrorsKeepTheirCodeAndText) {
  const Failure f = failure_of([] {
    const matquant::ErrorContext scope("eval job 1");
    throw matquant::Error(ErrorCode::kInvalidInput, "m/config.json: num_attention_heads: must be at least 1, got 0");
  });
  EXPECT_EQ(f.code, ErrorCode::kInvalidInput);
  EXPECT_EQ(f.message, "m/config.json: num_attention_heads: must be at least 1, got 0");
  const Failure other = failure_of([] { throw std::runtime_error("first\nsecond"); });
  EXPECT_EQ(other.code, ErrorCode::kInternal);
  EXPECT_EQ(other.message, "first");
}

TEST(FailureMessagesDeathTest, AnExceptionNoHandlerCatchesExitsWithItsCode) {
  // Thrown on another thread, it would be std::terminate's "terminate called after throwing" (134).
  EXPECT_EXIT(
      {
        matquant::install_terminate_handler("matquant");
        std::thread([] { throw std::bad_alloc(); }).join();
      },
      ::testing::ExitedWithCode(8), "^matquant: error: out of memory: host memory allocation failed");
}

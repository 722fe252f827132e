#pragma once
// Replacing a file so readers see the old content or the new, never half of it: write PATH.tmp,
// fsync, rename over PATH. A failure is ErrorCode::kIo naming the path; no .tmp is left behind.
#include <string>

namespace matquant {

void write_file_atomically(const std::string& path, const std::string& text);

}  // namespace matquant

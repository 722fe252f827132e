#include "common/error.h"

namespace matquant {

std::string located_message(const std::string& file, long line, const std::string& field,
                            const std::string& message) {
  std::string out = file;
  if (line > 0) out += ":" + std::to_string(line);
  if (!field.empty()) out += ": " + field;
  return out + ": " + message;
}

void throw_invalid(const std::string& message) { throw Error(ErrorCode::kInvalidInput, message); }
void throw_usage(const std::string& message) { throw Error(ErrorCode::kUsage, message); }

}  // namespace matquant

#pragma once
// Sweep and run names: database identifiers that people type in queries and shells. '/' groups
// runs ("llama/qat/matquant", as the reference sweeps do), so it is allowed as a separator only;
// ':' is allowed because derived names carry model labels such as builtin:tiny-llama.
#include <string>

namespace matquant::sweep {

// The characters a name may use, for messages and docs/sweeps.md.
inline constexpr const char* kNameCharacters = "A-Z a-z 0-9 . _ + = @ , : - and / between parts";

// "" when `name` is acceptable; else why not: empty, longer than 200 bytes, a character outside
// kNameCharacters, a leading or trailing '/', an empty part ("a//b"), or a part "." or "..".
std::string name_problem(const std::string& name);

}  // namespace matquant::sweep

// The one error type of Shootout: a message that names the file, tensor or field at fault.
// Libraries throw it; only the CLI turns it into one line on stderr and a non-zero exit code.
#pragma once

#include <stdexcept>
#include <string>

namespace shootout {

class Error : public std::runtime_error {
public:
    explicit Error(const std::string& message) : std::runtime_error(message) {}
};

// Prefixes the message with where it happened, e.g. fail("model.gguf", "bad magic").
[[noreturn]] inline void fail(const std::string& where, const std::string& what) {
    throw Error(where.empty() ? what : where + ": " + what);
}

}  // namespace shootout

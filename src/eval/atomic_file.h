// Whole-file writes that never leave a half-written file under the final name: write path + ".tmp",
// flush it to disk, then rename over the target (atomic on POSIX file systems).
#pragma once

#include <string>
#include <string_view>

namespace shootout::eval {

void write_file_atomically(const std::string& path, std::string_view bytes);  // Error names the path
std::string read_whole_file(const std::string& path);                          // Error names the path

}  // namespace shootout::eval

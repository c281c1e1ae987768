// Durable, atomic small-file writes for the agent's state dir (spool, sequence). Never used under a Longhorn
// disk: Sentinel writes nothing there.
#pragma once

#include <optional>
#include <string>

namespace sentinel::daemon {

// Writes `contents` to `path` so that after a crash the file holds either its old or its new contents: a
// temporary file in the same directory, write, fsync, rename over `path`, fsync of the directory.
bool write_file_atomically(const std::string& path, const std::string& contents, std::string* error);

// The whole file, or nullopt with *error (ENOENT included: *error then starts with "not found").
std::optional<std::string> read_small_file(const std::string& path, std::string* error);

// mkdir -p (created directories get 0777 minus the umask; systemd gives StateDirectory 0750).
bool make_directories(const std::string& path, std::string* error);

}  // namespace sentinel::daemon

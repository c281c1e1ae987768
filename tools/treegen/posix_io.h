// The few file-system calls the generator makes, as SysResult values (no exceptions). Paths are used as
// given; nothing here follows a final symlink or replaces an existing file.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "scanner/sys_result.h"

namespace sentinel::treegen {

using scanner::Done;
using scanner::SysResult;

std::string join(const std::string& dir, const std::string& name);
// One path component: non-empty, no '/', not "." or "..".
bool is_single_component(std::string_view name);

// mkdir with exactly `mode` (umask does not apply). With `exist_ok`, an existing directory is accepted as is.
SysResult<Done> make_dir(const std::string& path, mode_t mode, bool exist_ok);
// mkdir -p: every missing component of `path` (0755 as umask allows), the existing ones left as they are.
SysResult<Done> make_dirs(const std::string& path);
// pwrite of all `length` bytes at `offset` (short writes continued, EINTR retried); errors name `what`.
SysResult<Done> pwrite_all(int fd, const char* data, size_t length, uint64_t offset, const std::string& what);
// Creates a new file (EEXIST if anything is there) holding `bytes`, with exactly `mode`.
SysResult<Done> write_new_file(const std::string& path, std::string_view bytes, mode_t mode);
SysResult<Done> make_symlink(const std::string& target, const std::string& path);
SysResult<Done> make_fifo(const std::string& path, mode_t mode);
SysResult<Done> set_mode(const std::string& path, mode_t mode);
// Sets atime and mtime (of the entry itself, not a symlink's target).
SysResult<Done> set_mtime(const std::string& path, int64_t mtime_ns);
SysResult<int64_t> ctime_ns(const std::string& path);

}  // namespace sentinel::treegen

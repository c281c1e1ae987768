// The output file of an export. See export_destination.h.
#include "salvage/export_destination.h"

#include <fcntl.h>
#include <stdio.h>  // renameat2
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <random>

namespace sentinel::salvage {

namespace {

using scanner::Done;
using scanner::Fd;
using scanner::sys_error;
using scanner::SysResult;

// Deep enough for any real path; a loop that never reaches / (it cannot, but) ends here.
constexpr int kMaxAncestors = 4096;

std::string errno_text(int err) { return std::strerror(err); }

std::string random_suffix() {
  static constexpr char kAlphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789";
  std::random_device device;
  std::string out;
  for (int i = 0; i < 8; ++i) out += kAlphabet[device() % (sizeof kAlphabet - 1)];
  return out;
}

std::string human(uint64_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f GiB", static_cast<double>(bytes) / (1024.0 * 1024 * 1024));
  return buf;
}

}  // namespace

std::string protected_location(int dir_fd, const std::vector<DirIdentity>& protected_dirs, std::string* error) {
  Fd ancestor;  // owns every directory above dir_fd as the walk goes up
  int current = dir_fd;
  for (int depth = 0; depth < kMaxAncestors; ++depth) {
    struct stat st {};
    if (::fstat(current, &st) != 0) {
      *error = "cannot stat a parent of the output directory: " + errno_text(errno);
      return "";
    }
    for (const DirIdentity& p : protected_dirs) {
      if (p.device == static_cast<uint64_t>(st.st_dev) && p.inode == static_cast<uint64_t>(st.st_ino)) {
        return depth == 0 ? "it is " + p.description : "it lies inside " + p.description;
      }
    }
    Fd up(::openat(current, "..", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!up.valid()) {
      *error = "cannot open a parent of the output directory: " + errno_text(errno);
      return "";
    }
    struct stat up_st {};
    if (::fstat(up.get(), &up_st) != 0) {
      *error = "cannot stat a parent of the output directory: " + errno_text(errno);
      return "";
    }
    if (up_st.st_dev == st.st_dev && up_st.st_ino == st.st_ino) return "";  // "/" is its own parent
    ancestor = std::move(up);
    current = ancestor.get();
  }
  *error = "the output directory is nested too deep to check";
  return "";
}

ExportDestination::Result ExportDestination::create(const std::string& output_path,
                                                    const std::vector<DirIdentity>& protected_dirs, bool force,
                                                    uint64_t needed_bytes) {
  Result result;
  const std::filesystem::path path(output_path);
  if (output_path.empty() || path.filename().empty() || path.filename() == "." || path.filename() == "..") {
    result.error = "--output " + output_path + " names a directory; give a file name";
    return result;
  }
  const std::string dir_path = path.has_parent_path() ? path.parent_path().string() : ".";
  const std::string name = path.filename().string();

  std::unique_ptr<ExportDestination> d(new ExportDestination());
  d->output_path_ = output_path;
  d->final_name_ = name;
  d->force_ = force;
  d->dir_ = Fd(::open(dir_path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!d->dir_.valid()) {
    result.error = "cannot open the output directory " + dir_path + ": " + errno_text(errno);
    return result;
  }
  // Checked on the open directory, the one the file is created in: no path can be swapped in between.
  std::string check_error;
  const std::string inside = protected_location(d->dir_.get(), protected_dirs, &check_error);
  if (!check_error.empty()) {
    result.error = "cannot check where " + output_path + " is: " + check_error;
    return result;
  }
  if (!inside.empty()) {
    result.error = "refusing to write " + output_path + ": " + inside +
                   ". Sentinel never writes under a replica tree; export to another directory or disk.";
    return result;
  }

  struct stat existing {};
  if (::fstatat(d->dir_.get(), name.c_str(), &existing, AT_SYMLINK_NOFOLLOW) == 0) {
    if (!force) {
      result.error = output_path + " already exists; pass --force to replace it";
      return result;
    }
    if (!S_ISREG(existing.st_mode) && !S_ISLNK(existing.st_mode)) {
      result.error = output_path + " exists and is not a regular file; --force replaces regular files only";
      return result;
    }
  } else if (errno != ENOENT) {
    result.error = "cannot check " + output_path + ": " + errno_text(errno);
    return result;
  }

  struct statvfs vfs {};
  if (::fstatvfs(d->dir_.get(), &vfs) == 0) {
    const uint64_t available = static_cast<uint64_t>(vfs.f_bavail) * vfs.f_frsize;
    if (available < needed_bytes) {
      result.error = "not enough space for " + output_path + ": the export writes up to " + human(needed_bytes) +
                     " of data, " + human(available) + " is free there";
      return result;
    }
  }

  for (int attempt = 0; attempt < 16 && !d->file_.valid(); ++attempt) {
    d->temp_name_ = "." + name + ".sentinel-export-" + random_suffix();
    // 0600: a volume's bytes can be anyone's secrets; the operator widens it when needed.
    d->file_ =
        Fd(::openat(d->dir_.get(), d->temp_name_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
    if (!d->file_.valid() && errno != EEXIST) {
      result.error = "cannot create a file in " + dir_path + ": " + errno_text(errno);
      d->temp_name_.clear();
      return result;
    }
  }
  if (!d->file_.valid()) {
    result.error = "cannot create a file in " + dir_path + ": every temporary name was taken";
    d->temp_name_.clear();
    return result;
  }
  result.destination = std::move(d);
  return result;
}

ExportDestination::~ExportDestination() {
  if (!committed_ && !temp_name_.empty() && dir_.valid()) (void)::unlinkat(dir_.get(), temp_name_.c_str(), 0);
}

SysResult<Done> ExportDestination::sync() {
  if (::fsync(file_.get()) != 0) return sys_error("fsync " + output_path_);
  return Done{};
}

SysResult<Done> ExportDestination::commit() {
  if (auto synced = sync(); !synced) return synced;
  int rc = ::renameat2(dir_.get(), temp_name_.c_str(), dir_.get(), final_name_.c_str(), force_ ? 0 : RENAME_NOREPLACE);
  if (rc != 0 && !force_ && (errno == EINVAL || errno == ENOSYS)) {
    // A file system without RENAME_NOREPLACE: link() refuses an existing name just the same.
    rc = ::linkat(dir_.get(), temp_name_.c_str(), dir_.get(), final_name_.c_str(), 0);
    if (rc == 0) (void)::unlinkat(dir_.get(), temp_name_.c_str(), 0);
  }
  if (rc != 0) {
    const int err = errno;
    if (err == EEXIST) return sys_error(output_path_ + " appeared during the export; not replaced (use --force)", err);
    return sys_error("rename into " + output_path_, err);
  }
  committed_ = true;
  if (::fsync(dir_.get()) != 0) return sys_error("fsync the directory of " + output_path_);
  return Done{};
}

}  // namespace sentinel::salvage

// Where an export writes its image file: a new file beside the requested output path, moved into place only when
// the image is complete (and verified, when asked), so a failed or interrupted export never leaves a file at the
// output path that looks like a volume.
//
// Contract:
// - Refuses (before anything is created) an output whose directory is, or lies anywhere below, one of the
//   protected directories (the replica directory, the disk's replicas/ tree). The check compares directory
//   identities (st_dev, st_ino) of the output's directory and each of its ancestors up to /, so no symlink,
//   `..`, or bind mount of the replica tree gets around it.
// - Refuses an existing output path unless `force`; with `force` only a regular file (or a symlink, which is
//   replaced, never followed) is replaced, atomically, by rename. The existing file is never opened for writing,
//   so even a hard link to a replica's image cannot be written through.
// - The file in progress is `.<name>.sentinel-export-<random>` in the output's directory, created O_EXCL; it is
//   removed when the destination is destroyed uncommitted (a crash leaves it, named so it is recognisable).
// - commit(): fsync the file, rename it to the output name (RENAME_NOREPLACE unless `force`), fsync the directory.
// - Errors are values; nothing throws except std::bad_alloc. Not thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "salvage/replica_source.h"
#include "scanner/file_system.h"
#include "scanner/sys_result.h"

namespace sentinel::salvage {

class ExportDestination {
 public:
  struct Result;
  // Checks the output path and creates the file in progress. `needed_bytes`: data the export will write; a file
  // system with less free space is refused up front (a 40 GiB export failing at 90% helps nobody).
  static Result create(const std::string& output_path, const std::vector<DirIdentity>& protected_dirs, bool force,
                       uint64_t needed_bytes);

  ~ExportDestination();
  ExportDestination(const ExportDestination&) = delete;
  ExportDestination& operator=(const ExportDestination&) = delete;

  [[nodiscard]] int fd() const { return file_.get(); }
  [[nodiscard]] int dir_fd() const { return dir_.get(); }
  [[nodiscard]] const std::string& temp_name() const { return temp_name_; }  // inside dir_fd()
  [[nodiscard]] const std::string& output_path() const { return output_path_; }

  // fsync()s the data (so a later verify reads what reached the storage, not only the page cache).
  scanner::SysResult<scanner::Done> sync();
  // Moves the finished file to the output path; afterwards the destructor leaves it alone.
  scanner::SysResult<scanner::Done> commit();

 private:
  ExportDestination() = default;
  scanner::Fd dir_;
  scanner::Fd file_;
  std::string temp_name_;
  std::string final_name_;
  std::string output_path_;
  bool force_ = false;
  bool committed_ = false;
};

struct ExportDestination::Result {
  std::unique_ptr<ExportDestination> destination;
  std::string error;  // why the output is refused or cannot be created
};

// Why the open directory `dir_fd` is a protected directory or lies below one ("" when it does not, or when the
// check cannot be made: `error` then says why). Exposed for tests.
std::string protected_location(int dir_fd, const std::vector<DirIdentity>& protected_dirs, std::string* error);

}  // namespace sentinel::salvage

// SysResult<T>: a value or the errno of the system call that failed, with what was being done.
//
// The scanner's file-system layer returns these instead of throwing: every failure below a replica becomes a
// finding on that replica, so it has to be a value the caller can inspect. Not thread-safe beyond ordinary
// value semantics.
#pragma once

#include <cerrno>
#include <cstring>
#include <string>
#include <utility>
#include <variant>

namespace sentinel::scanner {

struct SysError {
  int err = 0;        // errno value, never 0 for a real error
  std::string what;   // "open volume.meta", "FIEMAP volume-head-000.img"
  [[nodiscard]] std::string message() const { return what + ": " + std::strerror(err); }
};

template <typename T>
class [[nodiscard]] SysResult {
 public:
  SysResult(T value) : state_(std::move(value)) {}                  // NOLINT: implicit by design
  SysResult(SysError error) : state_(std::move(error)) {}           // NOLINT: implicit by design
  [[nodiscard]] bool ok() const { return std::holds_alternative<T>(state_); }
  explicit operator bool() const { return ok(); }
  T& value() { return std::get<T>(state_); }
  const T& value() const { return std::get<T>(state_); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() { return value(); }
  const SysError& error() const { return std::get<SysError>(state_); }

 private:
  std::variant<T, SysError> state_;
};

// For operations that return nothing on success.
struct Done {};

inline SysError sys_error(std::string what, int err = errno) { return SysError{err, std::move(what)}; }

}  // namespace sentinel::scanner

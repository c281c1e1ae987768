// ReadEngine: reads exactly the allocated extents of one open file and hands the bytes to a consumer in
// file order, through io_uring (liburing) with a pread fallback. The deep scan's only way to read image data.
//
// Shape (liburing's examples/kdigest.c and io_uring-cp.c): `queue_depth` request slots cut from one aligned
// buffer block of queue_depth * block_bytes bytes; every free slot is filled and submitted in one batch, then
// completions are reaped; a slot whose bytes are next in file order goes to the consumer and is reused.
// Nothing is in flight when read() returns, whatever the outcome.
//
// Completion handling: -EAGAIN / -EINTR resubmit the same request (bounded by max_eagain_retries); a short
// read advances and resubmits the rest; res == 0 before the expected end means the file shrank since its
// extents were mapped (kShortFile); any other -errno stops this file (kIoError) at that offset. These are
// values in ReadReport, never exceptions, and concern one file: the engine is reusable for the next one.
//
// Page cache: reads are buffered by default and each consumed range is dropped with POSIX_FADV_DONTNEED,
// except ranges that were already resident before the read (checked with cachestat(2) where the kernel has
// it): pages the workload had cached stay, pages only the scan brought in go. O_DIRECT is an option.
//
// O_DIRECT: used only when every extent starts on a 4 KiB boundary (else the read is buffered and
// ReadReport::detail says so); a short read that stops off a 4 KiB boundary cannot be resumed under O_DIRECT
// and ends as kIoError/EINVAL (the kernel does not produce those short of end of file).
//
// Memory: the buffer block plus the extent list the caller owns; nothing grows with the file size.
// Threads: an engine is used by one thread at a time; the sink runs on that thread. The io_uring ring is
// single-issuer, so a read from a thread other than the last one rebuilds the queue (cheap). Different engines
// are independent. Several cores read one file through several engines, each over its own range (read_lanes.h):
// handing only the copies or only the hashing to another thread measured no better than one thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "scanner/sys_result.h"

namespace sentinel::scanner {

struct ReadExtent {
  uint64_t offset = 0;
  uint64_t length = 0;
};

struct ReadOptions {
  enum class Backend { kAuto, kIoUring, kPread };
  uint32_t queue_depth = 16;            // slots (requests in flight), 1..1024
  uint32_t block_bytes = 512 * 1024;    // bytes per request, a multiple of 4096, 4 KiB..64 MiB
  bool direct_io = false;               // O_DIRECT (falls back to buffered where the file system refuses it)
  bool drop_cache = true;               // buffered reads: POSIX_FADV_DONTNEED what this read brought in
  uint64_t max_read_bytes_per_sec = 0;  // read-rate cap; 0 = none
  Backend backend = Backend::kAuto;     // kAuto: io_uring when the kernel allows it, else pread
  uint32_t max_eagain_retries = 10000;  // per request; beyond it the read fails with EAGAIN
};

// Why `options` cannot be used, or "" when they can.
std::string validate_read_options(const ReadOptions& options);

// One finished read as a ReadQueue reports it: `result` is the byte count (0 = end of file) or -errno.
struct ReadCompletion {
  uint64_t tag = 0;
  int64_t result = 0;
};

// The I/O layer the engine submits through: io_uring, pread, or a test's fault-injecting wrapper.
// Used from one thread. The engine never has more than its queue depth of reads prepared or in flight.
class ReadQueue {
 public:
  virtual ~ReadQueue() = default;
  [[nodiscard]] virtual const char* name() const = 0;
  // Announces the engine's buffer block once, before any read (io_uring registers it for fixed-buffer reads
  // when it can; failing to is not an error).
  virtual void register_buffer(void* base, size_t length) {
    (void)base;
    (void)length;
  }
  // Queues a read of `length` bytes at `offset` into `buffer` (inside the block); `tag` comes back with its
  // completion. Nothing is submitted yet.
  virtual void prepare_read(int fd, void* buffer, uint32_t length, uint64_t offset, uint64_t tag) = 0;
  // Submits everything prepared, waits until at least `wait_for` completions are available (0: do not
  // wait) and appends every available completion to `out`. Returns 0, or -errno when the queue itself failed;
  // a failed queue is discarded by the engine, which then never reuses the buffer block (reads still in the
  // kernel may land in it).
  virtual int submit_and_wait(unsigned wait_for, std::vector<ReadCompletion>* out) = 0;
};

// io_uring with up to `entries` requests; nullptr and `why` when the kernel refuses it (ENOSYS: no io_uring;
// EPERM: disabled by sysctl or seccomp; EOPNOTSUPP: no IORING_OP_READ).
std::unique_ptr<ReadQueue> make_uring_queue(unsigned entries, SysError* why);
// Plain pread(2), one request after the other, on the calling thread. Always available.
std::unique_ptr<ReadQueue> make_pread_queue();

// Makes the queue for an engine. `note` receives why a fallback was taken ("" otherwise). Returning nullptr
// fails the engine's creation (with `note` as the reason).
using ReadQueueFactory = std::function<std::unique_ptr<ReadQueue>(const ReadOptions& options, std::string* note)>;
// io_uring, falling back to pread unless Backend::kIoUring was asked for.
std::unique_ptr<ReadQueue> make_default_read_queue(const ReadOptions& options, std::string* note);
// The same choice with the io_uring constructor injected (tests play a kernel that refuses io_uring).
using UringQueueMaker = std::function<std::unique_ptr<ReadQueue>(unsigned entries, SysError* why)>;
std::unique_ptr<ReadQueue> select_read_queue(const ReadOptions& options, std::string* note,
                                             const UringQueueMaker& make_uring);

struct ReadReport {
  enum class Outcome {
    kComplete,   // every extent was read and delivered
    kIoError,    // a read failed with `err` at `at_offset`; bytes before it were delivered
    kShortFile,  // end of file at `at_offset`, before the end of an extent: the file shrank
    kStopped,    // the sink asked to stop
    kFailed,     // nothing usable: bad extent list or options, the queue broke, fcntl failed (`err`)
  };
  Outcome outcome = Outcome::kComplete;
  int err = 0;
  uint64_t at_offset = 0;
  uint64_t bytes_delivered = 0;
  uint64_t requests = 0;        // reads submitted, resubmissions included
  uint64_t eagain_retries = 0;
  uint64_t short_reads = 0;
  bool direct_io = false;       // O_DIRECT was in effect
  std::string detail;           // for kFailed, and notes such as "O_DIRECT refused, read buffered"

  [[nodiscard]] bool ok() const { return outcome == Outcome::kComplete; }
  // One line for a person: "I/O error at offset 4096: Input/output error".
  [[nodiscard]] std::string message() const;
};

// Receives `length` bytes of the file at `offset`, in file order, each extent in pieces of at most
// block_bytes. `data` is valid only during the call. Return false to stop reading (kStopped).
using ReadSink = std::function<bool(uint64_t offset, const uint8_t* data, size_t length)>;

class ReadEngine {
 public:
  // Allocates the buffer block and makes the queue (`factory`, or make_default_read_queue). Fails with
  // EINVAL for bad options, ENOMEM, or the factory's reason.
  static SysResult<std::unique_ptr<ReadEngine>> create(const ReadOptions& options, ReadQueueFactory factory = {});
  ~ReadEngine();
  ReadEngine(const ReadEngine&) = delete;
  ReadEngine& operator=(const ReadEngine&) = delete;

  // Reads `extents` (ascending, non-overlapping; else kFailed/EINVAL) of the open regular file `fd`.
  // Clears O_NONBLOCK on the file description for the duration (io_uring would otherwise answer -EAGAIN
  // instead of reading) and sets O_DIRECT when asked; the original flags are restored before returning.
  ReadReport read(int fd, const std::vector<ReadExtent>& extents, const ReadSink& sink);

  [[nodiscard]] const char* backend() const;           // "io_uring" or "pread" (or a test queue's name)
  [[nodiscard]] const std::string& note() const { return note_; }  // why a fallback was taken, or ""
  [[nodiscard]] const ReadOptions& options() const { return options_; }

 private:
  struct Impl;
  ReadEngine(const ReadOptions& options, ReadQueueFactory factory);
  ReadOptions options_;
  ReadQueueFactory factory_;
  std::string note_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace sentinel::scanner

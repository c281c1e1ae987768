// The extent reader: io_uring slots over one aligned block, pread fallback. See read_engine.h for the contract.
#include "scanner/read_engine.h"

#include <fcntl.h>
#include <liburing.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <thread>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#endif

namespace sentinel::scanner {
namespace {

constexpr uint32_t kAlign = 4096;
constexpr uint32_t kMaxQueueDepth = 1024;
constexpr uint32_t kMaxBlockBytes = 64u << 20;
constexpr uint64_t kMaxBufferBytes = uint64_t{1} << 30;

// cachestat(2) (Linux 6.5) has no glibc wrapper yet; the syscall number is the same on every architecture.
#ifndef __NR_cachestat
#define __NR_cachestat 451
#endif
struct CachestatRange {
  uint64_t off;
  uint64_t len;
};
struct Cachestat {
  uint64_t nr_cache;
  uint64_t nr_dirty;
  uint64_t nr_writeback;
  uint64_t nr_evicted;
  uint64_t nr_recently_evicted;
};

// ---------------------------------------------------------------------------------------------------------
// pread: the fallback, and the reference the io_uring path must agree with.
class PreadQueue final : public ReadQueue {
 public:
  const char* name() const override { return "pread"; }
  void prepare_read(int fd, void* buffer, uint32_t length, uint64_t offset, uint64_t tag) override {
    pending_.push_back({fd, buffer, length, offset, tag});
  }
  int submit_and_wait(unsigned wait_for, std::vector<ReadCompletion>* out) override {
    (void)wait_for;  // every prepared read completes before returning
    for (const Pending& p : pending_) {
      ssize_t n;
      do {
        n = ::pread(p.fd, p.buffer, p.length, static_cast<off_t>(p.offset));
      } while (n < 0 && errno == EINTR);
      out->push_back({p.tag, n < 0 ? -static_cast<int64_t>(errno) : static_cast<int64_t>(n)});
    }
    pending_.clear();
    return 0;
  }

 private:
  struct Pending {
    int fd;
    void* buffer;
    uint32_t length;
    uint64_t offset;
    uint64_t tag;
  };
  std::vector<Pending> pending_;
};

// ---------------------------------------------------------------------------------------------------------
// io_uring. Setup flags are probed newest first and dropped when the kernel refuses them (-EINVAL).
class UringQueue final : public ReadQueue {
 public:
  static std::unique_ptr<ReadQueue> create(unsigned entries, SysError* why) {
    std::unique_ptr<UringQueue> queue(new UringQueue());
    // SINGLE_ISSUER + DEFER_TASKRUN (6.1): completions are processed only when we enter the kernel, on our
    // thread, which is exactly how the engine works. The engine recreates its queue on another thread.
    static constexpr unsigned kFlagSets[] = {IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN,
                                             IORING_SETUP_SINGLE_ISSUER, 0};
    int rc = -EINVAL;
    for (unsigned flags : kFlagSets) {
      struct io_uring_params params {};
      params.flags = flags;
      rc = io_uring_queue_init_params(entries, &queue->ring_, &params);
      if (rc != -EINVAL) break;
    }
    if (rc < 0) {
      if (why != nullptr) *why = sys_error("io_uring_queue_init", -rc);
      return nullptr;
    }
    queue->initialized_ = true;
    if (struct io_uring_probe* probe = io_uring_get_probe_ring(&queue->ring_)) {
      const bool can_read = io_uring_opcode_supported(probe, IORING_OP_READ) != 0;
      io_uring_free_probe(probe);
      if (!can_read) {
        if (why != nullptr) *why = sys_error("io_uring without IORING_OP_READ", EOPNOTSUPP);
        return nullptr;
      }
    }
    return queue;
  }

  ~UringQueue() override {
    if (initialized_) io_uring_queue_exit(&ring_);
  }

  const char* name() const override { return "io_uring"; }

  void register_buffer(void* base, size_t length) override {
    struct iovec iov {};
    iov.iov_base = base;
    iov.iov_len = length;
    // Fixed buffers save a page-table walk per request; RLIMIT_MEMLOCK may refuse them, which is fine.
    fixed_ = io_uring_register_buffers(&ring_, &iov, 1) == 0;
  }

  void prepare_read(int fd, void* buffer, uint32_t length, uint64_t offset, uint64_t tag) override {
    struct io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
    if (sqe == nullptr) {
      // Cannot happen while the engine keeps within its depth; answer as the kernel would, not by crashing.
      synthetic_.push_back({tag, -EBUSY});
      return;
    }
    if (fixed_) {
      io_uring_prep_read_fixed(sqe, fd, buffer, length, offset, 0);
    } else {
      io_uring_prep_read(sqe, fd, buffer, length, offset);
    }
    io_uring_sqe_set_data64(sqe, tag);
  }

  int submit_and_wait(unsigned wait_for, std::vector<ReadCompletion>* out) override {
    if (!synthetic_.empty()) wait_for = 0;  // something to report already
    int rc;
    do {
      rc = io_uring_submit_and_wait(&ring_, wait_for);
    } while (rc == -EINTR);
    // -EAGAIN / -EBUSY: the kernel is short of resources or the CQ overflowed; reap and let the engine retry.
    if (rc < 0 && rc != -EAGAIN && rc != -EBUSY) return rc;
    unsigned head;
    unsigned count = 0;
    struct io_uring_cqe* cqe;
    io_uring_for_each_cqe(&ring_, head, cqe) {
      out->push_back({io_uring_cqe_get_data64(cqe), cqe->res});
      ++count;
    }
    io_uring_cq_advance(&ring_, count);
    out->insert(out->end(), synthetic_.begin(), synthetic_.end());
    synthetic_.clear();
    return 0;
  }

 private:
  UringQueue() = default;
  struct io_uring ring_ {};
  bool initialized_ = false;
  bool fixed_ = false;
  std::vector<ReadCompletion> synthetic_;
};

// A token unique to the calling thread for the life of the process. std::thread::id and gettid() values are
// reused after a thread exits, but a single-issuer ring belongs to the task, not to the number.
uint64_t thread_token() {
  static std::atomic<uint64_t> next{1};
  thread_local const uint64_t token = next.fetch_add(1, std::memory_order_relaxed);
  return token;
}

struct FreeDeleter {
  void operator()(uint8_t* p) const { std::free(p); }
};

}  // namespace

std::unique_ptr<ReadQueue> make_uring_queue(unsigned entries, SysError* why) { return UringQueue::create(entries, why); }

std::unique_ptr<ReadQueue> make_pread_queue() { return std::make_unique<PreadQueue>(); }

std::unique_ptr<ReadQueue> make_default_read_queue(const ReadOptions& options, std::string* note) {
  return select_read_queue(options, note, make_uring_queue);
}

std::unique_ptr<ReadQueue> select_read_queue(const ReadOptions& options, std::string* note,
                                             const UringQueueMaker& make_uring) {
  if (options.backend != ReadOptions::Backend::kPread) {
    SysError why;
    if (auto queue = make_uring(options.queue_depth, &why)) return queue;
    if (note != nullptr) *note = "io_uring unavailable (" + why.message() + ")";
    if (options.backend == ReadOptions::Backend::kIoUring) return nullptr;
    if (note != nullptr) *note += "; reading with pread";
  }
  return make_pread_queue();
}

std::string validate_read_options(const ReadOptions& o) {
  if (o.queue_depth < 1 || o.queue_depth > kMaxQueueDepth) return "queue depth must be 1..1024";
  if (o.block_bytes < kAlign || o.block_bytes > kMaxBlockBytes || o.block_bytes % kAlign != 0) {
    return "block size must be a multiple of 4 KiB between 4 KiB and 64 MiB";
  }
  if (uint64_t{o.queue_depth} * o.block_bytes > kMaxBufferBytes) return "queue depth x block size exceeds 1 GiB";
  return "";
}

std::string ReadReport::message() const {
  switch (outcome) {
    case Outcome::kComplete:
      return "read " + std::to_string(bytes_delivered) + " bytes";
    case Outcome::kIoError:
      return "read error at offset " + std::to_string(at_offset) + ": " + std::strerror(err);
    case Outcome::kShortFile:
      return "end of file at offset " + std::to_string(at_offset) +
             ", inside an extent mapped before the read: the file shrank";
    case Outcome::kStopped:
      return "reading stopped at offset " + std::to_string(at_offset);
    case Outcome::kFailed:
      return detail + (err != 0 ? std::string(": ") + std::strerror(err) : std::string());
  }
  return detail;
}

// ---------------------------------------------------------------------------------------------------------
struct ReadEngine::Impl {
  std::unique_ptr<ReadQueue> queue;
  uint64_t queue_thread = 0;  // thread_token() of the thread the queue was made on
  std::unique_ptr<uint8_t, FreeDeleter> block;
  size_t block_size = 0;
  bool cachestat_available = true;
};

ReadEngine::ReadEngine(const ReadOptions& options, ReadQueueFactory factory)
    : options_(options), factory_(std::move(factory)), impl_(std::make_unique<Impl>()) {}

ReadEngine::~ReadEngine() {
  if (impl_) impl_->queue.reset();  // before the block it may reference
}

const char* ReadEngine::backend() const { return impl_->queue ? impl_->queue->name() : "none"; }

SysResult<std::unique_ptr<ReadEngine>> ReadEngine::create(const ReadOptions& options, ReadQueueFactory factory) {
  const std::string bad = validate_read_options(options);
  if (!bad.empty()) return sys_error(bad, EINVAL);
  if (!factory) factory = make_default_read_queue;
  std::unique_ptr<ReadEngine> engine(new ReadEngine(options, std::move(factory)));
  Impl& impl = *engine->impl_;
  impl.block_size = size_t{options.queue_depth} * options.block_bytes;
  impl.block.reset(static_cast<uint8_t*>(std::aligned_alloc(kAlign, impl.block_size)));
  if (!impl.block) return sys_error("allocate read buffers", ENOMEM);
  impl.queue = engine->factory_(options, &engine->note_);
  if (!impl.queue) return sys_error(engine->note_.empty() ? "no read queue" : engine->note_, ENOTSUP);
  impl.queue_thread = thread_token();
  impl.queue->register_buffer(impl.block.get(), impl.block_size);
  return engine;
}

namespace {

// Restores a file description's status flags when the read is over.
class FlagRestorer {
 public:
  FlagRestorer(int fd, int original) : fd_(fd), original_(original) {}
  ~FlagRestorer() {
    if (changed_) ::fcntl(fd_, F_SETFL, original_);
  }
  void mark_changed() { changed_ = true; }

 private:
  int fd_;
  int original_;
  bool changed_ = false;
};

struct Slot {
  enum class State { kFree, kInFlight, kReady, kFailed };
  uint8_t* buffer = nullptr;
  uint64_t offset = 0;    // file offset of this piece
  uint32_t length = 0;    // bytes wanted
  uint32_t request = 0;   // bytes asked for: length, rounded up to 4 KiB under O_DIRECT
  uint32_t done = 0;
  uint32_t eagain = 0;
  int err = 0;            // for kFailed: errno, or 0 for end of file
  bool was_cached = false;
  State state = State::kFree;
};

}  // namespace

ReadReport ReadEngine::read(int fd, const std::vector<ReadExtent>& extents, const ReadSink& sink) {
  ReadReport report;
  auto fail = [&](std::string detail, int err) {
    report.outcome = ReadReport::Outcome::kFailed;
    report.detail = std::move(detail);
    report.err = err;
    return report;
  };

  bool aligned = true;
  uint64_t previous_end = 0;
  for (const ReadExtent& e : extents) {
    if (e.length == 0) continue;
    if (e.offset < previous_end || e.offset + e.length < e.offset) {
      return fail("extent list out of order, overlapping or overflowing", EINVAL);
    }
    previous_end = e.offset + e.length;
    if (e.offset % kAlign != 0) aligned = false;
  }

  Impl& impl = *impl_;
  if (!impl.block) return fail("no read buffers", ENOMEM);
  if (!impl.queue || impl.queue_thread != thread_token()) {
    // A queue set up for single-issuer use belongs to the thread that made it.
    impl.queue.reset();
    std::string note;
    impl.queue = factory_(options_, &note);
    if (!impl.queue) return fail(note.empty() ? "no read queue" : note, ENOTSUP);
    impl.queue_thread = thread_token();
    impl.queue->register_buffer(impl.block.get(), impl.block_size);
  }
  ReadQueue& queue = *impl.queue;

  // File status flags: never O_NONBLOCK (io_uring would return -EAGAIN rather than read uncached pages);
  // O_DIRECT when asked and possible.
  const int original_flags = ::fcntl(fd, F_GETFL);
  if (original_flags < 0) return fail("fcntl(F_GETFL)", errno);
  FlagRestorer restore(fd, original_flags);
  const int buffered_flags = original_flags & ~(O_NONBLOCK | O_DIRECT);
  if (options_.direct_io) {
    if (!aligned) {
      report.detail = "extents not 4 KiB aligned; read buffered instead of O_DIRECT";
    } else if (::fcntl(fd, F_SETFL, buffered_flags | O_DIRECT) == 0) {
      restore.mark_changed();
      report.direct_io = true;
    } else {
      report.detail = std::string("O_DIRECT refused (") + std::strerror(errno) + "); read buffered";
    }
  }
  if (!report.direct_io && buffered_flags != original_flags) {
    if (::fcntl(fd, F_SETFL, buffered_flags) != 0) return fail("fcntl(F_SETFL)", errno);
    restore.mark_changed();
  }
  const bool drop_cache = options_.drop_cache && !report.direct_io;

  const uint32_t depth = options_.queue_depth;
  std::vector<Slot> slots(depth);
  for (uint32_t i = 0; i < depth; ++i) slots[i].buffer = impl.block.get() + size_t{i} * options_.block_bytes;

  // The next piece to read: extent index and position inside it.
  size_t next_extent = 0;
  uint64_t next_pos = 0;
  auto skip_empty = [&] {
    while (next_extent < extents.size() && next_pos >= extents[next_extent].length) {
      ++next_extent;
      next_pos = 0;
    }
  };
  skip_empty();

  uint64_t issue_seq = 0;    // pieces issued so far; piece n lives in slot n % depth
  uint64_t deliver_seq = 0;  // pieces delivered so far
  uint32_t in_flight = 0;
  bool stopping = false;     // an outcome is decided: issue nothing more, drain what is in flight
  bool failure_seen = false; // some slot failed: issue nothing more, deliver up to it
  const auto start = std::chrono::steady_clock::now();
  uint64_t issued_bytes = 0;
  std::vector<ReadCompletion> completions;
  completions.reserve(depth);

  auto submit = [&](Slot& slot, uint64_t tag) {
    queue.prepare_read(fd, slot.buffer + slot.done, slot.request - slot.done, slot.offset + slot.done, tag);
    slot.state = Slot::State::kInFlight;
    ++in_flight;
    ++report.requests;
  };

  auto cached_before = [&](uint64_t offset, uint32_t length) {
    if (!drop_cache || !impl.cachestat_available) return false;
    CachestatRange range{offset, length};
    Cachestat stat{};
    if (::syscall(__NR_cachestat, fd, &range, &stat, 0) != 0) {
      if (errno == ENOSYS || errno == EPERM) impl.cachestat_available = false;  // old kernel, or seccomp
      return false;
    }
    return stat.nr_cache > 0;
  };

  for (;;) {
    // Fill every free slot, in file order.
    std::chrono::steady_clock::time_point throttle_until{};
    bool throttled = false;
    while (!stopping && !failure_seen && next_extent < extents.size() && issue_seq - deliver_seq < depth) {
      if (options_.max_read_bytes_per_sec != 0) {
        const auto allowed = start + std::chrono::nanoseconds(static_cast<int64_t>(
                                         static_cast<double>(issued_bytes) * 1e9 /
                                         static_cast<double>(options_.max_read_bytes_per_sec)));
        if (std::chrono::steady_clock::now() < allowed) {
          throttle_until = allowed;
          throttled = true;
          break;
        }
      }
      const ReadExtent& e = extents[next_extent];
      const uint64_t piece = std::min<uint64_t>(e.length - next_pos, options_.block_bytes);
      const uint64_t tag = issue_seq % depth;
      Slot& slot = slots[tag];
      slot.offset = e.offset + next_pos;
      slot.length = static_cast<uint32_t>(piece);
      slot.request = report.direct_io ? static_cast<uint32_t>((piece + kAlign - 1) / kAlign * kAlign) : slot.length;
      slot.done = 0;
      slot.eagain = 0;
      slot.err = 0;
      slot.was_cached = cached_before(slot.offset, slot.length);
      submit(slot, tag);
      ++issue_seq;
      issued_bytes += piece;
      next_pos += piece;
      skip_empty();
    }

    if (in_flight == 0) {
      if (throttled) {
        std::this_thread::sleep_until(throttle_until);
        continue;
      }
      break;  // all delivered, or stopping with nothing left in flight
    }

    completions.clear();
    if (int rc = queue.submit_and_wait(1, &completions); rc < 0) {
      // The queue itself broke. Tearing an io_uring down does not wait for reads already handed to the kernel,
      // so one could still land in the block later: give the block up for good (block_size bytes leaked per
      // broken queue, which takes a kernel fault to happen) rather than reuse or free it.
      if (in_flight > 0) {
        [[maybe_unused]] uint8_t* abandoned = impl.block.release();
#if defined(__SANITIZE_ADDRESS__)
        // Leaked on purpose (block_size bytes per broken queue), so not a LeakSanitizer report.
        __lsan_ignore_object(abandoned);
#endif
        impl.block.reset(static_cast<uint8_t*>(std::aligned_alloc(kAlign, impl.block_size)));
      }
      impl.queue.reset();  // the next read makes a new one
      ReadReport failed = fail("read queue failed", -rc);
      failed.bytes_delivered = report.bytes_delivered;
      return failed;
    }

    for (const ReadCompletion& c : completions) {
      if (c.tag >= depth || slots[c.tag].state != Slot::State::kInFlight) continue;  // not ours; ignore
      Slot& slot = slots[c.tag];
      --in_flight;
      if (c.result < 0) {
        const int err = static_cast<int>(-c.result);
        if ((err == EAGAIN || err == EINTR) && !stopping && slot.eagain < options_.max_eagain_retries) {
          ++slot.eagain;
          ++report.eagain_retries;
          submit(slot, c.tag);
          continue;
        }
        slot.state = Slot::State::kFailed;
        slot.err = err;
        failure_seen = true;
        continue;
      }
      if (c.result == 0) {  // end of file before the end of the piece
        slot.state = Slot::State::kFailed;
        slot.err = 0;
        failure_seen = true;
        continue;
      }
      slot.done += static_cast<uint32_t>(std::min<int64_t>(c.result, slot.request - slot.done));
      if (slot.done >= slot.length) {
        slot.state = Slot::State::kReady;
        continue;
      }
      ++report.short_reads;
      if (stopping) {
        slot.state = Slot::State::kFailed;  // abandoned; never delivered
        continue;
      }
      submit(slot, c.tag);  // the rest of the piece
    }

    // Deliver, in file order, every piece that is ready.
    while (!stopping && deliver_seq < issue_seq) {
      Slot& slot = slots[deliver_seq % depth];
      if (slot.state == Slot::State::kInFlight) break;
      if (slot.state == Slot::State::kFailed) {
        report.outcome = slot.err == 0 ? ReadReport::Outcome::kShortFile : ReadReport::Outcome::kIoError;
        report.err = slot.err;
        report.at_offset = slot.offset + slot.done;
        stopping = true;
        break;
      }
      bool go_on = false;
      try {
        go_on = sink(slot.offset, slot.buffer, slot.length);
      } catch (...) {
        report.detail = "the consumer of the data threw";
        report.outcome = ReadReport::Outcome::kFailed;
        report.at_offset = slot.offset;
        stopping = true;
        break;
      }
      report.bytes_delivered += slot.length;
      if (drop_cache && !slot.was_cached) {
        (void)::posix_fadvise(fd, static_cast<off_t>(slot.offset), static_cast<off_t>(slot.length),
                              POSIX_FADV_DONTNEED);
      }
      slot.state = Slot::State::kFree;
      ++deliver_seq;
      if (!go_on) {
        report.outcome = ReadReport::Outcome::kStopped;
        report.at_offset = slot.offset + slot.length;
        stopping = true;
      }
    }
  }
  return report;
}

}  // namespace sentinel::scanner

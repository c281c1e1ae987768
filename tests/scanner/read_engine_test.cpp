// The extent read engine on real sparse files, over both backends, with a fault-injecting ReadQueue between
// the engine and the kernel: EIO inside an extent, short reads, -EAGAIN, completions out of order, a broken
// queue, and a file truncated between its extent map and the read.
#include "scanner/read_engine.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <iostream>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "scanner/file_system.h"
#include "tests/scanner/fixture_support.h"

namespace sentinel::scanner {
namespace {

using Outcome = ReadReport::Outcome;

// Wraps a real queue and bends what it reports.
class FaultyQueue final : public ReadQueue {
 public:
  explicit FaultyQueue(std::unique_ptr<ReadQueue> inner) : inner_(std::move(inner)) {}

  uint64_t eio_at = ~uint64_t{0};   // a request covering this offset fails with -EIO
  uint32_t short_cap = 0;           // forward at most this many bytes per request (short reads)
  int eagain_first = 0;             // answer -EAGAIN to the first N attempts at each offset
  bool reverse = false;             // report each batch of completions in reverse order
  int fail_submit = 0;              // submit_and_wait fails with -fail_submit

  const char* name() const override { return "faulty"; }
  void register_buffer(void* base, size_t length) override { inner_->register_buffer(base, length); }
  void prepare_read(int fd, void* buffer, uint32_t length, uint64_t offset, uint64_t tag) override {
    if (eio_at >= offset && eio_at < offset + length) {
      synthetic_.push_back({tag, -EIO});
      return;
    }
    if (attempts_[offset]++ < eagain_first) {
      synthetic_.push_back({tag, -EAGAIN});
      return;
    }
    if (short_cap != 0 && length > short_cap) length = short_cap;
    inner_->prepare_read(fd, buffer, length, offset, tag);
    ++inner_in_flight_;
  }
  int submit_and_wait(unsigned wait_for, std::vector<ReadCompletion>* out) override {
    if (fail_submit != 0) return -fail_submit;
    const size_t before = out->size();
    const unsigned inner_wait = (synthetic_.empty() && inner_in_flight_ > 0) ? wait_for : 0;
    const int rc = inner_->submit_and_wait(inner_wait, out);
    inner_in_flight_ -= static_cast<int>(out->size() - before);
    out->insert(out->end(), synthetic_.begin(), synthetic_.end());
    synthetic_.clear();
    if (reverse) std::reverse(out->begin() + static_cast<std::ptrdiff_t>(before), out->end());
    return rc;
  }

 private:
  std::unique_ptr<ReadQueue> inner_;
  std::vector<ReadCompletion> synthetic_;
  std::map<uint64_t, int> attempts_;
  int inner_in_flight_ = 0;
};

// A sparse file with random data pieces, written and synced, plus its extent map.
struct SparseFile {
  std::string path;
  uint64_t size = 0;
  std::vector<uint8_t> content;     // the full apparent content (holes as zeros)
  std::vector<ReadExtent> extents;  // coalesced allocated extents
};

SparseFile make_sparse_file(const std::string& dir, uint64_t size,
                            const std::vector<std::pair<uint64_t, size_t>>& pieces, uint32_t seed) {
  SparseFile f;
  f.path = dir + "/image-" + std::to_string(seed) + ".img";
  f.size = size;
  f.content.assign(size, 0);
  std::mt19937 rng(seed);
  int fd = ::open(f.path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  EXPECT_GE(fd, 0);
  EXPECT_EQ(::ftruncate(fd, static_cast<off_t>(size)), 0);
  for (const auto& [offset, length] : pieces) {
    for (size_t i = 0; i < length; ++i) f.content[offset + i] = static_cast<uint8_t>(rng() | 1);
    EXPECT_EQ(::pwrite(fd, f.content.data() + offset, length, static_cast<off_t>(offset)),
              static_cast<ssize_t>(length));
  }
  EXPECT_EQ(::fsync(fd), 0);
  PosixFileSystem fs;
  auto mapped = fs.map_extents(fd, size, [&](uint64_t off, uint64_t len) {
    if (!f.extents.empty() && f.extents.back().offset + f.extents.back().length == off) {
      f.extents.back().length += len;
    } else {
      f.extents.push_back({off, len});
    }
  });
  EXPECT_TRUE(mapped.ok());
  ::close(fd);
  return f;
}

// What a sink saw: pieces in order, bytes placed into a dense image.
struct Collected {
  std::vector<ReadExtent> pieces;
  std::vector<uint8_t> image;
  bool in_order = true;
};

ReadSink collect_into(Collected* c, uint64_t size) {
  c->image.assign(size, 0);
  return [c](uint64_t offset, const uint8_t* data, size_t length) {
    if (!c->pieces.empty() && offset < c->pieces.back().offset + c->pieces.back().length) c->in_order = false;
    c->pieces.push_back({offset, length});
    std::memcpy(c->image.data() + offset, data, length);
    return true;
  };
}

uint64_t total(const std::vector<ReadExtent>& extents) {
  uint64_t sum = 0;
  for (const auto& e : extents) sum += e.length;
  return sum;
}

int open_ro(const std::string& path, int extra = 0) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | extra);
  EXPECT_GE(fd, 0) << path;
  return fd;
}

// The backends under test; io_uring is skipped (not failed) where the kernel refuses it.
class ReadEngineTest : public ::testing::TestWithParam<ReadOptions::Backend> {
 protected:
  void SetUp() override {
    if (GetParam() == ReadOptions::Backend::kIoUring) {
      SysError why;
      if (!make_uring_queue(4, &why)) GTEST_SKIP() << "io_uring unavailable: " << why.message();
    }
  }
  ReadOptions options(uint32_t depth, uint32_t block) const {
    ReadOptions o;
    o.backend = GetParam();
    o.queue_depth = depth;
    o.block_bytes = block;
    return o;
  }
  // An engine whose queue is a FaultyQueue over the backend under test; `setup` adjusts the faults.
  std::unique_ptr<ReadEngine> faulty_engine(const ReadOptions& o, const std::function<void(FaultyQueue&)>& setup) {
    auto engine = ReadEngine::create(o, [setup](const ReadOptions& opts, std::string* note) {
      auto inner = make_default_read_queue(opts, note);
      auto q = std::make_unique<FaultyQueue>(std::move(inner));
      setup(*q);
      return std::unique_ptr<ReadQueue>(std::move(q));
    });
    EXPECT_TRUE(engine.ok());
    return std::move(engine.value());
  }

  sentinel::testing::TempDir tmp_;
};

const std::vector<std::pair<uint64_t, size_t>> kPieces{
    {0, 4096}, {65536, 100000}, {1 << 20, 1 << 20}, {(3 << 20) + 8192, 4096}, {(6 << 20) - 4096, 4096}};
constexpr uint64_t kSize = 6 << 20;

TEST_P(ReadEngineTest, ReadsExactlyTheExtentsInFileOrder) {
  SparseFile f = make_sparse_file(tmp_.path(), kSize, kPieces, 1);
  ASSERT_FALSE(f.extents.empty());
  for (auto [depth, block] : std::vector<std::pair<uint32_t, uint32_t>>{{1, 4096}, {4, 8192}, {16, 512 * 1024}}) {
    auto engine = ReadEngine::create(options(depth, block));
    ASSERT_TRUE(engine.ok()) << engine.error().message();
    EXPECT_STREQ((*engine)->backend(), GetParam() == ReadOptions::Backend::kPread ? "pread" : "io_uring");
    int fd = open_ro(f.path);
    Collected c;
    ReadReport r = (*engine)->read(fd, f.extents, collect_into(&c, f.size));
    ::close(fd);
    ASSERT_TRUE(r.ok()) << r.message();
    EXPECT_TRUE(c.in_order);
    EXPECT_EQ(r.bytes_delivered, total(f.extents));
    EXPECT_EQ(total(c.pieces), total(f.extents));
    EXPECT_EQ(c.image, f.content) << "depth " << depth << " block " << block;
    for (const auto& p : c.pieces) EXPECT_LE(p.length, block);
  }
}

TEST_P(ReadEngineTest, ReadsAnArbitraryExtentListAndNothingElse) {
  SparseFile f = make_sparse_file(tmp_.path(), kSize, kPieces, 2);
  const std::vector<ReadExtent> wanted{{100, 50}, {4000, 200}, {70000, 12345}, {(1 << 20) + 1, 1 << 20}};
  auto engine = ReadEngine::create(options(3, 8192));
  ASSERT_TRUE(engine.ok());
  int fd = open_ro(f.path);
  Collected c;
  ReadReport r = (*engine)->read(fd, wanted, collect_into(&c, f.size));
  ::close(fd);
  ASSERT_TRUE(r.ok()) << r.message();
  std::vector<uint8_t> expected(f.size, 0);
  for (const auto& e : wanted) std::memcpy(expected.data() + e.offset, f.content.data() + e.offset, e.length);
  EXPECT_EQ(c.image, expected);
  EXPECT_EQ(r.bytes_delivered, total(wanted));
}

TEST_P(ReadEngineTest, EmptyListAndInvalidLists) {
  auto engine = ReadEngine::create(options(2, 4096));
  ASSERT_TRUE(engine.ok());
  SparseFile f = make_sparse_file(tmp_.path(), 1 << 20, {{0, 4096}}, 3);
  int fd = open_ro(f.path);
  Collected c;
  EXPECT_TRUE((*engine)->read(fd, {}, collect_into(&c, f.size)).ok());
  EXPECT_TRUE(c.pieces.empty());
  ReadReport overlap = (*engine)->read(fd, {{0, 8192}, {4096, 4096}}, collect_into(&c, f.size));
  EXPECT_EQ(overlap.outcome, Outcome::kFailed);
  EXPECT_EQ(overlap.err, EINVAL);
  ReadReport unordered = (*engine)->read(fd, {{8192, 4096}, {0, 4096}}, collect_into(&c, f.size));
  EXPECT_EQ(unordered.outcome, Outcome::kFailed);
  ::close(fd);
}

TEST_P(ReadEngineTest, EioInTheMiddleOfAnExtentStopsThatFileOnly) {
  SparseFile f = make_sparse_file(tmp_.path(), kSize, kPieces, 4);
  const uint64_t bad = (1 << 20) + 20 * 4096 + 100;  // inside the 1 MiB extent
  auto engine = faulty_engine(options(8, 4096), [&](FaultyQueue& q) { q.eio_at = bad; });
  int fd = open_ro(f.path);
  Collected c;
  ReadReport r = engine->read(fd, f.extents, collect_into(&c, f.size));
  EXPECT_EQ(r.outcome, Outcome::kIoError);
  EXPECT_EQ(r.err, EIO);
  EXPECT_EQ(r.at_offset, bad / 4096 * 4096);  // the failing request's start
  EXPECT_TRUE(c.in_order);
  // Everything before the bad request was delivered, nothing after it.
  uint64_t before = 0;
  for (const auto& e : f.extents) before += e.offset >= r.at_offset ? 0 : std::min(e.length, r.at_offset - e.offset);
  EXPECT_EQ(r.bytes_delivered, before);
  EXPECT_EQ(total(c.pieces), before);
  for (const auto& p : c.pieces) EXPECT_LE(p.offset + p.length, r.at_offset);
  ::close(fd);

  // The engine is fine for the next file.
  SparseFile g = make_sparse_file(tmp_.path(), 1 << 20, {{0, 8192}}, 5);
  int gfd = open_ro(g.path);
  Collected d;
  EXPECT_TRUE(engine->read(gfd, g.extents, collect_into(&d, g.size)).ok());
  EXPECT_EQ(d.image, g.content);
  ::close(gfd);
}

TEST_P(ReadEngineTest, ShortReadsAdvanceAndResubmit) {
  SparseFile f = make_sparse_file(tmp_.path(), kSize, kPieces, 6);
  auto engine = faulty_engine(options(4, 64 * 1024), [](FaultyQueue& q) { q.short_cap = 1000; });
  int fd = open_ro(f.path);
  Collected c;
  ReadReport r = engine->read(fd, f.extents, collect_into(&c, f.size));
  ::close(fd);
  ASSERT_TRUE(r.ok()) << r.message();
  EXPECT_GT(r.short_reads, 0u);
  EXPECT_EQ(c.image, f.content);
}

TEST_P(ReadEngineTest, EagainIsResubmitted) {
  SparseFile f = make_sparse_file(tmp_.path(), kSize, kPieces, 7);
  auto engine = faulty_engine(options(4, 64 * 1024), [](FaultyQueue& q) { q.eagain_first = 2; });
  int fd = open_ro(f.path);
  Collected c;
  ReadReport r = engine->read(fd, f.extents, collect_into(&c, f.size));
  ::close(fd);
  ASSERT_TRUE(r.ok()) << r.message();
  EXPECT_GE(r.eagain_retries, 2u);
  EXPECT_EQ(c.image, f.content);
}

TEST_P(ReadEngineTest, EndlessEagainBecomesAnError) {
  SparseFile f = make_sparse_file(tmp_.path(), 1 << 20, {{0, 8192}}, 8);
  ReadOptions o = options(2, 4096);
  o.max_eagain_retries = 5;
  auto engine = faulty_engine(o, [](FaultyQueue& q) { q.eagain_first = 1000; });
  int fd = open_ro(f.path);
  Collected c;
  ReadReport r = engine->read(fd, f.extents, collect_into(&c, f.size));
  ::close(fd);
  EXPECT_EQ(r.outcome, Outcome::kIoError);
  EXPECT_EQ(r.err, EAGAIN);
  EXPECT_EQ(r.at_offset, 0u);
}

TEST_P(ReadEngineTest, CompletionsOutOfOrderAreDeliveredInFileOrder) {
  SparseFile f = make_sparse_file(tmp_.path(), kSize, kPieces, 9);
  auto engine = faulty_engine(options(16, 4096), [](FaultyQueue& q) {
    q.reverse = true;
    q.short_cap = 3000;
  });
  int fd = open_ro(f.path);
  Collected c;
  ReadReport r = engine->read(fd, f.extents, collect_into(&c, f.size));
  ::close(fd);
  ASSERT_TRUE(r.ok()) << r.message();
  EXPECT_TRUE(c.in_order);
  EXPECT_EQ(c.image, f.content);
}

TEST_P(ReadEngineTest, FileTruncatedAfterMappingIsReportedAsShrunk) {
  SparseFile f = make_sparse_file(tmp_.path(), kSize, kPieces, 10);
  const uint64_t cut = (1 << 20) + 5000;  // inside the 1 MiB extent
  ASSERT_EQ(::truncate(f.path.c_str(), static_cast<off_t>(cut)), 0);
  auto engine = ReadEngine::create(options(4, 64 * 1024));
  ASSERT_TRUE(engine.ok());
  int fd = open_ro(f.path);
  Collected c;
  ReadReport r = (*engine)->read(fd, f.extents, collect_into(&c, f.size));
  ::close(fd);
  EXPECT_EQ(r.outcome, Outcome::kShortFile) << r.message();
  EXPECT_EQ(r.at_offset, cut);
  EXPECT_TRUE(c.in_order);
  for (const auto& p : c.pieces) EXPECT_LE(p.offset + p.length, cut);
}

TEST_P(ReadEngineTest, FileTruncatedToAnExtentBoundary) {
  SparseFile f = make_sparse_file(tmp_.path(), kSize, kPieces, 11);
  const uint64_t cut = 3 << 20;  // after the 1 MiB extent, before the next
  ASSERT_EQ(::truncate(f.path.c_str(), static_cast<off_t>(cut)), 0);
  auto engine = ReadEngine::create(options(4, 64 * 1024));
  ASSERT_TRUE(engine.ok());
  int fd = open_ro(f.path);
  Collected c;
  ReadReport r = (*engine)->read(fd, f.extents, collect_into(&c, f.size));
  ::close(fd);
  EXPECT_EQ(r.outcome, Outcome::kShortFile);
  EXPECT_EQ(r.at_offset, (uint64_t{3} << 20) + 8192);  // the first extent past the new end
}

TEST_P(ReadEngineTest, BrokenQueueFailsTheReadAndIsReplaced) {
  SparseFile f = make_sparse_file(tmp_.path(), kSize, kPieces, 12);
  int made = 0;
  ReadOptions o = options(4, 8192);
  auto engine = ReadEngine::create(o, [&made](const ReadOptions& opts, std::string* note) {
    auto q = std::make_unique<FaultyQueue>(make_default_read_queue(opts, note));
    if (made++ == 0) q->fail_submit = EBADF;
    return std::unique_ptr<ReadQueue>(std::move(q));
  });
  ASSERT_TRUE(engine.ok());
  int fd = open_ro(f.path);
  Collected c;
  ReadReport r = (*engine)->read(fd, f.extents, collect_into(&c, f.size));
  EXPECT_EQ(r.outcome, Outcome::kFailed);
  EXPECT_EQ(r.err, EBADF);
  Collected d;
  ReadReport again = (*engine)->read(fd, f.extents, collect_into(&d, f.size));
  ::close(fd);
  ASSERT_TRUE(again.ok()) << again.message();
  EXPECT_EQ(d.image, f.content);
  EXPECT_EQ(made, 2);
}

TEST_P(ReadEngineTest, SinkCanStopTheRead) {
  SparseFile f = make_sparse_file(tmp_.path(), kSize, kPieces, 13);
  auto engine = ReadEngine::create(options(8, 4096));
  ASSERT_TRUE(engine.ok());
  int fd = open_ro(f.path);
  int calls = 0;
  ReadReport r = (*engine)->read(fd, f.extents, [&](uint64_t, const uint8_t*, size_t) { return ++calls < 3; });
  EXPECT_EQ(r.outcome, Outcome::kStopped);
  EXPECT_EQ(calls, 3);
  // Nothing was left in flight: the engine reads the next file correctly.
  Collected c;
  EXPECT_TRUE((*engine)->read(fd, f.extents, collect_into(&c, f.size)).ok());
  EXPECT_EQ(c.image, f.content);
  ::close(fd);
}

TEST_P(ReadEngineTest, DirectIoReadsTheSameBytesAndRestoresFlags) {
  SparseFile f = make_sparse_file(tmp_.path(), kSize, kPieces, 14);
  ReadOptions o = options(4, 64 * 1024);
  o.direct_io = true;
  auto engine = ReadEngine::create(o);
  ASSERT_TRUE(engine.ok());
  int fd = open_ro(f.path, O_NONBLOCK);
  Collected c;
  ReadReport r = (*engine)->read(fd, f.extents, collect_into(&c, f.size));
  ASSERT_TRUE(r.ok()) << r.message();
  EXPECT_EQ(c.image, f.content);
  if (!r.direct_io) std::cout << "note: " << r.detail << "\n";  // e.g. tmpfs refuses O_DIRECT
  const int flags = ::fcntl(fd, F_GETFL);
  EXPECT_TRUE(flags & O_NONBLOCK);
  EXPECT_FALSE(flags & O_DIRECT);
  // Unaligned extents are read buffered.
  Collected d;
  ReadReport u = (*engine)->read(fd, {{100, 5000}}, collect_into(&d, f.size));
  ASSERT_TRUE(u.ok());
  EXPECT_FALSE(u.direct_io);
  EXPECT_EQ(0, std::memcmp(d.image.data() + 100, f.content.data() + 100, 5000));
  ::close(fd);
}

TEST_P(ReadEngineTest, RateCapSlowsTheRead) {
  SparseFile f = make_sparse_file(tmp_.path(), 4 << 20, {{0, 4 << 20}}, 15);
  ReadOptions o = options(4, 256 * 1024);
  o.max_read_bytes_per_sec = 40'000'000;  // 4 MiB at 40 MB/s: at least ~0.1 s
  auto engine = ReadEngine::create(o);
  ASSERT_TRUE(engine.ok());
  int fd = open_ro(f.path);
  Collected c;
  const auto start = std::chrono::steady_clock::now();
  ReadReport r = (*engine)->read(fd, f.extents, collect_into(&c, f.size));
  const auto elapsed = std::chrono::steady_clock::now() - start;
  ::close(fd);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(c.image, f.content);
  // The last block is issued at (4 MiB - 256 KiB) / 40 MB/s ~ 98 ms.
  EXPECT_GE(elapsed, std::chrono::milliseconds(90));
}

TEST_P(ReadEngineTest, UsableFromAnotherThread) {
  SparseFile f = make_sparse_file(tmp_.path(), kSize, kPieces, 17);
  auto engine = ReadEngine::create(options(8, 64 * 1024));  // made here, used there
  ASSERT_TRUE(engine.ok());
  for (int round = 0; round < 2; ++round) {
    Collected c;
    ReadReport r;
    std::thread worker([&] {
      int fd = open_ro(f.path);
      r = (*engine)->read(fd, f.extents, collect_into(&c, f.size));
      ::close(fd);
    });
    worker.join();
    ASSERT_TRUE(r.ok()) << r.message();
    EXPECT_EQ(c.image, f.content);
  }
}

INSTANTIATE_TEST_SUITE_P(Backends, ReadEngineTest,
                         ::testing::Values(ReadOptions::Backend::kPread, ReadOptions::Backend::kIoUring),
                         [](const auto& info) {
                           return info.param == ReadOptions::Backend::kPread ? std::string("Pread")
                                                                             : std::string("IoUring");
                         });

// --- outside the backend matrix ---

TEST(ReadEngine, FallsBackToPreadWhenTheKernelRefusesIoUring) {
  for (int err : {ENOSYS, EPERM}) {
    auto refuse = [err](unsigned, SysError* why) {
      *why = sys_error("io_uring_queue_init", err);
      return std::unique_ptr<ReadQueue>();
    };
    ReadOptions o;
    std::string note;
    auto q = select_read_queue(o, &note, refuse);
    ASSERT_NE(q, nullptr);
    EXPECT_STREQ(q->name(), "pread");
    EXPECT_NE(note.find("pread"), std::string::npos) << note;
    // Asking for io_uring explicitly makes the engine fail instead.
    o.backend = ReadOptions::Backend::kIoUring;
    note.clear();
    EXPECT_EQ(select_read_queue(o, &note, refuse), nullptr);
    EXPECT_NE(note.find(std::strerror(err)), std::string::npos) << note;
    auto engine = ReadEngine::create(
        o, [&](const ReadOptions& opts, std::string* n) { return select_read_queue(opts, n, refuse); });
    EXPECT_FALSE(engine.ok());
  }
}

TEST(ReadEngine, RejectsBadOptions) {
  ReadOptions o;
  o.block_bytes = 1000;
  EXPECT_FALSE(ReadEngine::create(o).ok());
  o.block_bytes = 4096;
  o.queue_depth = 0;
  EXPECT_FALSE(ReadEngine::create(o).ok());
  o.queue_depth = 1024;
  o.block_bytes = 64u << 20;
  EXPECT_EQ(ReadEngine::create(o).error().err, EINVAL);
}

// cachestat(2) of a whole file: resident pages, or -1 where the kernel lacks the call.
int64_t resident_pages(int fd, uint64_t size) {
  struct {
    uint64_t off, len;
  } range{0, size};
  uint64_t stat[5] = {};
  if (::syscall(451, fd, &range, stat, 0) != 0) return -1;
  return static_cast<int64_t>(stat[0]);
}

TEST(ReadEngine, DropsOnlyThePagesItBroughtIn) {
  sentinel::testing::TempDir tmp;
  SparseFile f = make_sparse_file(tmp.path(), 2 << 20, {{0, 2 << 20}}, 16);
  int fd = open_ro(f.path);
  if (resident_pages(fd, f.size) < 0) {
    ::close(fd);
    GTEST_SKIP() << "no cachestat(2) on this kernel";
  }
  auto engine = ReadEngine::create(ReadOptions{});
  ASSERT_TRUE(engine.ok());
  // Not resident before: the read leaves nothing behind.
  ASSERT_EQ(::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED), 0);
  Collected c;
  ASSERT_TRUE((*engine)->read(fd, f.extents, collect_into(&c, f.size)).ok());
  EXPECT_EQ(resident_pages(fd, f.size), 0);
  // Resident before (the workload's cache): still resident after.
  std::vector<uint8_t> warm(f.size);
  ASSERT_EQ(::pread(fd, warm.data(), warm.size(), 0), static_cast<ssize_t>(warm.size()));
  const int64_t before = resident_pages(fd, f.size);
  ASSERT_GT(before, 0);
  ASSERT_TRUE((*engine)->read(fd, f.extents, collect_into(&c, f.size)).ok());
  EXPECT_EQ(resident_pages(fd, f.size), before);
  ::close(fd);
}

}  // namespace
}  // namespace sentinel::scanner

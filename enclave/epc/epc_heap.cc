#include "enclave/epc/epc_heap.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "enclave/epc/cycle_clock.h"
#include "enclave/epc/fault_router.h"

namespace serdab::epc {
namespace {

constexpr int kReadWrite = PROT_READ | PROT_WRITE;
constexpr int kCalibrationProbes = 31;

// Mappings the rest of the process may need on top of every heap's worst case.
constexpr uint64_t kOtherMappings = 8192;
std::atomic<uint64_t> g_reserved_mappings{0};

uint64_t MaxMapCount() {
  uint64_t value = 65530;  // the kernel default
  if (FILE* f = std::fopen("/proc/sys/vm/max_map_count", "r")) {
    unsigned long long v = 0;  // NOLINT(runtime/int): scanf's type
    if (std::fscanf(f, "%llu", &v) == 1) value = v;
    std::fclose(f);
  }
  return value;
}

// A message built without allocating and written with write(2): usable from
// the fault handler, where stdio and malloc are off limits.
class FatalMessage {
 public:
  FatalMessage& operator<<(const char* s) {
    while (*s != '\0' && length_ < sizeof(buffer_) - 1) buffer_[length_++] = *s++;
    return *this;
  }
  FatalMessage& operator<<(uint64_t v) {
    char digits[20];
    int n = 0;
    do {
      digits[n++] = static_cast<char>('0' + v % 10);
      v /= 10;
    } while (v != 0);
    while (n > 0 && length_ < sizeof(buffer_) - 1) buffer_[length_++] = digits[--n];
    return *this;
  }
  [[noreturn]] void Abort() {
    buffer_[length_++] = '\n';
    size_t written = 0;
    while (written < length_) {
      const ssize_t n = write(STDERR_FILENO, buffer_ + written, length_ - written);
      if (n <= 0) break;
      written += static_cast<size_t>(n);
    }
    std::abort();
  }

 private:
  char buffer_[512];
  size_t length_ = 0;
};

[[noreturn]] void PagerFailure(const char* call, uint64_t page, int err) {
  FatalMessage m;
  m << "serdab epc: pager failure: " << call << " on page " << page
    << " failed: " << strerrordesc_np(err);
  if (err == ENOMEM) m << " (too many mappings? raise vm.max_map_count or lower epc_bytes)";
  m.Abort();
}

// Gathers pages into one contiguous run, grown at either end (the clock
// meets a sweep's pages in ascending order, a stack of freed frames can hand
// them out in descending order), and passes each maximal run to `apply`, so
// that a run costs one system call instead of one per page.
template <typename Apply>
class PageRun {
 public:
  explicit PageRun(Apply apply) : apply_(apply) {}
  PageRun(const PageRun&) = delete;
  PageRun& operator=(const PageRun&) = delete;

  void Add(uint64_t page) {
    if (count_ > 0 && page == first_ + count_) {
      ++count_;
    } else if (count_ > 0 && page + 1 == first_) {
      first_ = page;
      ++count_;
    } else {
      Flush();
      first_ = page;
      count_ = 1;
    }
  }
  void Flush() {
    if (count_ > 0) apply_(first_, count_);
    count_ = 0;
  }

 private:
  Apply apply_;
  uint64_t first_ = 0;
  uint64_t count_ = 0;
};

[[noreturn]] void IntegrityViolation(uint64_t page, uint64_t version) {
  FatalMessage m;
  m << "serdab epc: integrity violation: page " << page << " (version " << version
    << ") failed authentication at page-in: the host tampered with or rolled back "
       "its sealed copy; the enclave is lost";
  m.Abort();
}

}  // namespace

EpcHeap::EpcHeap(const EpcConfig& config)
    : config_(config),
      num_pages_((config.heap_bytes + kPageBytes - 1) / kPageBytes),
      ranges_(num_pages_) {}

Result<std::unique_ptr<EpcHeap>> EpcHeap::Create(const EpcConfig& config) {
  std::unique_ptr<EpcHeap> heap(new EpcHeap(config));
  SERDAB_RETURN_IF_ERROR(heap->Init());
  return heap;
}

Status EpcHeap::Init() {
  if (num_pages_ == 0) return Status::InvalidArgument("EPC heap_bytes must be positive");
  if (num_pages_ >= kNoPage) {
    return Status::InvalidArgument("EPC heap_bytes " + std::to_string(config_.heap_bytes) +
                                   " is too large (at most 2^32 - 2 pages of 4 KiB)");
  }
  if (config_.epc_bytes < kMinEpcBytes) {
    return Status::InvalidArgument(
        "epc_bytes " + std::to_string(config_.epc_bytes) + " is below the minimum of " +
        std::to_string(kMinEpcBytes) +
        " (64 pages): one instruction can need up to 16 pages resident at once");
  }
  epc_pages_ = std::min<uint64_t>(config_.epc_bytes / kPageBytes, num_pages_);

  // Worst case: every resident page isolated in the enclave view, which
  // splits it into 2 * epc_pages + 1 mappings; plus its two labels, the
  // backing store, the tags and the metadata.
  const uint64_t mappings = 2 * epc_pages_ + 6;
  const uint64_t limit = MaxMapCount();
  const uint64_t before = g_reserved_mappings.fetch_add(mappings);
  if (before + mappings + kOtherMappings > limit) {
    g_reserved_mappings.fetch_sub(mappings);
    return Status::ResourceExhausted(
        "an EPC budget of " + std::to_string(epc_pages_) + " pages may need up to " +
        std::to_string(mappings) + " memory mappings, and live heaps already reserve " +
        std::to_string(before) + " of vm.max_map_count = " + std::to_string(limit) +
        ": lower epc_bytes or raise vm.max_map_count");
  }
  reserved_mappings_ = mappings;

  SERDAB_ASSIGN_OR_RETURN(cipher_, PageCipher::Create());
  CyclesPerSecond();  // calibrate now, never in the fault handler

  const size_t bytes = num_pages_ * kPageBytes;
  auto map_error = [](const char* what) {
    return Status::ResourceExhausted(std::string("EPC heap: cannot map the ") + what + ": " +
                                     std::strerror(errno));
  };
  const int anon = MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE;
  // The enclave view between two one-page labels, PROT_NONE mappings of a
  // memfd named "serdab-epc": in /proc/PID/maps the enclave's range is what
  // lies between them, as an SGX enclave's shows as /dev/sgx_enclave.
  // (Anonymous mappings can be named only on kernels built with
  // CONFIG_ANON_VMA_NAME.)
  void* p = mmap(nullptr, bytes + 2 * kPageBytes, PROT_NONE, anon, -1, 0);
  if (p == MAP_FAILED) return map_error("enclave view");
  reservation_ = static_cast<uint8_t*>(p);
  enclave_ = reservation_ + kPageBytes;
  const int label = memfd_create("serdab-epc", MFD_CLOEXEC);
  if (label < 0) return map_error("range label (memfd_create)");
  const bool labelled =
      ftruncate(label, kPageBytes) == 0 &&
      mmap(reservation_, kPageBytes, PROT_NONE, MAP_SHARED | MAP_FIXED, label, 0) != MAP_FAILED &&
      mmap(enclave_ + bytes, kPageBytes, PROT_NONE, MAP_SHARED | MAP_FIXED, label, 0) != MAP_FAILED;
  close(label);
  if (!labelled) return map_error("range labels");
  // Paging is per 4 KiB page; a transparent huge page would make one fill
  // resident 2 MiB.
  madvise(enclave_, bytes, MADV_NOHUGEPAGE);
  proc_mem_ = open("/proc/self/mem", O_RDWR | O_CLOEXEC);
  if (proc_mem_ < 0) return map_error("pager's access to closed pages (/proc/self/mem)");
  // Untrusted backing store and trusted metadata: reserved, committed only
  // where touched, and zero-filled (so every page starts kAbsent, version 0).
  p = mmap(nullptr, bytes, kReadWrite, anon, -1, 0);
  if (p == MAP_FAILED) return map_error("backing store");
  backing_ = static_cast<uint8_t*>(p);
  p = mmap(nullptr, num_pages_ * PageCipher::kTagBytes, kReadWrite, anon, -1, 0);
  if (p == MAP_FAILED) return map_error("backing store tags");
  tags_ = static_cast<uint8_t*>(p);
  p = mmap(nullptr, num_pages_ * sizeof(PageMeta), kReadWrite, anon, -1, 0);
  if (p == MAP_FAILED) return map_error("page metadata");
  meta_ = static_cast<PageMeta*>(p);

  frames_ = std::make_unique<uint32_t[]>(epc_pages_);
  free_frames_ = std::make_unique<uint32_t[]>(epc_pages_);
  for (uint64_t f = 0; f < epc_pages_; ++f) {
    frames_[f] = kNoPage;
    free_frames_[f] = static_cast<uint32_t>(epc_pages_ - 1 - f);  // frame 0 on top
  }
  free_frame_count_ = epc_pages_;
  front_hand_ = epc_pages_ / 2;

  // The pager writes closed pages through /proc/self/mem; a kernel booted
  // with proc_mem.force_override=never (or =ptrace) refuses that.
  std::memset(bounce_, 0, kPageBytes);
  if (pwrite(proc_mem_, bounce_, kPageBytes, ProcMemOffset(0)) != kPageBytes) {
    return Status::FailedPrecondition(
        std::string("EPC heap: cannot fill a closed page through /proc/self/mem (") +
        std::strerror(errno) +
        "); the sim enclave needs it: boot without proc_mem.force_override=never|ptrace");
  }
  ReleaseLocked(0, 1);
  SERDAB_ASSIGN_OR_RETURN(fault_region_, RegisterFaultRegion(enclave_, bytes, &OnFault, this));
  CalibrateFaultOverhead();
  return Status::Ok();
}

EpcHeap::~EpcHeap() {
  if (fault_region_ >= 0) UnregisterFaultRegion(fault_region_);
  const size_t bytes = num_pages_ * kPageBytes;
  if (reservation_ != nullptr) munmap(reservation_, bytes + 2 * kPageBytes);
  if (backing_ != nullptr) munmap(backing_, bytes);
  if (tags_ != nullptr) munmap(tags_, num_pages_ * PageCipher::kTagBytes);
  if (meta_ != nullptr) munmap(meta_, num_pages_ * sizeof(PageMeta));
  if (proc_mem_ >= 0) close(proc_mem_);
  g_reserved_mappings.fetch_sub(reserved_mappings_);
}

// The handler sees the signal, not the fault: the kernel's delivery and
// sigreturn happen outside its clock. Measure them once, on page 0 (not yet
// allocated), and add them to every swap's raw cost and stall. Each probe is
// a page-in as the pager does it: the page is present and open when the
// handler returns, so the retried access does not fault again. The median
// probe, not the fastest: on a shared host the best case undercounts the
// typical fault by half, and what the overhead leaves out the TEE-equivalent
// clock counts as compute.
void EpcHeap::CalibrateFaultOverhead() {
  volatile uint8_t* probe = enclave_;
  std::vector<uint64_t> overheads;
  for (int i = 0; i < kCalibrationProbes; ++i) {
    const uint64_t start = ReadCycles();
    *probe = 1;
    const uint64_t total = ReadCycles() - start;
    std::lock_guard<std::mutex> lock(pager_mu_);
    if (total > last_handler_cycles_) overheads.push_back(total - last_handler_cycles_);
    DropPagesLocked(0, 1);
  }
  std::sort(overheads.begin(), overheads.end());
  fault_overhead_cycles_ = overheads.empty() ? 0 : overheads[overheads.size() / 2];
  fault_overhead_ns_ =
      static_cast<uint64_t>(static_cast<double>(fault_overhead_cycles_) * 1e9 / CyclesPerSecond());
  ResetStats();
}

void EpcHeap::OnFault(void* heap, uintptr_t address) {
  EpcHeap* self = static_cast<EpcHeap*>(heap);
  self->HandleFault((address - reinterpret_cast<uintptr_t>(self->enclave_)) / kPageBytes);
}

void EpcHeap::HandleFault(uint64_t page) {
  const uint64_t start_ns = MonotonicNanos();
  // The stall began when the access faulted: signal delivery ran first.
  EnterPager(start_ns - fault_overhead_ns_);
  bool swapped = false;
  bool first_touch = false;
  uint64_t raw = 0;
  {
    std::lock_guard<std::mutex> lock(pager_mu_);
    const uint64_t start = ReadCycles();
    PageMeta& meta = meta_[page];
    switch (meta.state) {
      case kHot:  // another thread brought it in while this one waited
        counters_.spurious_faults.fetch_add(1, std::memory_order_relaxed);
        break;
      case kCold:
        ProtectLocked(page, 1, kReadWrite);
        meta.state = kHot;
        counters_.reference_faults.fetch_add(1, std::memory_order_relaxed);
        break;
      case kAbsent:
        swapped = PageInLocked(page);
        first_touch = !swapped;
        break;
      case kEvicted:
        swapped = PageInLocked(page);
        break;
    }
    raw = ReadCycles() - start;
    last_handler_cycles_ = raw;
  }
  counters_.pager_ns.fetch_add(MonotonicNanos() - start_ns, std::memory_order_relaxed);
  raw += fault_overhead_cycles_;
  uint64_t target = 0;
  if (swapped) {
    counters_.swaps.fetch_add(1, std::memory_order_relaxed);
    counters_.raw_swap_cycles.fetch_add(raw, std::memory_order_relaxed);
    target = config_.profile.page_swap_cycles;
  } else if (first_touch) {
    counters_.first_touches.fetch_add(1, std::memory_order_relaxed);
    target = config_.profile.first_touch_cycles;
  }
  // Outside the lock: the modelled EWB/ELDU (or EAUG) and enclave exit stall
  // this thread; serialisation between faulting threads is the real lock's.
  if (target > raw) {
    SpinCycles(target - raw);
    std::atomic<uint64_t>& charged =
        swapped ? counters_.swap_cycles_charged : counters_.first_touch_cycles_charged;
    charged.fetch_add(target - raw, std::memory_order_relaxed);
  }
  LeavePager(MonotonicNanos());
}

void EpcHeap::EnterPager(uint64_t now_ns) {
  while (stall_lock_.test_and_set(std::memory_order_acquire)) {
  }
  // A backdated start may reach into the last stall counted (a fault right
  // after another) or before the counters' reset: count neither twice.
  if (threads_in_pager_++ == 0) {
    stall_since_ns_ =
        std::max({now_ns, stall_until_ns_, counters_.since_ns.load(std::memory_order_relaxed)});
  }
  stall_lock_.clear(std::memory_order_release);
}

void EpcHeap::LeavePager(uint64_t now_ns) {
  while (stall_lock_.test_and_set(std::memory_order_acquire)) {
  }
  // ResetStats may have moved stall_since_ns_ past a reading taken earlier.
  if (--threads_in_pager_ == 0 && now_ns > stall_since_ns_) {
    counters_.stall_ns.fetch_add(now_ns - stall_since_ns_, std::memory_order_relaxed);
    stall_until_ns_ = now_ns;
  }
  stall_lock_.clear(std::memory_order_release);
}

bool EpcHeap::PageInLocked(uint64_t page) {
  bool evicted = false;
  const uint32_t frame = TakeFrameLocked(&evicted);
  PageMeta& meta = meta_[page];
  const bool sealed = meta.state == kEvicted;
  if (sealed) {
    // Copy first, then open in trusted memory: the host cannot change bytes
    // between the MAC check and the decryption.
    uint8_t tag[PageCipher::kTagBytes];
    std::memcpy(tag, tags_ + page * PageCipher::kTagBytes, sizeof(tag));
    std::memcpy(bounce_, backing_ + page * kPageBytes, kPageBytes);
    if (!cipher_->Open(static_cast<uint32_t>(page), meta.version, bounce_, kPageBytes, tag)) {
      IntegrityViolation(page, meta.version);
    }
    // Filled while still closed: no thread can see it half written.
    if (pwrite(proc_mem_, bounce_, kPageBytes, ProcMemOffset(page)) != kPageBytes) {
      PagerFailure("pwrite(/proc/self/mem)", page, errno);
    }
    // Plaintext lives in the enclave view only. (Sealing leaves ciphertext.)
    sodium_memzero(bounce_, kPageBytes);
    counters_.pages_in.fetch_add(1, std::memory_order_relaxed);
  } else {
    counters_.zero_fills.fetch_add(1, std::memory_order_relaxed);  // a released page reads as 0
  }
  ProtectLocked(page, 1, kReadWrite);
  // Map the page writable now (a released page: allocate it; a filled one:
  // its page table entry is read-only after the forced write), so that the
  // kernel's share of the page-in runs inside the pager's clock rather than
  // as a second fault when the access is retried. (Advice: on a kernel
  // without MADV_POPULATE_WRITE the retry does it.)
  madvise(enclave_page(page), kPageBytes, MADV_POPULATE_WRITE);
  meta.state = kHot;
  meta.frame = frame;
  frames_[frame] = static_cast<uint32_t>(page);
  ++resident_;
  counters_.resident_pages.store(resident_, std::memory_order_relaxed);
  if (resident_ > counters_.peak_resident_pages.load(std::memory_order_relaxed)) {
    counters_.peak_resident_pages.store(resident_, std::memory_order_relaxed);
  }
  counters_.page_faults.fetch_add(1, std::memory_order_relaxed);
  return evicted || sealed;
}

uint32_t EpcHeap::TakeFrameLocked(bool* evicted) {
  if (free_frame_count_ == 0) EvictBatchLocked();
  // A frame an eviction vacated stands for the eviction this fault would
  // have done itself without batching.
  if (prefreed_frames_ > 0) {
    --prefreed_frames_;
    *evicted = true;
  }
  return free_frames_[--free_frame_count_];
}

void EpcHeap::EvictBatchLocked() {
  counters_.eviction_passes.fetch_add(1, std::memory_order_relaxed);
  // Two-handed CLOCK. The front hand clears reference bits (hot -> cold);
  // the back hand, `spread` frames behind, evicts pages still cold, i.e. not
  // touched since the front hand passed them. From step `spread` on, the back
  // hand meets pages the front hand cooled in this very pass, which had no
  // chance to be touched: the batch stops there once it has a victim. Every
  // frame is full and no page turns hot while the lock is held, so the first
  // such page is a victim if nothing colder was found, and the loop ends.
  const uint64_t spread = (front_hand_ + epc_pages_ - back_hand_) % epc_pages_;
  uint32_t victims[kEvictBatch];
  int count = 0;
  // Cooling takes one mprotect per run, issued after the sweep: a thread may
  // still write a page marked cold until then, which is no different from
  // touching it just before the hand passed.
  PageRun cool([this](uint64_t first, uint64_t n) { ProtectLocked(first, n, PROT_NONE); });
  for (uint64_t step = 0;; ++step) {
    const uint32_t ahead = frames_[front_hand_];
    if (ahead != kNoPage && meta_[ahead].state == kHot) {
      cool.Add(ahead);
      meta_[ahead].state = kCold;
    }
    front_hand_ = front_hand_ + 1 == epc_pages_ ? 0 : front_hand_ + 1;
    const uint32_t page = frames_[back_hand_];
    back_hand_ = back_hand_ + 1 == epc_pages_ ? 0 : back_hand_ + 1;
    if (page != kNoPage && meta_[page].state == kCold) {
      victims[count++] = page;
      if (count == kEvictBatch) break;
    }
    if (count > 0 && step + 1 >= spread) break;
  }
  // Every victim must be closed before it is read for sealing.
  cool.Flush();
  uint32_t frames[kEvictBatch];
  PageRun release([this](uint64_t first, uint64_t n) { ReleaseLocked(first, n); });
  for (int i = 0; i < count; ++i) {
    frames[i] = SealLocked(victims[i]);
    release.Add(victims[i]);
  }
  release.Flush();
  // The first victim's frame on top: a sweep refills frames in clock order,
  // so the next pass meets its pages in one run.
  for (int i = count - 1; i >= 0; --i) free_frames_[free_frame_count_++] = frames[i];
  prefreed_frames_ += count;
}

uint32_t EpcHeap::EvictLocked(uint64_t page) {
  // Close the page before reading it: once mprotect returns, no thread can
  // write it while it is being sealed.
  if (meta_[page].state == kHot) ProtectLocked(page, 1, PROT_NONE);
  const uint32_t frame = SealLocked(page);
  ReleaseLocked(page, 1);
  return frame;
}

uint32_t EpcHeap::SealLocked(uint64_t page) {
  PageMeta& meta = meta_[page];
  if (pread(proc_mem_, bounce_, kPageBytes, ProcMemOffset(page)) != kPageBytes) {
    PagerFailure("pread(/proc/self/mem)", page, errno);
  }
  uint8_t tag[PageCipher::kTagBytes];
  ++meta.version;
  cipher_->Seal(static_cast<uint32_t>(page), meta.version, bounce_, kPageBytes, tag);
  std::memcpy(backing_ + page * kPageBytes, bounce_, kPageBytes);
  std::memcpy(tags_ + page * PageCipher::kTagBytes, tag, sizeof(tag));
  meta.state = kEvicted;
  const uint32_t frame = meta.frame;
  frames_[frame] = kNoPage;
  meta.frame = kNoPage;
  --resident_;
  counters_.resident_pages.store(resident_, std::memory_order_relaxed);
  counters_.evictions.fetch_add(1, std::memory_order_relaxed);
  return frame;
}

void EpcHeap::DropPagesLocked(uint64_t first, uint64_t count) {
  uint64_t dropped = 0;
  for (uint64_t page = first; page < first + count; ++page) {
    PageMeta& meta = meta_[page];
    if (meta.state == kHot || meta.state == kCold) {
      frames_[meta.frame] = kNoPage;
      free_frames_[free_frame_count_++] = meta.frame;
      meta.frame = kNoPage;
      ++dropped;
    }
    // The version survives: a later seal of this page must not reuse a nonce.
    meta.state = kAbsent;
  }
  ProtectLocked(first, count, PROT_NONE);
  ReleaseLocked(first, count);
  madvise(backing_ + first * kPageBytes, count * kPageBytes, MADV_DONTNEED);
  resident_ -= dropped;
  counters_.resident_pages.store(resident_, std::memory_order_relaxed);
  counters_.pages_dropped.fetch_add(dropped, std::memory_order_relaxed);
}

void EpcHeap::ProtectLocked(uint64_t first, uint64_t count, int prot) {
  counters_.mprotect_calls.fetch_add(1, std::memory_order_relaxed);
  if (mprotect(enclave_page(first), count * kPageBytes, prot) != 0) {
    PagerFailure("mprotect", first, errno);
  }
}

void EpcHeap::ReleaseLocked(uint64_t first, uint64_t count) {
  counters_.page_releases.fetch_add(1, std::memory_order_relaxed);
  if (madvise(enclave_page(first), count * kPageBytes, MADV_DONTNEED) != 0) {
    PagerFailure("madvise(DONTNEED)", first, errno);
  }
}

off_t EpcHeap::ProcMemOffset(uint64_t page) const {
  return static_cast<off_t>(reinterpret_cast<uintptr_t>(enclave_page(page)));
}

void* EpcHeap::Allocate(size_t bytes) {
  std::lock_guard<std::mutex> lock(alloc_mu_);
  std::optional<uint64_t> offset = ranges_.Allocate(bytes);
  return offset ? enclave_ + *offset : nullptr;
}

void EpcHeap::Deallocate(void* ptr, size_t /*bytes: the heap keeps its own sizes*/) {
  if (ptr == nullptr) return;
  if (!Contains(ptr)) {
    FatalMessage m;
    m << "serdab epc: Deallocate of a pointer outside the EPC heap";
    m.Abort();
  }
  std::lock_guard<std::mutex> alloc_lock(alloc_mu_);
  const uint64_t offset = static_cast<uint64_t>(static_cast<uint8_t*>(ptr) - enclave_);
  std::optional<RangeAllocator::PageRange> freed = ranges_.Free(offset);
  if (!freed) {
    FatalMessage m;
    m << "serdab epc: Deallocate of heap offset " << offset
      << ", which is not a live allocation (double free?)";
    m.Abort();
  }
  if (freed->count == 0) return;
  std::lock_guard<std::mutex> pager_lock(pager_mu_);
  DropPagesLocked(freed->first, freed->count);
}

void EpcHeap::RecordEcall() {
  counters_.ecalls.fetch_add(1, std::memory_order_relaxed);
  const uint64_t cycles = config_.profile.ecall_cycles;
  if (cycles == 0) return;
  SpinCycles(cycles);
  counters_.ecall_cycles_charged.fetch_add(cycles, std::memory_order_relaxed);
}

EpcStats EpcHeap::Stats() const {
  auto get = [](const std::atomic<uint64_t>& v) { return v.load(std::memory_order_relaxed); };
  EpcStats s;
  s.profile = config_.profile.name;
  s.has_target = config_.profile.has_target;
  s.target_epc_bytes = config_.profile.epc_bytes;
  s.swap_price_cycles = config_.profile.page_swap_cycles;
  s.first_touch_price_cycles = config_.profile.first_touch_cycles;
  s.ecall_price_cycles = config_.profile.ecall_cycles;
  s.memory_overhead = config_.profile.memory_overhead;
  s.cipher = cipher_->name();
  s.heap_base = reinterpret_cast<uintptr_t>(enclave_);
  s.heap_bytes = num_pages_ * kPageBytes;
  s.epc_pages = epc_pages_;
  s.cycles_per_second = CyclesPerSecond();
  s.fault_overhead_cycles = fault_overhead_cycles_;
  s.page_faults = get(counters_.page_faults);
  s.pages_in = get(counters_.pages_in);
  s.zero_fills = get(counters_.zero_fills);
  s.reference_faults = get(counters_.reference_faults);
  s.spurious_faults = get(counters_.spurious_faults);
  s.evictions = get(counters_.evictions);
  s.eviction_passes = get(counters_.eviction_passes);
  s.mprotect_calls = get(counters_.mprotect_calls);
  s.page_releases = get(counters_.page_releases);
  s.pages_dropped = get(counters_.pages_dropped);
  s.resident_pages = get(counters_.resident_pages);
  s.peak_resident_pages = get(counters_.peak_resident_pages);
  s.swaps = get(counters_.swaps);
  s.raw_swap_cycles = get(counters_.raw_swap_cycles);
  s.swap_cycles_charged = get(counters_.swap_cycles_charged);
  s.ecalls = get(counters_.ecalls);
  s.ecall_cycles_charged = get(counters_.ecall_cycles_charged);
  s.pager_ns = get(counters_.pager_ns);
  s.first_touches = get(counters_.first_touches);
  s.first_touch_cycles_charged = get(counters_.first_touch_cycles_charged);
  s.stall_ns = get(counters_.stall_ns);

  // The two clocks. The stall covers every fault from its signal delivery
  // on, and the charges spun on the faulting thread; the ECALL charges are
  // spun on the calling thread, outside it.
  const CostProfile& profile = config_.profile;
  const double ns_per_cycle = 1e9 / s.cycles_per_second;
  s.wall_ns = MonotonicNanos() - get(counters_.since_ns);
  s.emulation_ns = s.stall_ns + static_cast<uint64_t>(static_cast<double>(s.ecall_cycles_charged) *
                                                      ns_per_cycle);
  s.priced_ns =
      static_cast<uint64_t>(static_cast<double>(s.swaps * profile.page_swap_cycles +
                                                s.first_touches * profile.first_touch_cycles +
                                                s.ecalls * profile.ecall_cycles) *
                            ns_per_cycle);
  if (profile.has_target) {
    const double work = static_cast<double>(s.wall_ns) - static_cast<double>(s.emulation_ns);
    s.tee_ns = static_cast<uint64_t>(std::max(0.0, work * (1 + profile.memory_overhead)) +
                                     static_cast<double>(s.priced_ns));
  } else {
    s.tee_ns = s.wall_ns;
  }
  return s;
}

void EpcHeap::ResetStats() {
  std::lock_guard<std::mutex> lock(pager_mu_);
  for (std::atomic<uint64_t>* c :
       {&counters_.page_faults, &counters_.pages_in, &counters_.zero_fills,
        &counters_.reference_faults, &counters_.spurious_faults, &counters_.evictions,
        &counters_.eviction_passes, &counters_.mprotect_calls, &counters_.page_releases,
        &counters_.pages_dropped, &counters_.swaps, &counters_.raw_swap_cycles,
        &counters_.swap_cycles_charged, &counters_.ecalls, &counters_.ecall_cycles_charged,
        &counters_.pager_ns, &counters_.first_touches, &counters_.first_touch_cycles_charged,
        &counters_.stall_ns}) {
    c->store(0, std::memory_order_relaxed);
  }
  const uint64_t now = MonotonicNanos();
  counters_.since_ns.store(now, std::memory_order_relaxed);
  while (stall_lock_.test_and_set(std::memory_order_acquire)) {
  }
  // A thread still in the handler is counted from now on.
  stall_since_ns_ = now;
  stall_lock_.clear(std::memory_order_release);
  counters_.peak_resident_pages.store(resident_, std::memory_order_relaxed);
}

bool EpcHeap::Contains(const void* ptr) const {
  const uint8_t* p = static_cast<const uint8_t*>(ptr);
  return p >= enclave_ && p < enclave_ + num_pages_ * kPageBytes;
}

bool EpcHeap::OverlapsTrusted(const void* ptr, size_t bytes) const {
  const auto p = reinterpret_cast<uintptr_t>(ptr);
  auto overlaps = [&](const void* region, size_t size) {
    const auto r = reinterpret_cast<uintptr_t>(region);
    return region != nullptr && p < r + size && r < p + bytes;
  };
  const size_t heap_bytes = num_pages_ * kPageBytes;
  return overlaps(enclave_, heap_bytes) || overlaps(meta_, num_pages_ * sizeof(PageMeta)) ||
         overlaps(bounce_, kPageBytes);
}

bool EpcHeap::IsResident(const void* ptr) const {
  if (!Contains(ptr)) return false;
  std::lock_guard<std::mutex> lock(pager_mu_);
  const PageState state = meta_[(static_cast<const uint8_t*>(ptr) - enclave_) / kPageBytes].state;
  return state == kHot || state == kCold;
}

size_t EpcHeap::PhysicalBytes() const {
  // mincore reports the pages present in memory, whatever their protection.
  // The pager maps and releases pages only under its lock: holding it makes
  // the walk one snapshot, not a sum of pages counted before another thread
  // evicted them and after it paged others in.
  std::lock_guard<std::mutex> lock(pager_mu_);
  constexpr uint64_t kChunkPages = 4096;
  unsigned char present[kChunkPages];
  uint64_t pages = 0;
  for (uint64_t first = 0; first < num_pages_; first += kChunkPages) {
    const uint64_t n = std::min(kChunkPages, num_pages_ - first);
    if (mincore(enclave_page(first), n * kPageBytes, present) != 0) return 0;
    for (uint64_t i = 0; i < n; ++i) pages += present[i] & 1;
  }
  return pages * kPageBytes;
}

Status EpcHeap::Evict(const void* ptr) {
  if (!Contains(ptr)) return Status::InvalidArgument("Evict: pointer is outside the EPC heap");
  std::lock_guard<std::mutex> lock(pager_mu_);
  const uint64_t page = (static_cast<const uint8_t*>(ptr) - enclave_) / kPageBytes;
  const PageState state = meta_[page].state;
  if (state == kHot || state == kCold) free_frames_[free_frame_count_++] = EvictLocked(page);
  return Status::Ok();
}

Result<uint64_t> EpcHeap::EvictedPageOf(const void* ptr) const {
  if (!Contains(ptr)) return Status::InvalidArgument("pointer is outside the EPC heap");
  const uint64_t page = (static_cast<const uint8_t*>(ptr) - enclave_) / kPageBytes;
  if (meta_[page].state != kEvicted) {
    return Status::FailedPrecondition("page " + std::to_string(page) +
                                      " is not evicted: the host only holds sealed pages");
  }
  return page;
}

Status EpcHeap::HostTamper(const void* ptr) {
  std::lock_guard<std::mutex> lock(pager_mu_);
  SERDAB_ASSIGN_OR_RETURN(const uint64_t page, EvictedPageOf(ptr));
  backing_[page * kPageBytes + kPageBytes / 2] ^= 0x01;
  return Status::Ok();
}

Result<SealedPage> EpcHeap::HostCopySealedPage(const void* ptr) const {
  std::lock_guard<std::mutex> lock(pager_mu_);
  SERDAB_ASSIGN_OR_RETURN(const uint64_t page, EvictedPageOf(ptr));
  SealedPage sealed;
  const uint8_t* src = backing_ + page * kPageBytes;
  sealed.ciphertext.assign(src, src + kPageBytes);
  std::memcpy(sealed.tag, tags_ + page * PageCipher::kTagBytes, PageCipher::kTagBytes);
  return sealed;
}

Status EpcHeap::HostReplaceSealedPage(const void* ptr, const SealedPage& sealed) {
  if (sealed.ciphertext.size() != kPageBytes) {
    return Status::InvalidArgument("a sealed page holds " + std::to_string(kPageBytes) +
                                   " bytes, not " + std::to_string(sealed.ciphertext.size()));
  }
  std::lock_guard<std::mutex> lock(pager_mu_);
  SERDAB_ASSIGN_OR_RETURN(const uint64_t page, EvictedPageOf(ptr));
  std::memcpy(backing_ + page * kPageBytes, sealed.ciphertext.data(), kPageBytes);
  std::memcpy(tags_ + page * PageCipher::kTagBytes, sealed.tag, PageCipher::kTagBytes);
  return Status::Ok();
}

}  // namespace serdab::epc

// EpcHeap: the sim enclave's protected heap, an emulated SGX Enclave Page
// Cache.
//
// The heap is a fixed virtual region (`heap_bytes`) of which at most
// `epc_bytes` is resident at any time. The rest lives in an untrusted backing
// store, encrypted and MACed. Touching a non-resident page takes a real page
// fault; the pager evicts a victim and brings the page back, as the SGX driver
// does with EWB and ELDU. Inside an enclave the engine allocates its weights
// and activations here (this is an engine::Allocator).
//
// Mechanism
//   * The *enclave view* is an anonymous private mapping of heap_bytes, what
//     Allocate returns (labelled in /proc/PID/maps by a one-page mapping of a
//     memfd named "serdab-epc" on each side); a page there is readable and writable only while it
//     is resident and hot, PROT_NONE otherwise. The pager reads and fills
//     closed pages through /proc/self/mem (which may access PROT_NONE memory
//     of its own process), so filling a page never opens it to other threads
//     early.
//   * Touching a PROT_NONE page raises SIGSEGV; the process-wide handler (see
//     fault_router.h) passes it to the owning heap's pager, which runs on the
//     faulting thread and returns, and the instruction re-executes.
//   * Eviction of page p: mprotect(PROT_NONE) first (after it returns no
//     thread can write p: the TLB shootdown has completed), read p into a
//     trusted bounce buffer, bump p's version, seal it there (page_cipher.h),
//     copy the ciphertext and tag to the backing store, then release the page
//     (MADV_DONTNEED), which frees the physical page: resident memory really
//     is bounded by epc_bytes.
//   * Why these system calls: on the hosts we measured (a paravirtualised
//     VM), punching a page out of a shared memfd, as an earlier version of
//     this heap did, cost 15.6k cycles alone and 104.6k while the other vCPU
//     was busy, and it dominated the swap; mapping pages onto a fixed pool of
//     frames with mmap(MAP_FIXED) costs several times an mprotect. Private
//     anonymous pages released with MADV_DONTNEED made the swap 0.75x as
//     costly (bench/RESULTS.md, EPC fidelity, Build 2 continued).
//   * Evictions come in batches, as the SGX driver writes back up to 16
//     pages per EWB batch: a fault that finds no free frame evicts up to
//     kEvictBatch cold pages in one pass of the clock, so the next faults find
//     a frame without evicting. A pass issues one mprotect per run of
//     contiguous pages it cools and one release per run it evicts, instead
//     of one of each per page.
//   * Page-in of p: copy the sealed bytes from the backing store into the
//     bounce buffer, open them there (any tampering or an older version fails
//     here), write them into the closed page, then mprotect(PROT_READ |
//     PROT_WRITE). A page never written back (first touch, or touched again
//     after being freed) reads as zeros: it is opened and allocated
//     (MADV_POPULATE_WRITE) in place.
//   * Victims are chosen by two-handed CLOCK. User mappings have no hardware
//     accessed bit the pager could read, so it samples references itself:
//     the front hand sets a hot page PROT_NONE ("cold") but leaves it
//     resident; touching it again is a cheap reference fault that makes it
//     hot. The back hand, half a revolution behind, evicts the pages it
//     finds still cold. A page touched at least once per half revolution is
//     never evicted while colder pages exist: a batch takes a page the front
//     hand cooled in the same pass (one that had no chance to be touched) only
//     when it has found no other victim.
//   * Per-page trusted metadata (state, version, frame) and the bookkeeping of
//     allocations live outside the heap region and are preallocated (or
//     reserved with mmap) at Create, so neither the fault path nor Allocate
//     ever touches the heap, and the handler never calls malloc. Overhead:
//     32 bytes of metadata and tag per virtual page and the ciphertext of each
//     evicted page, all committed only when first used.
//
// Cost: a swap is a fault that evicted a page or paged one in; a fault that
// takes a frame a batch vacated ahead of it counts as having evicted, so a
// run of faults counts the same swaps however the evictions were batched.
// Its raw cost (the handler's own time plus the signal overhead calibrated at
// Create; a batch's whole time falls on the fault that ran it) is counted,
// and the cost profile tops it up to profile.page_swap_cycles by spinning on
// the faulting thread after the pager lock is released (a first touch that
// evicts nothing likewise, to profile.first_touch_cycles).
//
// Two clocks (epc_stats.h): besides wall time the heap keeps the wall time
// during which at least one thread was stalled on a fault: from the fault
// (the handler's entry less the calibrated signal overhead) until it
// returns, waiting for the pager lock, paging or spinning a charge. That and
// the ECALL spins are the emulation's own time; the TEE-equivalent clock
// replaces them with the profile's prices.
//
// Integrity: a page that fails to open at page-in (the host changed the
// ciphertext or tag, or replayed an older seal of the page) means the enclave
// can no longer trust its memory. SGX would lose the enclave; this heap does
// the same: it writes "serdab epc: integrity violation: page N ..." to stderr
// with write(2) and calls abort().
//
// Thread safety: Allocate, Deallocate and the public methods are
// thread-safe, and any number of threads may fault concurrently. One pager
// mutex serialises all paging, as the Linux SGX driver serialises an
// enclave's faults on its per-enclave lock (sgx_vma_fault takes encl->lock
// for every fault), so the emulation's contention between an enclave's
// threads is the target's; a thread that faults on a page another thread
// is filling waits on that mutex, finds the page resident, and retries the
// access. Taking a mutex in a signal handler is safe here because the signal
// is synchronous (raised by this thread's own access, not delivered at an
// arbitrary point) and the pager never touches the enclave view while it holds
// the lock, so it can never fault on itself; the only code that runs with the
// lock held is the pager's (metadata updates, mprotect, fallocate, madvise,
// libsodium, memcpy), none of which allocates. Allocation bookkeeping has its
// own mutex, always taken before the pager mutex, never from the handler.
//
// Limits (the same as on SGX, or caused by emulating it in user space):
//   * Memory of a non-resident page cannot be passed to a system call: the
//     kernel reports EFAULT instead of raising SIGSEGV. Copy data in and out
//     through ordinary memory (an enclave does I/O through OCALLs anyway).
//   * One instruction may touch several pages (a gather: up to 16), so the
//     budget must hold them all at once: epc_bytes is at least kMinEpcBytes.
//     Many threads faulting together need correspondingly more.
//   * Every isolated resident page can split the enclave view into separate
//     kernel mappings; Create refuses a budget whose worst case would not fit
//     under vm.max_map_count together with the other live heaps.
//   * A signal handler other than the pager's must not touch heap memory: it
//     could interrupt a thread that holds the pager lock (in Deallocate,
//     Evict, ...) and deadlock on it when its access faults.
//   * A child after fork() gets a copy of the heap and of the pager's state
//     but not its other threads; do not fork while it is in use (gtest death
//     tests must use the "threadsafe" style).
//   * Destroying the heap while another thread still touches its memory is
//     undefined, as for any allocator.
#ifndef SERDAB_ENCLAVE_EPC_EPC_HEAP_H_
#define SERDAB_ENCLAVE_EPC_EPC_HEAP_H_

#include <sys/types.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "enclave/common/status.h"
#include "enclave/engine/allocator.h"
#include "enclave/epc/cost_profile.h"
#include "enclave/epc/epc_stats.h"
#include "enclave/epc/page_cipher.h"
#include "enclave/epc/range_allocator.h"

namespace serdab::epc {

inline constexpr size_t kPageBytes = 4096;
// Enough for one instruction's worth of pages (an AVX-512 gather touches up
// to 16) several times over; smaller budgets could livelock.
inline constexpr size_t kMinEpcBytes = 64 * kPageBytes;
inline constexpr size_t kDefaultHeapBytes = size_t{4} << 30;
// Most pages one pass of the clock evicts: the SGX driver's EWB batch.
inline constexpr int kEvictBatch = 16;

struct EpcConfig {
  // Virtual size of the heap (rounded up to whole pages).
  size_t heap_bytes = kDefaultHeapBytes;
  // Resident budget (rounded down to whole pages; at least kMinEpcBytes).
  size_t epc_bytes = kSgx1EpcBytes;
  CostProfile profile;
};

// The sealed form of one evicted page as the host stores it.
struct SealedPage {
  std::vector<uint8_t> ciphertext;  // kPageBytes
  uint8_t tag[PageCipher::kTagBytes] = {};
};

class EpcHeap final : public engine::Allocator {
 public:
  static Result<std::unique_ptr<EpcHeap>> Create(const EpcConfig& config);
  ~EpcHeap() override;
  EpcHeap(const EpcHeap&) = delete;
  EpcHeap& operator=(const EpcHeap&) = delete;

  // engine::Allocator. Allocate returns 64-byte aligned memory (page-aligned
  // above RangeAllocator::kMaxSlotBytes), or nullptr when the virtual heap has
  // no free range that large. Deallocate releases every page that no longer
  // holds a live allocation: it leaves the resident set and the backing store
  // without being written back. Deallocating a pointer this heap did not hand
  // out is a fatal error.
  void* Allocate(size_t bytes) override;
  void Deallocate(void* ptr, size_t bytes) override;
  const char* name() const override { return "epc"; }

  // Counts one ECALL into this enclave and charges the profile's ECALL cost
  // on the calling thread. Called by the enclave boundary.
  void RecordEcall();

  EpcStats Stats() const;
  // Zeroes the counters (not the configuration, residency or peak baseline).
  void ResetStats();

  const EpcConfig& config() const { return config_; }
  size_t epc_pages() const { return epc_pages_; }
  bool Contains(const void* ptr) const;
  // Whether [ptr, ptr + bytes) touches memory the enclave trusts: the heap,
  // the pager's view of it, or the page metadata. ECALLs refuse host buffers
  // that do (SGX's sgx_is_outside_enclave check).
  bool OverlapsTrusted(const void* ptr, size_t bytes) const;
  bool IsResident(const void* ptr) const;
  // Physical memory the enclave view holds right now, as the kernel reports
  // it (mincore): at most epc_bytes.
  size_t PhysicalBytes() const;

  // What the untrusted host can do. The OS may evict any page at any time,
  // and it owns the backing store; tests use these to play the attacker.
  //
  // Evicts the page holding `ptr` now (no-op if it is not resident).
  Status Evict(const void* ptr);
  // Flips one ciphertext bit of the evicted page holding `ptr`.
  Status HostTamper(const void* ptr);
  // Copies, and overwrites, the backing-store bytes of the evicted page
  // holding `ptr` (replaying an old copy is a rollback attack).
  Result<SealedPage> HostCopySealedPage(const void* ptr) const;
  Status HostReplaceSealedPage(const void* ptr, const SealedPage& page);

 private:
  enum PageState : uint8_t {
    kAbsent = 0,   // not resident, nothing in the backing store (reads as 0)
    kHot = 1,      // resident and accessible
    kCold = 2,     // resident, PROT_NONE until touched (clock reference bit clear)
    kEvicted = 3,  // sealed in the backing store
  };
  // Trusted per-page metadata, the counterpart of SGX's EPCM entry and
  // version-array slot.
  struct PageMeta {
    uint64_t version;  // seals so far; the next seal uses version + 1
    uint32_t frame;    // index into frames_ while resident
    PageState state;
  };
  static constexpr uint32_t kNoPage = ~uint32_t{0};

  explicit EpcHeap(const EpcConfig& config);
  Status Init();
  void CalibrateFaultOverhead();

  static void OnFault(void* heap, uintptr_t address);
  void HandleFault(uint64_t page);
  // Bracket a thread's stall on a fault; the union of those intervals over
  // all threads accumulates in counters_.stall_ns.
  // Async-signal-safe (a spin lock, never held across anything that faults).
  void EnterPager(uint64_t now_ns);
  void LeavePager(uint64_t now_ns);

  // All *Locked functions require pager_mu_.
  bool PageInLocked(uint64_t page);
  uint32_t TakeFrameLocked(bool* evicted);
  // Runs the clock until it has evicted kEvictBatch pages, or at least one
  // and the back hand reaches pages cooled in this pass; frees their frames.
  void EvictBatchLocked();
  uint32_t EvictLocked(uint64_t page);  // returns the frame it vacated
  // Seals a resident page that is already PROT_NONE and releases its frame
  // (returned), but leaves its memory mapped: the caller releases it.
  uint32_t SealLocked(uint64_t page);
  void DropPagesLocked(uint64_t first, uint64_t count);
  void ProtectLocked(uint64_t first, uint64_t count, int prot);
  // Frees the physical pages (MADV_DONTNEED); they read as zeros after.
  void ReleaseLocked(uint64_t first, uint64_t count);
  // Where `page` of the enclave view is in /proc/self/mem.
  off_t ProcMemOffset(uint64_t page) const;
  Result<uint64_t> EvictedPageOf(const void* ptr) const;

  uint8_t* enclave_page(uint64_t page) const { return enclave_ + page * kPageBytes; }

  const EpcConfig config_;
  uint64_t num_pages_ = 0;
  uint64_t epc_pages_ = 0;
  uint64_t reserved_mappings_ = 0;  // counted against vm.max_map_count
  std::unique_ptr<PageCipher> cipher_;

  int proc_mem_ = -1;               // /proc/self/mem, read-write
  uint8_t* reservation_ = nullptr;  // the enclave view and its two labels
  uint8_t* enclave_ = nullptr;      // enclave view
  uint8_t* backing_ = nullptr;      // untrusted: ciphertext, kPageBytes per page
  uint8_t* tags_ = nullptr;         // untrusted: kTagBytes per page
  PageMeta* meta_ = nullptr;        // trusted: one per page
  int fault_region_ = -1;

  // Pager state, guarded by pager_mu_.
  mutable std::mutex pager_mu_;
  std::unique_ptr<uint32_t[]> frames_;       // frame -> resident page or kNoPage
  std::unique_ptr<uint32_t[]> free_frames_;  // stack of unused frames
  uint64_t free_frame_count_ = 0;
  // Free frames a batch vacated ahead of demand: the fault that takes one
  // counts as having evicted.
  uint64_t prefreed_frames_ = 0;
  uint64_t back_hand_ = 0;   // evicts
  uint64_t front_hand_ = 0;  // clears reference bits, half a revolution ahead
  uint64_t resident_ = 0;
  uint64_t last_handler_cycles_ = 0;
  // Plaintext of the page being sealed or opened: trusted memory.
  alignas(64) uint8_t bounce_[kPageBytes];

  // Allocation bookkeeping, guarded by alloc_mu_ (taken before pager_mu_).
  std::mutex alloc_mu_;
  RangeAllocator ranges_;

  // Stall tracking, guarded by stall_lock_.
  std::atomic_flag stall_lock_ = ATOMIC_FLAG_INIT;
  uint32_t threads_in_pager_ = 0;
  uint64_t stall_since_ns_ = 0;  // start of the stall being counted
  uint64_t stall_until_ns_ = 0;  // end of the last stall counted

  uint64_t fault_overhead_cycles_ = 0;
  uint64_t fault_overhead_ns_ = 0;  // the same, in wall time
  struct Counters {
    std::atomic<uint64_t> page_faults{0};
    std::atomic<uint64_t> pages_in{0};
    std::atomic<uint64_t> zero_fills{0};
    std::atomic<uint64_t> reference_faults{0};
    std::atomic<uint64_t> spurious_faults{0};
    std::atomic<uint64_t> evictions{0};
    std::atomic<uint64_t> eviction_passes{0};
    std::atomic<uint64_t> mprotect_calls{0};
    std::atomic<uint64_t> page_releases{0};
    std::atomic<uint64_t> pages_dropped{0};
    std::atomic<uint64_t> resident_pages{0};
    std::atomic<uint64_t> peak_resident_pages{0};
    std::atomic<uint64_t> swaps{0};
    std::atomic<uint64_t> raw_swap_cycles{0};
    std::atomic<uint64_t> swap_cycles_charged{0};
    std::atomic<uint64_t> ecalls{0};
    std::atomic<uint64_t> ecall_cycles_charged{0};
    std::atomic<uint64_t> pager_ns{0};
    std::atomic<uint64_t> first_touches{0};
    std::atomic<uint64_t> first_touch_cycles_charged{0};
    std::atomic<uint64_t> stall_ns{0};
    std::atomic<uint64_t> since_ns{0};  // when the counters were last reset
  };
  Counters counters_;
};

}  // namespace serdab::epc

#endif  // SERDAB_ENCLAVE_EPC_EPC_HEAP_H_

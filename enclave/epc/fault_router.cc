#include "enclave/epc/fault_router.h"

#include <errno.h>
#include <signal.h>

#include <atomic>
#include <cstring>
#include <mutex>
#include <string>

namespace serdab::epc {
namespace {

// One registered region. The fields are written under g_register_mu and read
// by the handler without a lock: `sequence` is odd while a writer is changing
// them, and a reader that sees it change (or odd) ignores the slot. All
// accesses are sequentially consistent, which makes the seqlock correct
// without standalone fences (which ThreadSanitizer does not model).
struct Slot {
  std::atomic<uint64_t> sequence{0};
  std::atomic<uintptr_t> begin{0};
  std::atomic<uintptr_t> end{0};
  std::atomic<FaultCallback> callback{nullptr};
  std::atomic<void*> context{nullptr};
  bool used = false;  // guarded by g_register_mu
};

Slot g_slots[kMaxFaultRegions];
std::atomic<int> g_slot_limit{0};  // slots at or past this index were never used
std::mutex g_register_mu;
bool g_installed = false;          // guarded by g_register_mu
struct sigaction g_previous = {};  // written once, before our handler goes live

bool Lookup(const Slot& slot, uintptr_t address, FaultCallback* callback, void** context) {
  const uint64_t before = slot.sequence.load();
  if (before & 1) return false;
  const uintptr_t begin = slot.begin.load();
  const uintptr_t end = slot.end.load();
  *callback = slot.callback.load();
  *context = slot.context.load();
  if (slot.sequence.load() != before) return false;
  return *callback != nullptr && address >= begin && address < end;
}

void WriteSlot(Slot& slot, uintptr_t begin, uintptr_t end, FaultCallback callback, void* context) {
  const uint64_t sequence = slot.sequence.load();
  slot.sequence.store(sequence + 1);
  slot.begin.store(begin);
  slot.end.store(end);
  slot.callback.store(callback);
  slot.context.store(context);
  slot.sequence.store(sequence + 2);
}

void ChainToPrevious(int sig, siginfo_t* info, void* ucontext) {
  if (g_previous.sa_flags & SA_SIGINFO) {
    g_previous.sa_sigaction(sig, info, ucontext);
    return;
  }
  const bool from_kernel = info != nullptr && info->si_code > 0;
  if (g_previous.sa_handler == SIG_IGN && !from_kernel) return;
  if (g_previous.sa_handler == SIG_DFL || g_previous.sa_handler == SIG_IGN) {
    // Put the default action back. Returning re-executes the faulting
    // instruction, which now kills the process as if we had never been here;
    // a signal sent with kill is not repeated that way, so raise it again.
    struct sigaction dfl = {};
    dfl.sa_handler = SIG_DFL;
    sigemptyset(&dfl.sa_mask);
    sigaction(SIGSEGV, &dfl, nullptr);
    if (!from_kernel) raise(sig);
    return;
  }
  g_previous.sa_handler(sig);
}

void HandleSigsegv(int sig, siginfo_t* info, void* ucontext) {
  const int saved_errno = errno;
  // si_code > 0: the kernel raised it for an access by this thread.
  if (info != nullptr && info->si_code > 0) {
    const uintptr_t address = reinterpret_cast<uintptr_t>(info->si_addr);
    const int limit = g_slot_limit.load();
    for (int i = 0; i < limit; ++i) {
      FaultCallback callback;
      void* context;
      if (Lookup(g_slots[i], address, &callback, &context)) {
        callback(context, address);
        errno = saved_errno;
        return;
      }
    }
  }
  errno = saved_errno;
  ChainToPrevious(sig, info, ucontext);
}

Status InstallHandlerLocked() {
  if (g_installed) return Status::Ok();
  struct sigaction action = {};
  action.sa_sigaction = HandleSigsegv;
  // SA_ONSTACK: a thread with an alternate signal stack keeps using it, so a
  // stack-overflow handler chained behind us still works.
  action.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESTART;
  sigemptyset(&action.sa_mask);
  if (sigaction(SIGSEGV, &action, &g_previous) != 0) {
    return Status::Internal(std::string("cannot install the EPC fault handler: sigaction: ") +
                            std::strerror(errno));
  }
  g_installed = true;
  return Status::Ok();
}

}  // namespace

Result<int> RegisterFaultRegion(const void* base, size_t bytes, FaultCallback callback,
                                void* context) {
  std::lock_guard<std::mutex> lock(g_register_mu);
  SERDAB_RETURN_IF_ERROR(InstallHandlerLocked());
  for (int i = 0; i < kMaxFaultRegions; ++i) {
    Slot& slot = g_slots[i];
    if (slot.used) continue;
    slot.used = true;
    const uintptr_t begin = reinterpret_cast<uintptr_t>(base);
    WriteSlot(slot, begin, begin + bytes, callback, context);
    if (g_slot_limit.load() <= i) g_slot_limit.store(i + 1);
    return i;
  }
  return Status::ResourceExhausted("too many live EPC heaps in this process (at most " +
                                   std::to_string(kMaxFaultRegions) + ")");
}

void UnregisterFaultRegion(int handle) {
  if (handle < 0 || handle >= kMaxFaultRegions) return;
  std::lock_guard<std::mutex> lock(g_register_mu);
  Slot& slot = g_slots[handle];
  if (!slot.used) return;
  WriteSlot(slot, 0, 0, nullptr, nullptr);
  slot.used = false;
}

}  // namespace serdab::epc

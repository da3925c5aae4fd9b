// The enclave's source of randomness.
//
// An SGX enclave draws its keys from RDRAND inside the enclave
// (sgx_read_rand), never from the untrusted OS's libraries. The sim enclave
// does the same: it gives its own (statically linked) libsodium a randombytes
// implementation that mixes RDRAND, where the CPU has it, with getrandom()
// issued as a raw `syscall` instruction. Neither is a call into a shared
// library, so a host that LD_PRELOADs randombytes_buf, getrandom or syscall
// cannot make the enclave's ephemeral keys predictable. (The kernel remains
// the host's: on a CPU without RDRAND a hostile kernel could still choose
// the bytes, which is one more thing a sim enclave cannot protect against.)
#ifndef SERDAB_ENCLAVE_RUNTIME_ENCLAVE_ENTROPY_H_
#define SERDAB_ENCLAVE_RUNTIME_ENCLAVE_ENTROPY_H_

namespace serdab::enclave {

// Installs the implementation. Call once, before libsodium is initialised.
void InstallEnclaveEntropy();

}  // namespace serdab::enclave

#endif  // SERDAB_ENCLAVE_RUNTIME_ENCLAVE_ENTROPY_H_

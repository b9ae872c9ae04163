// Thin C shims for what Swift cannot reach directly on Linux: libnuma, CPU affinity, futexes,
// the CPU's pause hint and hardware CRC32C. Declarations only use plain C types, so the header
// imports cleanly into Swift (defining _GNU_SOURCE here would break SwiftGlibc's imports; the
// implementation file defines it instead).
#ifndef FTBENCH_CPLATFORM_H
#define FTBENCH_CPLATFORM_H

#include <stddef.h>
#include <stdint.h>

/// 1 if the kernel supports NUMA policy (libnuma's numa_available() >= 0), else 0.
int ftb_numa_available(void);
/// Number of configured NUMA nodes (at least 1).
int ftb_numa_node_count(void);
/// NUMA node of a CPU, or -1.
int ftb_numa_node_of_cpu(int cpu);
/// Memory on `node` (page-aligned, zeroed), or NULL if NUMA placement is unavailable or fails.
void *ftb_numa_alloc_onnode(size_t size, int node);
void ftb_numa_free(void *memory, size_t size);

/// Pins the calling thread to a set of CPUs (it may run on any of them). Returns 0 or an errno
/// value (EINVAL for an empty set or a CPU out of range).
int ftb_pin_current_thread_set(const int *cpus, int count);
/// Writes the CPUs the calling thread may run on (its affinity mask) into `cpus`, at most
/// `capacity`; returns how many, or a negated errno value.
int ftb_allowed_cpus(int *cpus, int capacity);
/// The CPU the calling thread runs on, or -1.
int ftb_current_cpu(void);
/// Number of CPUs online.
int ftb_cpu_count(void);

/// Names the calling thread (what `perf report --sort comm` and `top -H` show); Linux keeps the
/// first 15 bytes. Returns 0 or an errno value.
int ftb_set_thread_name(const char *name);

/// Renames `from` to `to` unless `to` exists (renameat2 with RENAME_NOREPLACE, atomic).
/// Returns 0 or an errno value (EEXIST if `to` exists).
int ftb_rename_noreplace(const char *from, const char *to);
/// Creates a new file for writing: fails (returning a negated errno value) if anything exists
/// at `path`, a symbolic link included, so that a planted link is never followed. Returns the fd.
int ftb_create_exclusive(const char *path);

/// Sleeps while *address == expected, for at most timeout_ns (< 0: no limit). Returns 0 when
/// woken or when the value differed, else an errno value (ETIMEDOUT, EINTR, EAGAIN).
int ftb_futex_wait(uint32_t *address, uint32_t expected, int64_t timeout_ns);
/// Wakes up to `count` threads waiting on address.
void ftb_futex_wake(uint32_t *address, int count);

/// The CPU's spin-wait hint (x86 PAUSE, ARM YIELD).
void ftb_cpu_relax(void);

/// Asks for the cache line at `address` in a writable state ahead of a store (x86 PREFETCHW;
/// elsewhere the compiler's write prefetch).
static inline void ftb_prefetch_for_write(const void *address) {
#if defined(__x86_64__)
    __asm__ volatile("prefetchw %0" : : "m"(*(const char *)address));
#else
    __builtin_prefetch(address, 1, 3);
#endif
}

/// Keeps the compiler from moving memory accesses across this point; emits no instruction. The
/// light half of an asymmetric fence (ftb_membarrier is the heavy half).
static inline void ftb_compiler_barrier(void) { __asm__ volatile("" : : : "memory"); }

/// Registers the process for expedited private membarrier(2). Returns 1 if ftb_membarrier may
/// be used from now on, 0 if the kernel (or a seccomp filter) does not offer it.
int ftb_membarrier_register(void);
/// A full memory barrier on every running thread of this process (membarrier(2),
/// MEMBARRIER_CMD_PRIVATE_EXPEDITED). Returns 0, or an errno value.
int ftb_membarrier(void);

/// CRC-32C (Castagnoli) of `length` bytes, continuing from `crc` (0 to start). Uses the SSE4.2
/// instruction where the CPU has it, else a table.
uint32_t ftb_crc32c(uint32_t crc, const void *data, size_t length);
/// CRC-32C of the 28 bytes w0, w1, w2 (little-endian u64s) and w3 (u32), from registers: the
/// same value as ftb_crc32c over those bytes in memory, without reading back words the caller
/// has just stored in pieces (which defeats store-to-load forwarding).
uint32_t ftb_crc32c_words(uint32_t crc, uint64_t w0, uint64_t w1, uint64_t w2, uint32_t w3);

/// Guest-memory atomics for the interpreter (docs/ISA.md, "Memory model"). Defined here, static
/// inline, so that Swift inlines them into the dispatch loop: each is one host instruction or a
/// short lock-prefixed sequence on x86. `address` must be 8-byte aligned (the interpreter checks).
/// Orderings: the read-modify-writes and the fence are sequentially consistent (x86 LOCK CMPXCHG,
/// LOCK XADD, MFENCE); the load is acquire and the store release (plain MOVs on x86, whose TSO
/// gives both; the orderings also stop the compiler moving guest accesses across them).

/// Compare-and-swap: if *address == expected, *address = desired. Returns the old value.
static inline uint64_t ftb_guest_cas64(void *address, uint64_t expected, uint64_t desired) {
    __atomic_compare_exchange_n((uint64_t *)address, &expected, desired, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
    return expected;
}

/// Fetch-and-add; returns the old value.
static inline uint64_t ftb_guest_xadd64(void *address, uint64_t addend) {
    return __atomic_fetch_add((uint64_t *)address, addend, __ATOMIC_SEQ_CST);
}

static inline uint64_t ftb_guest_load_acquire64(const void *address) {
    return __atomic_load_n((const uint64_t *)address, __ATOMIC_ACQUIRE);
}

static inline void ftb_guest_store_release64(void *address, uint64_t value) {
    __atomic_store_n((uint64_t *)address, value, __ATOMIC_RELEASE);
}

static inline void ftb_guest_fence(void) {
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
}

#endif

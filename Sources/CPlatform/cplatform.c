#define _GNU_SOURCE
#include "cplatform.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <linux/membarrier.h>
#include <numa.h>
#include <pthread.h>
#include <sched.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

int ftb_numa_available(void) { return numa_available() >= 0 ? 1 : 0; }

int ftb_numa_node_count(void) {
    if (numa_available() < 0) return 1;
    int n = numa_num_configured_nodes();
    return n > 0 ? n : 1;
}

int ftb_numa_node_of_cpu(int cpu) {
    if (numa_available() < 0) return cpu >= 0 && cpu < ftb_cpu_count() ? 0 : -1;
    return numa_node_of_cpu(cpu);
}

void *ftb_numa_alloc_onnode(size_t size, int node) {
    if (numa_available() < 0 || node < 0 || node > numa_max_node()) return NULL;
    void *p = numa_alloc_onnode(size, node);
    if (p) memset(p, 0, size);
    return p;
}

void ftb_numa_free(void *memory, size_t size) { numa_free(memory, size); }

int ftb_pin_current_thread_set(const int *cpus, int count) {
    if (count <= 0) return EINVAL;
    cpu_set_t set;
    CPU_ZERO(&set);
    for (int i = 0; i < count; i++) {
        if (cpus[i] < 0 || cpus[i] >= CPU_SETSIZE) return EINVAL;
        CPU_SET(cpus[i], &set);
    }
    return sched_setaffinity(0, sizeof set, &set) == 0 ? 0 : errno;
}

int ftb_current_cpu(void) { return sched_getcpu(); }

int ftb_allowed_cpus(int *cpus, int capacity) {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof set, &set) != 0) return -errno;
    int n = 0;
    for (int cpu = 0; cpu < CPU_SETSIZE && n < capacity; cpu++)
        if (CPU_ISSET(cpu, &set)) cpus[n++] = cpu;
    return n;
}

int ftb_cpu_count(void) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

int ftb_futex_wait(uint32_t *address, uint32_t expected, int64_t timeout_ns) {
    struct timespec ts, *timeout = NULL;
    if (timeout_ns >= 0) {
        ts.tv_sec = timeout_ns / 1000000000;
        ts.tv_nsec = timeout_ns % 1000000000;
        timeout = &ts;
    }
    long r = syscall(SYS_futex, address, FUTEX_WAIT_PRIVATE, expected, timeout, NULL, 0);
    return r == 0 ? 0 : errno;
}

void ftb_futex_wake(uint32_t *address, int count) {
    syscall(SYS_futex, address, FUTEX_WAKE_PRIVATE, count, NULL, NULL, 0);
}

int ftb_membarrier_register(void) {
    long commands = syscall(SYS_membarrier, MEMBARRIER_CMD_QUERY, 0, 0);
    if (commands < 0 || !(commands & MEMBARRIER_CMD_PRIVATE_EXPEDITED)) return 0;
    return syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) == 0 ? 1 : 0;
}

int ftb_membarrier(void) {
    return syscall(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0) == 0 ? 0 : errno;
}

void ftb_cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

static uint32_t crc32c_table[256];
static int has_sse42;

// Filled before main() runs, so the CRC functions never race on lazy initialisation.
__attribute__((constructor))
static void crc32c_init(void) {
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) c = c & 1 ? (c >> 1) ^ 0x82F63B78u : c >> 1;
        crc32c_table[i] = c;
    }
#if defined(__x86_64__)
    __builtin_cpu_init();
    has_sse42 = __builtin_cpu_supports("sse4.2") ? 1 : 0;
#endif
}

static uint32_t crc32c_software(uint32_t crc, const unsigned char *p, size_t n) {
    crc = ~crc;
    while (n--) crc = crc32c_table[(crc ^ *p++) & 0xFF] ^ (crc >> 8);
    return ~crc;
}

#if defined(__x86_64__)
__attribute__((target("sse4.2")))
static uint32_t crc32c_hardware(uint32_t crc, const unsigned char *p, size_t n) {
    uint64_t c = ~crc;
    while (n >= 8) {
        uint64_t v;
        memcpy(&v, p, 8);
        c = __builtin_ia32_crc32di(c, v);
        p += 8;
        n -= 8;
    }
    uint32_t c32 = (uint32_t)c;
    while (n--) c32 = __builtin_ia32_crc32qi(c32, *p++);
    return ~c32;
}
#endif

#if defined(__x86_64__)
__attribute__((target("sse4.2")))
static uint32_t crc32c_words_hardware(uint32_t crc, uint64_t w0, uint64_t w1, uint64_t w2, uint32_t w3) {
    uint64_t c = ~crc;
    c = __builtin_ia32_crc32di(c, w0);
    c = __builtin_ia32_crc32di(c, w1);
    c = __builtin_ia32_crc32di(c, w2);
    return ~__builtin_ia32_crc32si((uint32_t)c, w3);
}
#endif

uint32_t ftb_crc32c(uint32_t crc, const void *data, size_t length) {
#if defined(__x86_64__)
    if (has_sse42) return crc32c_hardware(crc, data, length);
#endif
    return crc32c_software(crc, data, length);
}

uint32_t ftb_crc32c_words(uint32_t crc, uint64_t w0, uint64_t w1, uint64_t w2, uint32_t w3) {
#if defined(__x86_64__)
    if (has_sse42) return crc32c_words_hardware(crc, w0, w1, w2, w3);
#endif
    unsigned char bytes[28];
    memcpy(bytes, &w0, 8);
    memcpy(bytes + 8, &w1, 8);
    memcpy(bytes + 16, &w2, 8);
    memcpy(bytes + 24, &w3, 4);
    return crc32c_software(crc, bytes, 28);
}

int ftb_rename_noreplace(const char *from, const char *to) {
    // Through syscall(): older glibc lacks the renameat2 wrapper. RENAME_NOREPLACE is 1 << 0.
    return syscall(SYS_renameat2, AT_FDCWD, from, AT_FDCWD, to, 1u << 0) == 0 ? 0 : errno;
}

int ftb_create_exclusive(const char *path) {
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    return fd >= 0 ? fd : -errno;
}

int ftb_set_thread_name(const char *name) {
    char truncated[16];
    strncpy(truncated, name, sizeof truncated - 1);
    truncated[sizeof truncated - 1] = 0;
    return pthread_setname_np(pthread_self(), truncated);
}

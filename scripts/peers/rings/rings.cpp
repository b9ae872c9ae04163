// C++ SPSC rings timed by the same method as `ftbench calibrate` (Sources/ChannelMeasurement/
// QueueExperiments.swift): the cache-line floor, round trips through a ping queue and a pong queue
// between two pinned threads (timed in groups of 64; p50 and p99 over the group means), and
// throughput of 64-byte entries published in batches of 64 (the consumer drains and releases).
//
// Two rings:
//  - `cached`: a ring of 64-byte slots with ftbench's batch API (reserve frames, commit once; peek,
//    advance, release once), head and tail on their own 128-byte stretches, each side caching the
//    other's index and reading it only when its copy says full or empty; release stores and
//    acquire loads, as in ftbench's RingBuffer.
//  - `boost`: boost::lockfree::spsc_queue of 8-byte or 64-byte elements (push/pop of one, and
//    push/pop of arrays for batches).
//
// Usage: rings CPU0 CPU1 SAMPLES ENTRIES. Prints one `name value` line per figure.
#include <atomic>
#include <cmath>
#include <algorithm>
#include <boost/lockfree/spsc_queue.hpp>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <pthread.h>
#include <sched.h>
#include <thread>
#include <time.h>
#include <vector>

static inline uint64_t now_ns() {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return uint64_t(ts.tv_sec) * 1000000000ull + uint64_t(ts.tv_nsec);
}
static inline void relax() { __builtin_ia32_pause(); }
static void pin(int cpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

// ---- the cached-index ring, ftbench's layout and batch API -----------------------------------
struct alignas(128) CachedRing {
    static constexpr size_t slotSize = 64;
    explicit CachedRing(size_t slots) : mask(slots - 1) {
        memory = static_cast<uint8_t*>(aligned_alloc(4096, slots * slotSize));
        memset(memory, 0, slots * slotSize);
    }
    ~CachedRing() { free(memory); }
    // Shared indices (slot counts), each on its own 128-byte stretch.
    alignas(128) std::atomic<uint64_t> tail{0};  // producer publishes (release), consumer reads (acquire)
    alignas(128) std::atomic<uint64_t> head{0};  // consumer publishes (release), producer reads (acquire)
    // Producer-private state.
    alignas(128) uint64_t writePos = 0, cachedHead = 0;
    // Consumer-private state.
    alignas(128) uint64_t readPos = 0, cachedTail = 0;
    alignas(128) uint8_t* memory;
    size_t mask;

    // Producer: a frame of `payload` bytes (8-byte header holding the length), or nullptr if full.
    uint8_t* reserve(uint32_t payload) {
        uint64_t slots = (payload + 8 + slotSize - 1) / slotSize;
        if (writePos + slots - cachedHead > mask + 1) {
            cachedHead = head.load(std::memory_order_acquire);
            if (writePos + slots - cachedHead > mask + 1) return nullptr;
        }
        uint8_t* frame = memory + (writePos & mask) * slotSize;
        memcpy(frame, &payload, 4);
        writePos += slots;
        return frame + 8;
    }
    void commit() { tail.store(writePos, std::memory_order_release); }
    // Consumer: the next frame's payload and length, or nullptr if empty.
    uint8_t* peek(uint32_t& length) {
        if (readPos == cachedTail) {
            cachedTail = tail.load(std::memory_order_acquire);
            if (readPos == cachedTail) return nullptr;
        }
        uint8_t* frame = memory + (readPos & mask) * slotSize;
        memcpy(&length, frame, 4);
        return frame + 8;
    }
    void advance(uint32_t length) { readPos += (length + 8 + slotSize - 1) / slotSize; }
    void release() { head.store(readPos, std::memory_order_release); }
};

struct CachedQueue {
    CachedRing ring{1 << 12};
    uint32_t payload;
    explicit CachedQueue(uint32_t payload) : payload(payload) {}
    void send(uint64_t first, int count) {
        for (int i = 0; i < count; i++) {
            uint8_t* p;
            while (!(p = ring.reserve(payload))) relax();
            uint64_t v = first + i;
            memcpy(p, &v, 8);
        }
        ring.commit();
    }
    int receive(int limit, uint64_t& last) {
        int n = 0;
        uint32_t length;
        while (n < limit) {
            uint8_t* p = ring.peek(length);
            if (!p) break;
            memcpy(&last, p, 8);
            ring.advance(length);
            n++;
        }
        if (n) ring.release();
        return n;
    }
};

// ---- boost::lockfree::spsc_queue ---------------------------------------------------------------
template <size_t Bytes> struct Message { uint64_t value; uint8_t pad[Bytes - 8]; };
template <> struct Message<8> { uint64_t value; };

template <size_t Bytes> struct BoostQueue {
    boost::lockfree::spsc_queue<Message<Bytes>, boost::lockfree::capacity<4096>> queue;
    Message<Bytes> batch[64];
    explicit BoostQueue(uint32_t) {}
    void send(uint64_t first, int count) {
        for (int i = 0; i < count; i++) batch[i].value = first + i;
        int sent = 0;
        while (sent < count) {
            sent += int(queue.push(batch + sent, count - sent));
            if (sent < count) relax();
        }
    }
    int receive(int limit, uint64_t& last) {
        Message<Bytes> out[64];
        int n = int(queue.pop(out, std::min(limit, 64)));
        if (n) last = out[n - 1].value;
        return n;
    }
};

// ---- the experiments (QueueExperiments' method) -------------------------------------------------
struct Percentiles { double p50, p99; };
static Percentiles percentiles(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    auto rank = [&](double p) { size_t k = size_t(std::ceil(p * v.size())); return v[std::min(v.size() - 1, k ? k - 1 : 0)]; };
    return {rank(0.5), rank(0.99)};
}

static Percentiles floorRoundTrip(int cpu0, int cpu1, int samples) {
    alignas(128) static std::atomic<uint64_t> line{0};
    line.store(0);
    const int per = 64;
    uint64_t total = uint64_t(samples) * per;
    std::thread echo([&] {
        pin(cpu1);
        for (uint64_t expect = 1; expect < 2 * total; expect += 2) {
            while (line.load(std::memory_order_acquire) != expect) relax();
            line.store(expect + 1, std::memory_order_release);
        }
    });
    pin(cpu0);
    std::vector<double> results(samples);
    uint64_t value = 0;
    for (int s = 0; s < samples; s++) {
        uint64_t start = now_ns();
        for (int i = 0; i < per; i++) {
            line.store(value + 1, std::memory_order_release);
            while (line.load(std::memory_order_acquire) != value + 2) relax();
            value += 2;
        }
        results[s] = double(now_ns() - start) / per;
    }
    echo.join();
    return percentiles(results);
}

template <class Q> static Percentiles roundTrip(uint32_t payload, int cpu0, int cpu1, int samples) {
    auto ping = new Q(payload), pong = new Q(payload);
    const int per = 64;
    int total = samples * per;
    std::thread echo([&] {
        pin(cpu1);
        uint64_t last;
        for (int echoed = 0; echoed < total;) {
            if (ping->receive(1, last) == 1) { pong->send(last, 1); echoed++; } else relax();
        }
    });
    pin(cpu0);
    std::vector<double> results(samples);
    uint64_t message = 0, last;
    for (int s = 0; s < samples; s++) {
        uint64_t start = now_ns();
        for (int i = 0; i < per; i++) {
            ping->send(message, 1);
            while (pong->receive(1, last) == 0) relax();
            message++;
        }
        results[s] = double(now_ns() - start) / per;
    }
    echo.join();
    delete ping;
    delete pong;
    return percentiles(results);
}

template <class Q> static double throughput(uint32_t payload, int cpu0, int cpu1, long entries, int batch) {
    auto q = new Q(payload);
    std::atomic<bool> ready{false};
    std::thread consumer([&] {
        pin(cpu1);
        ready.store(true, std::memory_order_release);
        long received = 0;
        uint64_t expected = 0, last;
        while (received < entries) {
            int n = q->receive(64, last);
            if (n) {
                received += n;
                expected += n;
                if (last != expected - 1) { fprintf(stderr, "rings: queue reordered or lost messages\n"); exit(1); }
            } else relax();
        }
    });
    pin(cpu0);
    while (!ready.load(std::memory_order_acquire)) relax();
    uint64_t start = now_ns();
    for (long sent = 0; sent < entries;) {
        int n = int(std::min<long>(batch, entries - sent));
        q->send(uint64_t(sent), n);
        sent += n;
    }
    consumer.join();
    double seconds = double(now_ns() - start) / 1e9;
    delete q;
    return double(entries) / seconds;
}

int main(int argc, char** argv) {
    if (argc != 5) { fprintf(stderr, "usage: rings CPU0 CPU1 SAMPLES ENTRIES\n"); return 64; }
    int cpu0 = atoi(argv[1]), cpu1 = atoi(argv[2]), samples = atoi(argv[3]);
    long entries = atol(argv[4]);
    // The floor again after each measurement (a tenth of the samples, at least 50), so that each
    // figure is printed with the floor just before and just after it, as `ftbench calibrate`
    // does: the host moves the two vCPUs between placements while a process runs.
    double last = 0;
    auto bracket = [&](const char* name) {
        double after = floorRoundTrip(cpu0, cpu1, std::max(50, samples / 10)).p50;
        printf("%s_floor_before %.1f\n%s_floor_after %.1f\n", name, last, name, after);
        last = after;
    };
    auto show = [&](const char* name, Percentiles p) {
        printf("%s_p50 %.1f\n%s_p99 %.1f\n", name, p.p50, name, p.p99);
        if (strcmp(name, "floor") == 0) last = p.p50; else bracket(name);
    };
    auto showRate = [&](const char* name, double perSecond) { printf("%s %.1f\n", name, perSecond / 1e6); bracket(name); };
    show("floor", floorRoundTrip(cpu0, cpu1, samples));
    show("cached_rt8", roundTrip<CachedQueue>(8, cpu0, cpu1, samples));
    show("cached_rt64", roundTrip<CachedQueue>(56, cpu0, cpu1, samples));
    show("boost_rt8", roundTrip<BoostQueue<8>>(8, cpu0, cpu1, samples));
    show("boost_rt64", roundTrip<BoostQueue<64>>(64, cpu0, cpu1, samples));
    showRate("cached_batched64", throughput<CachedQueue>(56, cpu0, cpu1, entries, 64));
    showRate("boost_batched64", throughput<BoostQueue<64>>(64, cpu0, cpu1, entries, 64));
    return 0;
}

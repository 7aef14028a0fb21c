// ThreadPool: every index visited once, and a slice's exception reaching the caller only after every
// slice has finished, with the pool usable afterwards.
#include <atomic>
#include <chrono>
#include <stdexcept>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "util/parallel.h"

using shootout::ThreadPool;

TEST(ThreadPool, VisitsEveryIndexOnce) {
    ThreadPool pool(4);
    for (size_t n : {1u, 3u, 4u, 1000u}) {
        std::vector<std::atomic<int>> seen(n);
        pool.parallel_for(n, [&](size_t begin, size_t end, int) {
            for (size_t i = begin; i < end; ++i) seen[i]++;
        });
        for (size_t i = 0; i < n; ++i) EXPECT_EQ(seen[i].load(), 1) << "n " << n << " index " << i;
    }
}

// A worker's exception used to escape its thread (std::terminate); the caller's own left the workers
// running a body that its unwound stack no longer held.
TEST(ThreadPool, ASliceExceptionReachesTheCallerAfterEverySliceFinished) {
    ThreadPool pool(4);
    for (int thrower : {0, 1, 3}) {  // the caller's slice (0) and workers' slices
        std::atomic<int> finished{0};
        try {
            pool.parallel_for(4, [&](size_t, size_t, int thread) {
                if (thread == thrower) throw std::runtime_error("slice " + std::to_string(thread));
                std::this_thread::sleep_for(std::chrono::milliseconds(20));  // still running when it throws
                finished++;
            });
            ADD_FAILURE() << "no exception from slice " << thrower;
        } catch (const std::runtime_error& e) {
            EXPECT_EQ(std::string(e.what()), "slice " + std::to_string(thrower));
        }
        EXPECT_EQ(finished.load(), 3) << "the other slices had not all finished when it was rethrown";
        // The pool still works, and an earlier job's error does not come back.
        std::atomic<int> sum{0};
        pool.parallel_for(100, [&](size_t begin, size_t end, int) { sum += int(end - begin); });
        EXPECT_EQ(sum.load(), 100);
    }
}

TEST(ThreadPool, EverySliceThrowingGivesOneOfTheirErrors) {
    ThreadPool pool(3);
    EXPECT_THROW(pool.parallel_for(3, [](size_t, size_t, int) { throw std::runtime_error("all"); }),
                 std::runtime_error);
    int calls = 0;
    pool.parallel_for(1, [&](size_t, size_t, int) { ++calls; });  // the single-slice path
    EXPECT_EQ(calls, 1);
}

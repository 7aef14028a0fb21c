// A fixed pool of worker threads and a parallel_for over an index range: the one threading
// primitive the CPU backend, the quantizer and the evaluator share.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace shootout {

class ThreadPool {
public:
    explicit ThreadPool(int n_threads);  // n_threads <= 0: hardware concurrency
    ~ThreadPool();
    ThreadPool(const ThreadPool&) = delete;
    ThreadPool& operator=(const ThreadPool&) = delete;

    int size() const { return n_threads_; }

    // Calls body(begin, end, thread_index) on disjoint slices of [0, n) and waits for all of them.
    // Slices are contiguous, one per thread, so a body can keep per-thread scratch by thread_index.
    // An exception thrown by a slice (a worker's or the caller's) is rethrown here once every slice
    // has finished (one of them if several throw): it never escapes a worker thread, which would end
    // the process, nor leaves workers running a body the caller's unwound stack no longer holds.
    void parallel_for(size_t n, const std::function<void(size_t, size_t, int)>& body);

private:
    void worker(int index);

    int n_threads_;
    std::vector<std::thread> workers_;
    std::mutex mutex_;
    std::condition_variable start_cv_, done_cv_;
    const std::function<void(size_t, size_t, int)>* job_ = nullptr;
    size_t job_n_ = 0;
    uint64_t generation_ = 0;
    int pending_ = 0;
    bool stopping_ = false;
    std::exception_ptr error_;  // the job's first exception, under mutex_
};

}  // namespace shootout

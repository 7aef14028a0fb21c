#include "util/parallel.h"

#include <algorithm>

namespace shootout {

ThreadPool::ThreadPool(int n_threads) {
    if (n_threads <= 0) n_threads = (int)std::max(1u, std::thread::hardware_concurrency());
    n_threads_ = n_threads;
    // Thread 0 is the caller; only n-1 workers are spawned.
    for (int i = 1; i < n_threads_; ++i) workers_.emplace_back([this, i] { worker(i); });
}

ThreadPool::~ThreadPool() {
    {
        std::lock_guard<std::mutex> lock(mutex_);
        stopping_ = true;
    }
    start_cv_.notify_all();
    for (auto& t : workers_) t.join();
}

static void slice(size_t n, int parts, int index, size_t& begin, size_t& end) {
    const size_t chunk = n / parts, extra = n % parts;
    begin = index * chunk + std::min<size_t>(index, extra);
    end = begin + chunk + (size_t(index) < extra ? 1 : 0);
}

void ThreadPool::parallel_for(size_t n, const std::function<void(size_t, size_t, int)>& body) {
    if (n == 0) return;
    if (n_threads_ == 1 || n == 1) {
        body(0, n, 0);
        return;
    }
    {
        std::lock_guard<std::mutex> lock(mutex_);
        job_ = &body;
        job_n_ = n;
        pending_ = n_threads_ - 1;
        error_ = nullptr;
        ++generation_;
    }
    start_cv_.notify_all();
    size_t begin, end;
    slice(n, n_threads_, 0, begin, end);
    std::exception_ptr own;
    try {
        if (begin < end) body(begin, end, 0);
    } catch (...) {
        own = std::current_exception();
    }
    std::unique_lock<std::mutex> lock(mutex_);
    done_cv_.wait(lock, [this] { return pending_ == 0; });
    job_ = nullptr;
    // One error is reported: a worker's if any threw (the first to take the lock), else the caller's.
    std::exception_ptr error = error_ ? error_ : own;
    error_ = nullptr;
    lock.unlock();
    if (error) std::rethrow_exception(error);
}

void ThreadPool::worker(int index) {
    uint64_t seen = 0;
    for (;;) {
        const std::function<void(size_t, size_t, int)>* job;
        size_t n;
        {
            std::unique_lock<std::mutex> lock(mutex_);
            start_cv_.wait(lock, [&] { return stopping_ || generation_ != seen; });
            if (stopping_) return;
            seen = generation_;
            job = job_;
            n = job_n_;
        }
        size_t begin, end;
        slice(n, n_threads_, index, begin, end);
        std::exception_ptr thrown;
        try {
            if (begin < end) (*job)(begin, end, index);
        } catch (...) {
            thrown = std::current_exception();
        }
        {
            std::lock_guard<std::mutex> lock(mutex_);
            if (thrown && !error_) error_ = thrown;
            if (--pending_ == 0) done_cv_.notify_one();
        }
    }
}

}  // namespace shootout

// A callable kept inside the object (kCapacity bytes), where std::function puts any callable over its
// 16-byte small buffer on the heap. The CUDA backend records ~260 launches a decode step as lambdas
// of 30-200 bytes of captures while the GPU waits for the host (backend/cuda/step_graph.h); each was
// a heap allocation and a free. A callable that does not fit fails to compile. Move-only; a move
// that throws (a copied const capture running out of memory) ends the program.
#pragma once

#include <cstddef>
#include <new>
#include <type_traits>
#include <utility>

namespace shootout {

template <class Signature, size_t kCapacity>
class InplaceFunction;

template <class R, class... Args, size_t kCapacity>
class InplaceFunction<R(Args...), kCapacity> {
public:
    InplaceFunction() = default;

    template <class F, class D = std::decay_t<F>,
              class = std::enable_if_t<!std::is_same_v<D, InplaceFunction> &&
                                       std::is_invocable_r_v<R, const D&, Args...>>>
    InplaceFunction(F&& f) {  // NOLINT: implicit, as std::function's
        static_assert(sizeof(D) <= kCapacity, "the callable's captures do not fit: raise kCapacity");
        static_assert(alignof(D) <= alignof(std::max_align_t), "over-aligned callable");
        ::new (static_cast<void*>(storage_)) D(std::forward<F>(f));
        invoke_ = [](const void* p, Args... args) -> R {
            return (*static_cast<const D*>(p))(std::forward<Args>(args)...);
        };
        manage_ = [](void* dst, void* src) {
            if (dst) ::new (dst) D(std::move(*static_cast<D*>(src)));
            static_cast<D*>(src)->~D();
        };
    }

    InplaceFunction(InplaceFunction&& other) noexcept { take(other); }
    InplaceFunction& operator=(InplaceFunction&& other) noexcept {
        if (this != &other) {
            reset();
            take(other);
        }
        return *this;
    }
    InplaceFunction(const InplaceFunction&) = delete;
    InplaceFunction& operator=(const InplaceFunction&) = delete;
    ~InplaceFunction() { reset(); }

    explicit operator bool() const { return invoke_ != nullptr; }
    R operator()(Args... args) const { return invoke_(storage_, std::forward<Args>(args)...); }

private:
    void reset() {
        if (manage_) manage_(nullptr, storage_);  // destroy
        invoke_ = nullptr;
        manage_ = nullptr;
    }
    // Moves other's callable here (other must be empty afterwards: its object is destroyed).
    void take(InplaceFunction& other) {
        if (!other.manage_) return;
        other.manage_(storage_, other.storage_);  // move-construct here, destroy there
        invoke_ = other.invoke_;
        manage_ = other.manage_;
        other.invoke_ = nullptr;
        other.manage_ = nullptr;
    }

    alignas(std::max_align_t) unsigned char storage_[kCapacity];
    R (*invoke_)(const void*, Args...) = nullptr;
    void (*manage_)(void* dst, void* src) = nullptr;  // dst null: destroy src; else move src to dst, destroy src
};

}  // namespace shootout

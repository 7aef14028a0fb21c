// The error a backend throws when its device's memory (a GPU's) runs out, apart from every other
// Error: the CLI catches it to name the model that did not fit and the option that makes a run hold
// fewer models at once (`run --gpu-memory`, cli/device_plan.h).
#pragma once

#include "util/error.h"

namespace shootout::backend {

class OutOfDeviceMemory : public Error {
public:
    explicit OutOfDeviceMemory(const std::string& message) : Error(message) {}
};

}  // namespace shootout::backend

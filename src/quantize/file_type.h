// llama-quantize's file types (llama.h LLAMA_FTYPE_*): the names a user types (Q4_K_M, IQ2_XS, ...),
// the id written as general.file_type, and the tensor type a mixture starts from before its rules.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "quant/type_table.h"

namespace shootout::quantize {

// The numeric values are llama.cpp's enum llama_ftype, as stored in general.file_type.
enum class FileType : uint32_t {
    ALL_F32 = 0, F16 = 1, Q4_0 = 2, Q4_1 = 3, Q8_0 = 7, Q5_0 = 8, Q5_1 = 9,
    Q2_K = 10, Q3_K_S = 11, Q3_K_M = 12, Q3_K_L = 13, Q4_K_S = 14, Q4_K_M = 15,
    Q5_K_S = 16, Q5_K_M = 17, Q6_K = 18, IQ2_XXS = 19, IQ2_XS = 20, Q2_K_S = 21,
    IQ3_XS = 22, IQ3_XXS = 23, IQ1_S = 24, IQ4_NL = 25, IQ3_S = 26, IQ3_M = 27,
    IQ2_S = 28, IQ2_M = 29, IQ4_XS = 30, IQ1_M = 31, BF16 = 32, TQ1_0 = 36, TQ2_0 = 37,
    MXFP4_MOE = 38,
};

struct FileTypeInfo {
    FileType id;
    const char* name;          // llama-quantize's name: "Q4_K_M", "F32", "MXFP4_MOE"
    quant::TypeId base_type;   // llama_ftype_get_default_type: the type most tensors get
};

// Every file type, in llama-quantize's listing order.
const std::vector<FileTypeInfo>& file_types();
const FileTypeInfo& file_type_info(FileType id);
// Case-insensitive lookup by name; also llama-quantize's aliases Q3_K, Q4_K, Q5_K (the _M variants).
// Throws Error listing the known names when `name` is none of them.
const FileTypeInfo& find_file_type(std::string_view name);

}  // namespace shootout::quantize

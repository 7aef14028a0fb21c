#include "quantize/file_type.h"

#include <cctype>
#include <string>

#include "util/error.h"

namespace shootout::quantize {

using quant::TypeId;

const std::vector<FileTypeInfo>& file_types() {
    // Base types from llama-quant.cpp llama_ftype_get_default_type. Note the mixtures whose base is
    // not their namesake: IQ3_XS and IQ3_M start from IQ3_S, IQ2_S from IQ2_XS, IQ2_M from IQ2_S.
    static const std::vector<FileTypeInfo> table = {
        {FileType::Q4_0, "Q4_0", TypeId::Q4_0},
        {FileType::Q4_1, "Q4_1", TypeId::Q4_1},
        {FileType::MXFP4_MOE, "MXFP4_MOE", TypeId::MXFP4},
        {FileType::Q5_0, "Q5_0", TypeId::Q5_0},
        {FileType::Q5_1, "Q5_1", TypeId::Q5_1},
        {FileType::IQ2_XXS, "IQ2_XXS", TypeId::IQ2_XXS},
        {FileType::IQ2_XS, "IQ2_XS", TypeId::IQ2_XS},
        {FileType::IQ2_S, "IQ2_S", TypeId::IQ2_XS},
        {FileType::IQ2_M, "IQ2_M", TypeId::IQ2_S},
        {FileType::IQ1_S, "IQ1_S", TypeId::IQ1_S},
        {FileType::IQ1_M, "IQ1_M", TypeId::IQ1_M},
        {FileType::TQ1_0, "TQ1_0", TypeId::TQ1_0},
        {FileType::TQ2_0, "TQ2_0", TypeId::TQ2_0},
        {FileType::Q2_K, "Q2_K", TypeId::Q2_K},
        {FileType::Q2_K_S, "Q2_K_S", TypeId::Q2_K},
        {FileType::IQ3_XXS, "IQ3_XXS", TypeId::IQ3_XXS},
        {FileType::IQ3_S, "IQ3_S", TypeId::IQ3_S},
        {FileType::IQ3_M, "IQ3_M", TypeId::IQ3_S},
        {FileType::IQ3_XS, "IQ3_XS", TypeId::IQ3_S},
        {FileType::Q3_K_S, "Q3_K_S", TypeId::Q3_K},
        {FileType::Q3_K_M, "Q3_K_M", TypeId::Q3_K},
        {FileType::Q3_K_L, "Q3_K_L", TypeId::Q3_K},
        {FileType::IQ4_NL, "IQ4_NL", TypeId::IQ4_NL},
        {FileType::IQ4_XS, "IQ4_XS", TypeId::IQ4_XS},
        {FileType::Q4_K_S, "Q4_K_S", TypeId::Q4_K},
        {FileType::Q4_K_M, "Q4_K_M", TypeId::Q4_K},
        {FileType::Q5_K_S, "Q5_K_S", TypeId::Q5_K},
        {FileType::Q5_K_M, "Q5_K_M", TypeId::Q5_K},
        {FileType::Q6_K, "Q6_K", TypeId::Q6_K},
        {FileType::Q8_0, "Q8_0", TypeId::Q8_0},
        {FileType::F16, "F16", TypeId::F16},
        {FileType::BF16, "BF16", TypeId::BF16},
        {FileType::ALL_F32, "F32", TypeId::F32},
    };
    return table;
}

const FileTypeInfo& file_type_info(FileType id) {
    for (const auto& info : file_types()) {
        if (info.id == id) return info;
    }
    throw Error("unknown llama file type id " + std::to_string(static_cast<uint32_t>(id)));
}

static bool equals_ignore_case(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i) {
        if (std::toupper(static_cast<unsigned char>(a[i])) != std::toupper(static_cast<unsigned char>(b[i]))) {
            return false;
        }
    }
    return true;
}

const FileTypeInfo& find_file_type(std::string_view name) {
    // llama-quantize's aliases: the bare K-quant names mean the _M mixture.
    static const std::pair<const char*, FileType> aliases[] = {
        {"Q3_K", FileType::Q3_K_M}, {"Q4_K", FileType::Q4_K_M}, {"Q5_K", FileType::Q5_K_M}};
    for (const auto& info : file_types()) {
        if (equals_ignore_case(info.name, name)) return info;
    }
    for (const auto& [alias, id] : aliases) {
        if (equals_ignore_case(alias, name)) return file_type_info(id);
    }
    std::string known;
    for (const auto& info : file_types()) known += std::string(known.empty() ? "" : ", ") + info.name;
    throw Error("unknown recipe '" + std::string(name) + "' (known: " + known + ")");
}

}  // namespace shootout::quantize

// A fixed report for the output tests: hand-set statistics (not computed), so expected text is exact.
#pragma once

#include "report/shootout_report.h"

inline shootout::report::ShootoutReport fixed_report() {
    using namespace shootout;
    report::ShootoutReport r;
    r.title = "Qwen3 \"34M\" shootout";
    r.reference_mode = "dense";
    r.n_ctx = 512;
    r.n_chunks = 40;
    r.n_scored_tokens = 10200;
    r.texts = {"wikitext-2-test.txt"};
    r.reference = {"BF16", "/models/model-bf16.gguf", 67700000, 67000000, 33500000};
    r.reference_ppl.n_tokens = 10200;
    r.reference_ppl.ppl = {24.123456, 0.51234};
    r.reference_ppl.mean_nll = {3.1832, 0.02124};

    report::VariantColumn q4;
    q4.model = {"Q4_K_M", "/models/q4_k_m.gguf", 25165824, 23000000, 33500000};
    eval::KldStats& s = q4.stats;
    s.n_tokens = 10200;
    s.enough_tokens = true;
    s.ppl_variant.ppl = {25.5, 0.55};
    s.ppl_reference.ppl = r.reference_ppl.ppl;
    s.ppl_ratio = {1.05706, 0.00312};
    s.ln_ppl_ratio = {0.05551, 0.00295};
    s.ppl_difference = {1.376544, 0.0701};
    s.ln_ppl_correlation = 0.9912;
    s.kld = {0.0412341, 0.000612};
    s.kld_quantiles.median = 0.0153;
    s.kld_quantiles.p99 = 0.4123;
    s.kld_quantiles.max = 3.25;
    s.kld_quantiles.min = -0.0000012f;
    s.same_top = {0.91234, 0.0028};
    s.n_same_top = 9306;
    s.rms_delta_p = {0.0512, 0.0008};
    r.variants.push_back(q4);

    report::VariantColumn odd = q4;
    odd.model = {"my|quant, \"v2\"", "", 1073741824, 0, 0};  // a name that needs escaping everywhere
    odd.stats.same_top = {1.0, 0.0};
    r.variants.push_back(odd);
    return r;
}

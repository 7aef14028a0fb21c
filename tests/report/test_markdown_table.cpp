#include <gtest/gtest.h>

#include "report/llama_style_text.h"
#include "report/shootout_report.h"
#include "report_fixture.h"

using namespace shootout::report;

TEST(MarkdownTable, ExactOutputOnAFixedReport) {
    const std::string expected =
        "| Metric | BF16 (reference) | Q4_K_M | my\\|quant, \"v2\" |\n"
        "|---|---:|---:|---:|\n"
        "| Same top-1 (%) | — | 91.23 ± 0.28 | 100.00 ± 0.00 |\n"
        "| Mean KLD | — | 0.041234 ± 0.000612 | 0.041234 ± 0.000612 |\n"
        "| Median KLD | — | 0.015300 | 0.015300 |\n"
        "| 99th pct KLD | — | 0.412300 | 0.412300 |\n"
        "| Max KLD | — | 3.250000 | 3.250000 |\n"
        "| PPL | 24.1235 ± 0.5123 | 25.5000 ± 0.5500 | 25.5000 ± 0.5500 |\n"
        "| PPL ratio | 1 | 1.0571 ± 0.0031 | 1.0571 ± 0.0031 |\n"
        "| File size (GiB) | 0.063 | 0.023 | 1.000 |\n"
        "| Bits per weight | 16.00 | 5.49 | 0.00 |\n"
        "\n"
        "40 chunks of 512 tokens, 10200 scored tokens (wikitext-2-test.txt); reference log-probs exact "
        "(streamed, not compressed). Uncertainties are one standard error, as llama-perplexity prints them.\n";
    EXPECT_EQ(markdown_table(fixed_report()), expected);
}

TEST(MarkdownTable, ModeNotes) {
    ShootoutReport r = fixed_report();
    r.reference_mode = "top-k";
    r.variants[0].stats.kld_error_bound_mean = 0.00125;
    EXPECT_NE(markdown_table(r).find("mean KLD may read low by at most 0.00125"), std::string::npos);
    r.reference_mode = "llama-logits-file";
    EXPECT_NE(markdown_table(r).find("llama.cpp --kl-divergence-base file"), std::string::npos);
}

TEST(LlamaStyleText, SameLayoutAsLlamaPerplexity) {
    const shootout::eval::KldStats s = fixed_report().variants[0].stats;
    const std::string summary = llama_style_summary(s);
    EXPECT_NE(summary.find("Mean PPL(Q)                   :  25.500000 ±   0.550000\n"), std::string::npos) << summary;
    EXPECT_NE(summary.find("Cor(ln(PPL(Q)), ln(PPL(base))):  99.12%\n"), std::string::npos) << summary;
    EXPECT_NE(summary.find("Mean    KLD:   0.041234 ±   0.000612\n"), std::string::npos) << summary;
    EXPECT_NE(summary.find("Minimum KLD:  -0.000001\n"), std::string::npos) << summary;
    EXPECT_NE(summary.find("Same top p: 91.234 ± 0.280 %\n"), std::string::npos) << summary;
    EXPECT_EQ(progress_line(7, s),
              "   7      25.5000 ±    0.5500       0.05551 ±    0.00295       0.04123 ±    0.00061     5.120 ±  0.080 %"
              "    91.234 ±  0.280 %\n");
}

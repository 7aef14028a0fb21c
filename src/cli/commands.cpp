// The list of subcommands, in the order --help lists them. Each is built in its own file
// (command_<name>.cpp).
#include "cli/command.h"

namespace shootout::cli {

Command run_command();
Command quantize_command();
Command eval_command();
Command inspect_command();
Command tokenize_command();
Command bench_command();
Command synth_command();
Command imatrix_command();
Command convert_command();

const std::vector<Command>& commands() {
    static const std::vector<Command> list = {
        run_command(), quantize_command(), eval_command(), inspect_command(), tokenize_command(),
        bench_command(),
        synth_command(),
        imatrix_command(),
        convert_command(),
    };
    return list;
}

}  // namespace shootout::cli

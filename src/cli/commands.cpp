// The list of subcommands. Each is built in its own file (command_<name>.cpp).
#include "cli/command.h"

namespace shootout::cli {

Command inspect_command();
Command quantize_command();
Command run_command();

const std::vector<Command>& commands() {
    static const std::vector<Command> list = {
        inspect_command(),
        quantize_command(),
        run_command(),
    };
    return list;
}

}  // namespace shootout::cli

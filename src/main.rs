//! The `x402-gateway` binary: parse arguments, run, exit with the command's code.

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    std::process::exit(x402_gateway::cli::main());
}

use std::process::ExitCode;

// The HTTP workers run their own runtimes (actix); the main thread only starts the server and
// runs the background loops (key reload, outbox), so it needs no worker threads of its own.
#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let cli = authgate::cli::parse();
    authgate::cli::run(cli).await
}

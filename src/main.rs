use std::io::Write as _;
use std::process::ExitCode;

// The HTTP workers run their own runtimes (actix); the main thread only starts the server and
// runs the background loops (key reload, outbox), so it needs no worker threads of its own.
#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let cli = authgate::cli::parse();
    let code = authgate::cli::run(cli).await;
    // Everything the command does is done and reported: leave without the C libraries' exit-time
    // teardown. Under load, OpenSSL's (linked by libpq) now and then aborted the process there,
    // after a successful command, turning its exit status into a failure with no message.
    let _ = std::io::stdout().flush();
    let _ = std::io::stderr().flush();
    let status = if code == ExitCode::SUCCESS { 0 } else { 1 };
    // SAFETY: `_exit` ends the process at once; nothing after this point needs to run.
    unsafe { libc::_exit(status) }
}

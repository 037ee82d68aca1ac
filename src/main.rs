use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = authgate::settings::parse();
    authgate::cli::run(cli).await
}

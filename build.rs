//! Lays out the release binary's functions in the order of `bench/link-order.txt`: the code run
//! at start first, then the code that serves requests. The kernel maps code 64 KB around every
//! page fault, so start-up code spread over the whole text kept 8 MB of it resident in an idle
//! server; grouped, it is about 2 MB (bench/README.md, "Idle memory").
//!
//! Only where LLD links by default (Rust 1.90 and later on x86_64 Linux): GNU ld has no
//! `--symbol-ordering-file`. `AUTHGATE_LINK_ORDER=0` turns it off (another linker, say).

use std::env;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=bench/link-order.txt");
    println!("cargo:rerun-if-env-changed=AUTHGATE_LINK_ORDER");
    let release = env::var("PROFILE").is_ok_and(|p| p == "release");
    let lld_target = env::var("TARGET").is_ok_and(|t| t == "x86_64-unknown-linux-gnu");
    let wanted = env::var("AUTHGATE_LINK_ORDER").map_or(true, |v| v != "0");
    if !(release && lld_target && wanted && rustc_links_with_lld()) {
        return;
    }
    let order = concat!(env!("CARGO_MANIFEST_DIR"), "/bench/link-order.txt");
    // Names the file has and this build does not (another toolchain) are skipped, not errors.
    println!("cargo:rustc-link-arg-bin=authgate=-Wl,--symbol-ordering-file={order}");
    println!("cargo:rustc-link-arg-bin=authgate=-Wl,--no-warn-symbol-ordering");
}

/// Rust 1.90 made its bundled LLD the default linker on x86_64-unknown-linux-gnu.
fn rustc_links_with_lld() -> bool {
    let rustc = env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let Ok(out) = Command::new(rustc).arg("--version").output() else {
        return false;
    };
    let version = String::from_utf8_lossy(&out.stdout);
    // "rustc 1.95.0 (59807616e 2026-04-14)"
    let minor = version
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.split('.').nth(1))
        .and_then(|m| m.parse::<u32>().ok());
    minor.is_some_and(|m| m >= 90)
}

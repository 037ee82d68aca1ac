//! The declared `rust-version` against what Cargo.lock really needs. No database, no server:
//! its own test target so it runs in a second.
//!
//! Exact equality, not `<=`: declared lower than the lock needs, a user on the declared
//! toolchain gets a cryptic "requires rustc 1.xx" from some dependency deep in the tree instead of
//! cargo's clear refusal up front; declared higher than needed turns away toolchains that would
//! build it. Either way the number in Cargo.toml and docs/building.md stops being true. If
//! authgate's own code ever needs a newer toolchain than every dependency, this test is the one
//! to change (compare with `>=` then and say why).

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::process::Command;

use serde_json::Value;

fn cargo() -> Command {
    let mut command = Command::new(env!("CARGO"));
    command.current_dir(env!("CARGO_MANIFEST_DIR"));
    command
}

/// `1.85` and `1.85.0` compare equal; missing parts are zero.
fn parse_version(text: &str) -> (u64, u64, u64) {
    let mut parts = text.split('.').map(|part| {
        part.parse::<u64>()
            .unwrap_or_else(|_| panic!("rust-version {text:?} is not numeric"))
    });
    (
        parts.next().unwrap_or(0),
        parts.next().unwrap_or(0),
        parts.next().unwrap_or(0),
    )
}

/// The host triple, from `cargo -vV` (the platform the lock file is resolved for here).
fn host_triple() -> String {
    let output = cargo().arg("-vV").output().expect("run cargo -vV");
    assert!(output.status.success(), "cargo -vV failed");
    String::from_utf8(output.stdout)
        .expect("cargo -vV output is UTF-8")
        .lines()
        .find_map(|line| line.strip_prefix("host: "))
        .expect("cargo -vV names the host")
        .trim()
        .to_owned()
}

#[test]
fn declared_rust_version_is_what_the_lock_file_needs() {
    let output = cargo()
        .args([
            "metadata",
            "--format-version",
            "1",
            "--locked",
            "--filter-platform",
        ])
        .arg(host_triple())
        .arg("--manifest-path")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml"))
        .output()
        .expect("run cargo metadata");
    assert!(
        output.status.success(),
        "cargo metadata --locked failed (is Cargo.lock out of date?): {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let metadata: Value = serde_json::from_slice(&output.stdout).expect("cargo metadata JSON");

    let packages: HashMap<&str, &Value> = metadata["packages"]
        .as_array()
        .expect("packages")
        .iter()
        .map(|package| (package["id"].as_str().expect("package id"), package))
        .collect();
    let root = metadata["resolve"]["root"]
        .as_str()
        .expect("resolve.root (authgate)");
    let declared = packages[root]["rust_version"]
        .as_str()
        .expect("Cargo.toml declares rust-version");

    // Everything reachable from authgate through its normal, dev and build dependencies on this
    // platform (the resolve graph cargo metadata filtered for the host).
    let edges: HashMap<&str, Vec<&str>> = metadata["resolve"]["nodes"]
        .as_array()
        .expect("resolve.nodes")
        .iter()
        .map(|node| {
            let deps = node["deps"]
                .as_array()
                .expect("node deps")
                .iter()
                .map(|dep| dep["pkg"].as_str().expect("dep pkg"))
                .collect();
            (node["id"].as_str().expect("node id"), deps)
        })
        .collect();
    let mut reachable = HashSet::new();
    let mut pending = vec![root];
    while let Some(id) = pending.pop() {
        if reachable.insert(id) {
            pending.extend(edges.get(id).into_iter().flatten().copied());
        }
    }
    reachable.remove(root);

    let mut needed: Vec<((u64, u64, u64), String)> = reachable
        .iter()
        .filter_map(|id| {
            let package = packages[id];
            let version = package["rust_version"].as_str()?;
            Some((
                parse_version(version),
                format!(
                    "{} {} (rust-version {version})",
                    package["name"].as_str().unwrap_or("?"),
                    package["version"].as_str().unwrap_or("?")
                ),
            ))
        })
        .collect();
    needed.sort();
    let (highest, _) = needed
        .last()
        .expect("some dependency declares a rust-version");
    let culprits: Vec<&str> = needed
        .iter()
        .filter(|(version, _)| version == highest)
        .map(|(_, name)| name.as_str())
        .collect();

    assert_eq!(
        parse_version(declared),
        *highest,
        "Cargo.toml says rust-version = \"{declared}\", but the newest toolchain Cargo.lock needs \
         is {}.{} ({}). Set rust-version to that, and the same figure in docs/building.md \
         and the Dockerfile's rust image.",
        highest.0,
        highest.1,
        culprits.join(", ")
    );
}

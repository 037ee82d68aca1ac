//! The house rules of `src/`, read from the code's own `crate::` paths: every top-level module
//! (a room) sits on a floor, and a room may use only rooms on lower floors. So there is no import
//! loop and nothing imports upward; a new room must be given a floor here and in
//! docs/architecture.md before it builds.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The floors, lowest first; the same table as docs/architecture.md.
const FLOORS: &[(&str, u8)] = &[
    ("paths", 0),
    ("metrics", 0),
    ("settings", 1),
    ("telemetry", 2),
    ("templates", 1),
    ("error", 2),
    ("domain", 3),
    ("crypto", 4),
    ("runtime", 4),
    ("db", 5),
    ("limits", 5),
    ("clients", 5),
    ("tokens", 6),
    ("state", 7),
    ("notify", 8),
    ("service", 9),
    ("http", 10),
    ("routes", 11),
    ("proxy", 11),
    ("startup", 12),
    ("cli", 13),
];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("src/ is readable") {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The room a file belongs to: its first path component below `src/` (`lib`/`main` for the
/// crate roots).
fn room_of(src: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(src).expect("file under src/");
    let first = rel.components().next().expect("non-empty path");
    let name = first.as_os_str().to_string_lossy();
    name.strip_suffix(".rs").unwrap_or(&name).to_owned()
}

/// Line comments dropped (doc comments name other modules freely), string literals kept: a
/// `crate::` path in a string is not an import and does not occur in this code base.
fn code_only(text: &str) -> String {
    text.lines()
        .map(|l| match l.find("//") {
            Some(i) => &l[..i],
            None => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The rooms named by every `crate::` path in `code`, including each member of a
/// `crate::{a, b::c}` group.
fn rooms_used(code: &str) -> BTreeSet<String> {
    let mut used = BTreeSet::new();
    let ident = |s: &str| -> String {
        s.chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect()
    };
    for (i, _) in code.match_indices("crate::") {
        // `$crate::` in macros names the defining crate, like `crate::`.
        let rest = &code[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let mut depth = 0usize;
            let mut item_start = true;
            for (j, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => item_start = true,
                    c if c.is_whitespace() => {}
                    _ if item_start && depth == 0 => {
                        let name = ident(&group[j..]);
                        if !name.is_empty() && name != "self" {
                            used.insert(name);
                        }
                        item_start = false;
                    }
                    _ => {}
                }
            }
        } else {
            let name = ident(rest);
            if !name.is_empty() {
                used.insert(name);
            }
        }
    }
    used
}

fn imports() -> BTreeMap<String, BTreeSet<(String, String)>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut by_room: BTreeMap<String, BTreeSet<(String, String)>> = BTreeMap::new();
    for file in files {
        let room = room_of(&src, &file);
        let text = std::fs::read_to_string(&file).expect("source is UTF-8");
        let shown = file
            .strip_prefix(&src)
            .unwrap_or(&file)
            .display()
            .to_string();
        let entry = by_room.entry(room.clone()).or_default();
        for used in rooms_used(&code_only(&text)) {
            if used != room {
                entry.insert((used, shown.clone()));
            }
        }
    }
    by_room
}

#[test]
fn every_room_imports_only_from_lower_floors() {
    let floors: BTreeMap<&str, u8> = FLOORS.iter().copied().collect();
    let mut wrong = Vec::new();
    for (room, uses) in imports() {
        if room == "lib" || room == "main" {
            continue;
        }
        let Some(&here) = floors.get(room.as_str()) else {
            wrong.push(format!(
                "src/{room} has no floor: add it to FLOORS and docs/architecture.md"
            ));
            continue;
        };
        for (used, file) in uses {
            match floors.get(used.as_str()) {
                Some(&there) if there < here => {}
                Some(&there) => wrong.push(format!(
                    "src/{file} ({room}, floor {here}) uses {used} (floor {there})"
                )),
                None => wrong.push(format!("src/{file} uses crate::{used}, which has no floor")),
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "imports against the floors:\n{}",
        wrong.join("\n")
    );
}

/// Below the HTTP edge nothing knows the web framework: services, state, clients and the rest
/// can be called from the CLI, a test or another front end as they are.
#[test]
fn no_room_below_http_uses_the_web_framework() {
    let floors: BTreeMap<&str, u8> = FLOORS.iter().copied().collect();
    let edge = floors["http"];
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut wrong = Vec::new();
    for file in files {
        let room = room_of(&src, &file);
        if floors.get(room.as_str()).is_none_or(|&f| f >= edge) {
            continue;
        }
        let code = code_only(&std::fs::read_to_string(&file).expect("source is UTF-8"));
        for framework in ["actix_web", "actix_http", "actix_rt", "awc::"] {
            if code.contains(framework) {
                wrong.push(format!("{} ({room}) uses {framework}", file.display()));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn the_floor_table_names_only_rooms_that_exist_and_matches_the_docs() {
    let rooms: BTreeSet<String> = imports().into_keys().collect();
    let docs =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/architecture.md"))
            .expect("docs/architecture.md");
    for (room, floor) in FLOORS {
        assert!(rooms.contains(*room), "{room} is in FLOORS but not in src/");
        assert!(
            docs.lines()
                .any(|l| l.starts_with(&format!("| {floor} |")) && l.contains(&format!("`{room}`"))),
            "docs/architecture.md does not put `{room}` on floor {floor}"
        );
    }
}

#[test]
fn the_import_reader_sees_groups_paths_and_macros() {
    let code = "use crate::{db::{self, X}, error::ApiError, self};\nlet _ = crate::tokens::a();\n$crate::paths::x";
    let used: Vec<String> = rooms_used(code).into_iter().collect();
    assert_eq!(used, ["db", "error", "paths", "tokens"]);
    assert_eq!(code_only("a // crate::x\nb"), "a \nb");
}

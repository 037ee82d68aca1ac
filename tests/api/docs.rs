//! The documentation a newcomer reads first: README.md stays short and opens with the two
//! commands, and no relative link in README.md or docs/*.md leads nowhere.

use std::path::{Path, PathBuf};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// Under 12 KB however a kilobyte is counted (`wc -c README.md`).
const README_LIMIT_BYTES: usize = 12_000;

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The lines of `text` outside fenced code blocks, with their line numbers.
fn prose_lines(text: &str) -> Vec<(usize, &str)> {
    let mut fenced = false;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if !fenced {
            out.push((i + 1, line));
        }
    }
    out
}

/// The bodies of fenced code blocks, in order.
fn code_blocks(text: &str) -> Vec<Vec<&str>> {
    let mut blocks = Vec::new();
    let mut current: Option<Vec<&str>> = None;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            match current.take() {
                Some(block) => blocks.push(block),
                None => current = Some(Vec::new()),
            }
        } else if let Some(block) = current.as_mut() {
            block.push(line);
        }
    }
    blocks
}

/// Every markdown link target `](target)` on the line, without an optional `"title"`.
fn link_targets(line: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = line;
    while let Some(at) = rest.find("](") {
        let after = &rest[at + 2..];
        let Some(end) = after.find(')') else { break };
        let target = after[..end].split_whitespace().next().unwrap_or_default();
        out.push(target);
        rest = &after[end..];
    }
    out
}

/// The anchor GitHub gives a heading: lower case, punctuation dropped, spaces as hyphens.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == ' ' || *c == '-' || *c == '_')
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

fn anchors(markdown: &str) -> Vec<String> {
    prose_lines(markdown)
        .into_iter()
        .filter_map(|(_, line)| line.strip_prefix('#'))
        .map(|h| slug(h.trim_start_matches('#')))
        .collect()
}

fn markdown_pages() -> Vec<PathBuf> {
    let mut pages = vec![Path::new(ROOT).join("README.md")];
    let mut docs: Vec<PathBuf> = std::fs::read_dir(Path::new(ROOT).join("docs"))
        .expect("docs/")
        .map(|e| e.expect("docs/ entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .collect();
    docs.sort();
    pages.extend(docs);
    pages
}

/// Every relative link that leads nowhere, as `page:line: target (why)`.
fn broken_links(pages: &[PathBuf]) -> Vec<String> {
    let mut broken = Vec::new();
    for page in pages {
        let text = read(page);
        let dir = page.parent().expect("a page has a directory");
        for (number, line) in prose_lines(&text) {
            for target in link_targets(line) {
                if target.is_empty() || target.contains("://") || target.starts_with("mailto:") {
                    continue;
                }
                let (path, anchor) = match target.split_once('#') {
                    Some((path, anchor)) => (path, Some(anchor)),
                    None => (target, None),
                };
                let file = if path.is_empty() {
                    page.clone()
                } else {
                    dir.join(path)
                };
                let at = format!(
                    "{}:{number}: {target}",
                    page.strip_prefix(ROOT).unwrap_or(page).display()
                );
                if !file.exists() {
                    broken.push(format!("{at} (no such file)"));
                    continue;
                }
                let is_markdown = file.extension().is_some_and(|x| x == "md");
                if let (Some(anchor), true) = (anchor, is_markdown) {
                    if !anchors(&read(&file)).iter().any(|a| a == anchor) {
                        broken.push(format!("{at} (no such heading)"));
                    }
                }
            }
        }
    }
    broken
}

#[test]
fn readme_stays_under_12_kb_and_starts_with_the_two_commands() {
    let readme = read(&Path::new(ROOT).join("README.md"));
    assert!(
        readme.len() < README_LIMIT_BYTES,
        "README.md is {} bytes; keep it under {README_LIMIT_BYTES} and move detail to docs/",
        readme.len()
    );
    let blocks = code_blocks(&readme);
    let first = blocks.first().expect("README.md has a code block");
    let commands: Vec<&str> = first
        .iter()
        .map(|line| line.split('#').next().unwrap_or_default().trim())
        .filter(|command| !command.is_empty())
        .collect();
    assert_eq!(
        commands,
        ["cargo run --release", "cargo test"],
        "README.md's first code block is exactly the two commands: run the service, run every test"
    );
    assert!(
        readme.contains("AUTHGATE_TEST_POSTGRES_URL"),
        "README.md says how the PostgreSQL half of the suite is turned on"
    );
}

#[test]
fn links_in_the_docs_point_at_files_that_exist() {
    let broken = broken_links(&markdown_pages());
    assert!(
        broken.is_empty(),
        "relative links that lead nowhere:\n{}",
        broken.join("\n")
    );
}

#[test]
fn the_link_checker_finds_a_missing_file_and_a_missing_heading() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let page = dir.path().join("page.md");
    std::fs::write(
        dir.path().join("other.md"),
        "# Other page\n\n## Rate limits and lockout\n",
    )
    .unwrap();
    std::fs::write(
        &page,
        "# Page\n\n[ok](other.md) [ok](other.md#rate-limits-and-lockout) [ok](#page) \
         [ok](https://example.com/x) [ok](other.md \"title\")\n\
         [gone](missing.md) [gone](other.md#no-such-heading)\n\
         ```\n[inside a code block](ignored.md)\n```\n",
    )
    .unwrap();
    let broken = broken_links(&[page]);
    assert_eq!(broken.len(), 2, "{broken:?}");
    assert!(
        broken[0].ends_with("missing.md (no such file)"),
        "{broken:?}"
    );
    assert!(
        broken[1].ends_with("other.md#no-such-heading (no such heading)"),
        "{broken:?}"
    );
    assert_eq!(
        slug("Cross-origin and cross-site set-ups"),
        "cross-origin-and-cross-site-set-ups"
    );
    assert_eq!(
        slug("Forward auth (nginx, Traefik, Envoy)"),
        "forward-auth-nginx-traefik-envoy"
    );
}

/// docs/configuration.md is what `authgate settings-reference` prints from the command-line
/// definitions: a setting added, renamed or redescribed without regenerating it fails here.
#[test]
fn the_configuration_reference_is_generated_and_current() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/configuration.md");
    let on_disk = std::fs::read_to_string(path).expect("docs/configuration.md");
    let generated = authgate::cli::configuration_markdown();
    assert!(
        on_disk == generated,
        "docs/configuration.md is stale: run `cargo run -q -- settings-reference > docs/configuration.md`"
    );
    for variable in [
        "AUTHGATE_DATABASE_URL",
        "AUTHGATE_AUDIT_RETENTION",
        "AUTHGATE_UPSTREAM",
    ] {
        assert!(
            generated.contains(&format!("| `{variable}` |")),
            "{variable}"
        );
    }
}

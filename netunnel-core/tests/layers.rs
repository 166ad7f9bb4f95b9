//! The core's modules form layers: each uses only modules below it, so there
//! is no import cycle. The order is ARCHITECTURE.md's; this test reads every
//! source file and fails on a `crate::` path that reaches up or sideways.

use std::path::{Path, PathBuf};

/// Bottom up. A module may use the ones before it in this list.
const ORDER: &[&str] = &[
    "error",
    "instance",
    "runtime",
    "secret",
    "sync",
    "metrics",
    "read_ahead",
    "ws",
    "http_head",
    "proxy",
    "wire",
    "config",
    "channel",
    "pump",
    "transport",
    "tunnel",
    "auth",
    "client",
    "peer",
    "server",
    "frontend",
];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            out.push(path);
        }
    }
}

/// The top-level module a file belongs to (`src/tunnel/exit.rs`: `tunnel`).
fn module_of(src: &Path, file: &Path) -> Option<String> {
    let relative = file.strip_prefix(src).ok()?;
    let first = relative.components().next()?.as_os_str().to_str()?;
    Some(first.trim_end_matches(".rs").to_string())
}

/// Every `crate::name` in `text` whose `name` is a lowercase module, outside
/// comments.
fn uses(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    for line in text.lines() {
        let code = line.split("//").next().unwrap_or_default();
        let mut rest = code;
        while let Some(at) = rest.find("crate::") {
            rest = &rest[at + "crate::".len()..];
            let module = |text: &str| -> String {
                text.trim_start()
                    .chars()
                    .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                    .collect()
            };
            if let Some(group) = rest.strip_prefix('{') {
                // `crate::{a::X, b}`: every top-level name of the group.
                let end = group.find('}').unwrap_or(group.len());
                let mut depth = 0;
                let mut start = 0;
                let inner = &group[..end];
                for (i, c) in inner.char_indices() {
                    match c {
                        '{' => depth += 1,
                        '}' => depth -= 1,
                        ',' if depth == 0 => {
                            found.push(module(&inner[start..i]));
                            start = i + 1;
                        }
                        _ => {}
                    }
                }
                found.push(module(&inner[start..]));
            } else {
                found.push(module(rest));
            }
        }
        found.retain(|name| !name.is_empty());
    }
    found
}

#[test]
fn every_module_uses_only_the_layers_below_it() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let rank = |name: &str| ORDER.iter().position(|m| *m == name);
    let mut wrong = Vec::new();
    for file in &files {
        let Some(module) = module_of(&src, file) else {
            continue;
        };
        // The crate root, the binary and the unit tests sit above everything.
        if module == "lib" || module == "bin" || module == "tests" {
            continue;
        }
        let own = rank(&module)
            .unwrap_or_else(|| panic!("{} is in no layer: add it to ORDER", file.display()));
        let text = std::fs::read_to_string(file).expect("read source");
        for used in uses(&text) {
            if used == module {
                continue;
            }
            match rank(&used) {
                Some(theirs) if theirs < own => {}
                _ => wrong.push(format!("{} uses crate::{used}", file.display())),
            }
        }
    }
    assert!(wrong.is_empty(), "layer violations:\n{}", wrong.join("\n"));
}

//! Every seed of the fuzz targets and every input that once made one fail
//! (`fuzz/regressions/<target>/`), run through the same checks as a plain
//! test, without the fuzzer. `scripts/fuzz` runs the fuzzer itself.
#![allow(clippy::unwrap_used)] // Tests panic on unexpected failures by design.

#[path = "../fuzz/src/lib.rs"]
mod checks;

use std::path::Path;

#[test]
fn every_seed_and_regression_passes_its_target() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let mut seen = 0;
    for (name, check) in checks::TARGETS {
        let mut seeds = 0;
        for folder in ["seeds", "regressions"] {
            let Ok(entries) = std::fs::read_dir(root.join(folder).join(name)) else {
                continue;
            };
            for entry in entries {
                let path = entry.unwrap().path();
                let data = std::fs::read(&path).unwrap();
                let outcome = std::panic::catch_unwind(|| check(&data));
                assert!(outcome.is_ok(), "{} fails {name}", path.display());
                seeds += usize::from(folder == "seeds");
                seen += 1;
            }
        }
        assert!(seeds > 0, "no seeds for {name}");
    }
    assert!(seen >= 6);
}

//! `include/netunnel.h` is what cbindgen makes of this crate today: a stale
//! committed header fails here. `NETUNNEL_UPDATE_HEADER=1` rewrites it.
#![allow(clippy::unwrap_used)] // Tests panic on unexpected failures by design.

use std::path::Path;

#[test]
fn the_committed_header_is_fresh() {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let config = cbindgen::Config::from_file(crate_dir.join("cbindgen.toml")).unwrap();
    let mut fresh = Vec::new();
    cbindgen::Builder::new()
        .with_crate(crate_dir)
        .with_config(config)
        .generate()
        .unwrap()
        .write(&mut fresh);
    let path = crate_dir.join("../include/netunnel.h");
    if std::env::var_os("NETUNNEL_UPDATE_HEADER").is_some() {
        std::fs::write(&path, &fresh).unwrap();
        return;
    }
    let committed = std::fs::read(&path).unwrap_or_default();
    assert!(
        committed == fresh,
        "include/netunnel.h is stale: run `NETUNNEL_UPDATE_HEADER=1 cargo test -p netunnel-ffi --test header`"
    );
}

//! The library's version, at compile time (macros) and at run time.

use std::ffi::c_char;

/// Major version of the library this header belongs to.
pub const NETUNNEL_VERSION_MAJOR: u32 = 2;
/// Minor version of the library this header belongs to.
pub const NETUNNEL_VERSION_MINOR: u32 = 0;
/// Patch version of the library this header belongs to.
pub const NETUNNEL_VERSION_PATCH: u32 = 0;

/// The version of the library linked at run time, e.g. `"2.0.0"`. A static
/// string: never freed.
#[no_mangle]
pub extern "C" fn netunnel_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_macros_match_the_crate_version() {
        let macros = format!(
            "{}.{}.{}",
            super::NETUNNEL_VERSION_MAJOR,
            super::NETUNNEL_VERSION_MINOR,
            super::NETUNNEL_VERSION_PATCH
        );
        assert_eq!(macros, env!("CARGO_PKG_VERSION"));
        assert_eq!(netunnel_core::VERSION, env!("CARGO_PKG_VERSION"));
    }
}

//! The folder of the configuration file: created private, and refused when
//! any user could replace the file in it.

use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::Path;

/// Write permission for every user.
const OTHERS_WRITE: u32 = 0o002;
/// The sticky bit: only a file's owner may rename or remove it (`/tmp`).
const STICKY: u32 = 0o1000;

/// What the folder's permissions mean for the file.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Verdict {
    /// Only its owner (and group) can write to it, or it does not exist yet.
    Private,
    /// Every user may create files in it, but not replace ours (sticky).
    Shared,
    /// Every user may replace the file: refused.
    Open,
}

/// Judges the folder `folder` (an `io::Error` when it cannot be read).
pub(super) fn judge(folder: &Path) -> std::io::Result<Verdict> {
    let mode = match std::fs::metadata(folder) {
        Ok(meta) => meta.permissions().mode(),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Verdict::Private),
        Err(err) => return Err(err),
    };
    Ok(match (mode & OTHERS_WRITE != 0, mode & STICKY != 0) {
        (false, _) => Verdict::Private,
        (true, true) => Verdict::Shared,
        (true, false) => Verdict::Open,
    })
}

/// Creates `folder` and any missing parents, readable by their owner only.
pub(super) fn create(folder: &Path) -> std::io::Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(folder)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_mode(mode: u32) -> (tempfile::TempDir, Verdict) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(mode)).unwrap();
        let verdict = judge(dir.path()).unwrap();
        (dir, verdict)
    }

    #[test]
    fn folders_are_judged_by_who_may_replace_the_file() {
        assert_eq!(with_mode(0o700).1, Verdict::Private);
        assert_eq!(with_mode(0o775).1, Verdict::Private);
        assert_eq!(with_mode(0o1777).1, Verdict::Shared);
        assert_eq!(with_mode(0o777).1, Verdict::Open);
        assert_eq!(with_mode(0o703).1, Verdict::Open);
        assert_eq!(
            judge(Path::new("/no/such/folder")).unwrap(),
            Verdict::Private
        );
    }

    #[test]
    fn created_folders_are_private() {
        let dir = tempfile::tempdir().unwrap();
        let folder = dir.path().join("a/b");
        create(&folder).unwrap();
        for path in [dir.path().join("a"), folder] {
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o700, "{}", path.display());
        }
    }
}

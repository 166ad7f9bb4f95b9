//! Opaque handles: what the library gives out is a `Box` turned into a
//! pointer; the caller gives it back to a `_free` function exactly once.

use crate::boundary::Failure;

/// A new handle owning `value`.
pub(crate) fn give<T>(value: T) -> *mut T {
    Box::into_raw(Box::new(value))
}

/// Borrows the object behind a handle argument.
///
/// # Safety
/// `ptr` is NULL or a handle from [`give`] not freed yet, and outlives `'a`.
pub(crate) unsafe fn borrow<'a, T>(ptr: *const T, name: &str) -> Result<&'a T, Failure> {
    // SAFETY: NULL or a live `Box` allocation, per the caller's contract.
    unsafe { ptr.as_ref() }.ok_or_else(|| Failure::null(name))
}

/// Borrows the object behind a handle argument, mutably.
///
/// # Safety
/// As [`borrow`], and no other reference to it is in use.
pub(crate) unsafe fn borrow_mut<'a, T>(ptr: *mut T, name: &str) -> Result<&'a mut T, Failure> {
    // SAFETY: NULL or a live `Box` allocation, per the caller's contract.
    unsafe { ptr.as_mut() }.ok_or_else(|| Failure::null(name))
}

/// Takes back a handle (NULL: nothing).
///
/// # Safety
/// `ptr` is NULL or a handle from [`give`] not freed yet, and not used after.
pub(crate) unsafe fn take<T>(ptr: *mut T) -> Option<Box<T>> {
    if ptr.is_null() {
        return None;
    }
    // SAFETY: made by `Box::into_raw` in `give`, per the caller's contract.
    Some(unsafe { Box::from_raw(ptr) })
}

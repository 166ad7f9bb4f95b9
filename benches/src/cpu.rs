//! CPU time this process has used, so that scripts/bench can tell whether the
//! load generator itself was the bottleneck.

/// User plus system CPU time of this process so far, in clock ticks (see
/// `getconf CLK_TCK`), from /proc/self/stat; `None` where that is unreadable.
pub fn own_ticks() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The command name (field 2) may hold spaces: count fields after its ')'.
    let after_name = &stat[stat.rfind(')')? + 1..];
    let mut fields = after_name.split_whitespace().skip(11);
    let user: u64 = fields.next()?.parse().ok()?;
    let system: u64 = fields.next()?.parse().ok()?;
    Some(user + system)
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_own_ticks() {
        assert!(super::own_ticks().is_some());
    }
}

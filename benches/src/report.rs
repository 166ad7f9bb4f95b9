//! Result lines on stdout: `KIND key=value key=value ...`, one per result, so
//! that scripts/bench can pick values out with a pattern match. Every line
//! ends with `cpu_ticks=N`: the CPU time this process has used so far.

use std::io::Write;

/// Prints one result line and flushes it at once (the reader may be waiting).
pub fn line(kind: &str, pairs: &[(&str, String)]) {
    let mut text = kind.to_string();
    for (key, value) in pairs {
        text.push(' ');
        text.push_str(key);
        text.push('=');
        text.push_str(value);
    }
    if let Some(ticks) = crate::cpu::own_ticks() {
        text.push_str(&format!(" cpu_ticks={ticks}"));
    }
    let mut out = std::io::stdout().lock();
    // A closed stdout leaves nobody to tell: ignore it.
    let _ = writeln!(out, "{text}");
    let _ = out.flush();
}

/// `value` with two decimals.
pub fn fixed2(value: f64) -> String {
    format!("{value:.2}")
}

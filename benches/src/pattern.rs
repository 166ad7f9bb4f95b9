//! The deterministic byte stream that throughput transfers carry and check.
//!
//! Byte `i` of a transfer is `TABLE[i % PERIOD]`, where `TABLE` is a fixed
//! pseudo-random sequence. `PERIOD` is a prime, so a lost, repeated or reordered
//! chunk of any power-of-two size shifts the stream off the table and shows.

use std::sync::OnceLock;

/// Length of the repeating part of the stream, in bytes (a prime near 1 MiB).
pub const PERIOD: usize = 1_048_573;
/// The longest slice [`slice`] returns: the size of every read and write.
pub const CHUNK: usize = 256 * 1024;

/// The table, with its first `CHUNK` bytes repeated at its end so that any
/// slice of up to `CHUNK` bytes starting anywhere in the period is contiguous.
fn table() -> &'static [u8] {
    static TABLE: OnceLock<Vec<u8>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut bytes: Vec<u8> = (0..PERIOD)
            .map(|_| {
                // xorshift64*: fast, fixed, good enough to make shifts visible.
                state ^= state >> 12;
                state ^= state << 25;
                state ^= state >> 27;
                (state.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 56) as u8
            })
            .collect();
        bytes.extend_from_within(..CHUNK);
        bytes
    })
}

/// The `len` bytes (at most [`CHUNK`]) of the stream starting at `offset`.
pub fn slice(offset: u64, len: usize) -> &'static [u8] {
    let start = (offset % PERIOD as u64) as usize;
    &table()[start..start + len.min(CHUNK)]
}

/// Whether `data` is exactly the stream's bytes starting at `offset`.
pub fn matches(offset: u64, data: &[u8]) -> bool {
    data.chunks(CHUNK)
        .enumerate()
        .all(|(i, part)| part == slice(offset + (i * CHUNK) as u64, part.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wraps_around_the_period() {
        let end = PERIOD as u64 - 10;
        let across = slice(end, 20).to_vec();
        assert_eq!(&across[..10], &table()[PERIOD - 10..PERIOD]);
        assert_eq!(&across[10..], slice(0, 10));
        assert!(matches(end, &across));
    }

    #[test]
    fn a_shifted_stream_does_not_match() {
        let data = slice(4096, 65536).to_vec();
        assert!(matches(4096, &data));
        assert!(!matches(0, &data));
        assert!(!matches(4096 + 65536, &data));
    }

    #[test]
    fn long_data_is_checked_in_chunks() {
        let mut data = slice(7, CHUNK).to_vec();
        data.extend_from_slice(slice(7 + CHUNK as u64, 100));
        assert!(matches(7, &data));
        data[CHUNK + 50] ^= 1;
        assert!(!matches(7, &data));
    }
}

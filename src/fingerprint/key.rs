//! The memo key: xxh3-64 of the canonical form (see `canon`), streamed through a stack
//! buffer so that the common case neither allocates nor hashes in pieces.

use xxhash_rust::xxh3::{Xxh3Default, xxh3_64};

use super::canon::{Sink, Slot, canonicalize};

/// Bytes buffered on the stack before spilling into a streaming hasher.
const BUF: usize = 512;

/// Hashes a byte stream in chunks; equal streams give equal hashes however they are chunked.
struct KeyHasher {
    buf: [u8; BUF],
    len: usize,
    stream: Option<Xxh3Default>,
}

impl Sink for KeyHasher {
    fn put(&mut self, text: &str) {
        self.push(text.as_bytes());
    }
}

impl KeyHasher {
    fn new() -> Self {
        KeyHasher { buf: [0; BUF], len: 0, stream: None }
    }

    fn push(&mut self, bytes: &[u8]) {
        let end = self.len + bytes.len();
        if let Some(room) = self.buf.get_mut(self.len..end) {
            room.copy_from_slice(bytes);
            self.len = end;
        } else {
            self.spill(bytes);
        }
    }

    /// The buffer is full: hash it (and `bytes`, if they do not fit either) in a stream.
    #[cold]
    fn spill(&mut self, bytes: &[u8]) {
        let stream = self.stream.get_or_insert_with(Xxh3Default::new);
        stream.update(&self.buf[..self.len]);
        self.len = 0;
        if bytes.len() > BUF {
            stream.update(bytes);
        } else {
            self.push(bytes);
        }
    }

    fn finish(mut self) -> u64 {
        match self.stream.take() {
            None => xxh3_64(&self.buf[..self.len]),
            Some(mut stream) => {
                stream.update(&self.buf[..self.len]);
                stream.digest()
            }
        }
    }
}

/// Cheap scan: a hash of the text with literals, comments and whitespace runs removed, used
/// as the memo key. No allocation; one pass over the bytes.
///
/// Invariant: two texts with equal `memo_key` normalize to the same [`Pattern`]. It holds by
/// construction: this hashes the canonical form, and [`normalize`] only ever looks at the
/// canonical form.
///
/// [`Pattern`]: super::Pattern
/// [`normalize`]: super::normalize
pub fn memo_key(sql: &str) -> u64 {
    let mut hasher = KeyHasher::new();
    canonicalize(sql, &mut hasher);
    hasher.finish()
}

/// [`memo_key`], also listing the literals it replaced in `slots` (cleared first). It lists at
/// most `max_slots + 1` of them, so a longer list means some were left out.
pub(crate) fn memo_key_with_slots(sql: &str, slots: &mut Vec<Slot>, max_slots: usize) -> u64 {
    slots.clear();
    let mut sink = Recording { hasher: KeyHasher::new(), slots, max_slots };
    canonicalize(sql, &mut sink);
    sink.hasher.finish()
}

/// A key hasher that also notes the replaced literals, up to a bound (one more marks overflow).
struct Recording<'s> {
    hasher: KeyHasher,
    slots: &'s mut Vec<Slot>,
    max_slots: usize,
}

impl Sink for Recording<'_> {
    fn put(&mut self, text: &str) {
        self.hasher.push(text.as_bytes());
    }

    fn literal(&mut self, slot: Slot) {
        if self.slots.len() <= self.max_slots {
            self.slots.push(slot);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_comments_and_spacing_do_not_matter() {
        let base = memo_key("SELECT * FROM t WHERE a = 1 AND b IN ('x', 'y') LIMIT 10");
        for same in [
            "SELECT * FROM t WHERE a = 2 AND b IN ('zz', '') LIMIT 99",
            "SELECT  *\n FROM t /* c */ WHERE a = 1 -- x\n AND b IN('x','y') LIMIT 10",
        ] {
            assert_eq!(memo_key(same), base, "{same}");
        }
    }

    #[test]
    fn structure_and_kinds_matter() {
        let base = memo_key("SELECT a FROM t WHERE a = 1");
        for other in [
            "SELECT a FROM t WHERE a = '1'",
            "SELECT a FROM t WHERE a = 1.5",
            "SELECT a FROM t WHERE a = $1",
            "SELECT a FROM t WHERE a =1",
            "SELECT a FROM t1 WHERE a = 1",
            "SELECT a FROM t WHERE a <= 1",
        ] {
            assert_ne!(memo_key(other), base, "{other}");
        }
        assert_ne!(memo_key("SELECT a <= 1"), memo_key("SELECT a < = 1"));
        assert_ne!(memo_key("SELECT ab"), memo_key("SELECT a b"));
    }

    #[test]
    fn long_texts_hash_the_same_however_chunked() {
        let long = format!("SELECT {} FROM t", "col_x, ".repeat(200));
        let longer = format!("SELECT {} FROM t", "col_x,  ".repeat(200));
        assert_eq!(memo_key(&long), memo_key(&longer));
    }
}

//! Key encodings. Integers are big-endian so LMDB's byte order is numeric order.

/// `stream_index` key: stream id then version.
pub(crate) fn stream_key(stream_id: u64, version: u64) -> [u8; 16] {
    let mut key = [0; 16];
    key[..8].copy_from_slice(&stream_id.to_be_bytes());
    key[8..].copy_from_slice(&version.to_be_bytes());
    key
}

/// Splits a 16-byte (id, version) pair.
pub(crate) fn split_pair(bytes: &[u8]) -> Option<(u64, u64)> {
    let bytes: &[u8; 16] = bytes.try_into().ok()?;
    let (a, b) = bytes.split_at(8);
    Some((
        u64::from_be_bytes(a.try_into().ok()?),
        u64::from_be_bytes(b.try_into().ok()?),
    ))
}

pub(crate) fn u64_from(bytes: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(bytes.try_into().ok()?))
}

/// Writes a `catalog` key into `key`, replacing what it held: aggregate type, NUL, event type,
/// NUL, schema version.
pub(crate) fn catalog_key_into(aggregate: &str, event_type: &str, version: u32, key: &mut Vec<u8>) {
    key.clear();
    key.extend_from_slice(aggregate.as_bytes());
    key.push(0);
    key.extend_from_slice(event_type.as_bytes());
    key.push(0);
    key.extend_from_slice(&version.to_be_bytes());
}

/// The parts of a `catalog` key.
pub(crate) fn split_catalog_key(key: &[u8]) -> Option<(String, String, u32)> {
    let (names, version) = key.split_at_checked(key.len().checked_sub(4)?)?;
    let names = names.strip_suffix(&[0])?;
    let split = names.iter().position(|b| *b == 0)?;
    let aggregate = std::str::from_utf8(&names[..split]).ok()?;
    let event_type = std::str::from_utf8(&names[split + 1..]).ok()?;
    Some((
        aggregate.to_owned(),
        event_type.to_owned(),
        u32::from_be_bytes(version.try_into().ok()?),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_keys_sort_numerically() {
        assert!(stream_key(1, 255) < stream_key(1, 256));
        assert!(stream_key(1, u64::MAX) < stream_key(2, 0));
        assert_eq!(split_pair(&stream_key(7, 9)), Some((7, 9)));
        assert_eq!(split_pair(&[0; 15]), None);
    }

    #[test]
    fn catalog_keys_round_trip() {
        let mut key = vec![9; 40];
        catalog_key_into("Account", "MoneyDeposited", 3, &mut key);
        assert_eq!(
            split_catalog_key(&key),
            Some(("Account".into(), "MoneyDeposited".into(), 3))
        );
        assert_eq!(split_catalog_key(b"x"), None);
        assert_eq!(split_catalog_key(b""), None);
    }
}

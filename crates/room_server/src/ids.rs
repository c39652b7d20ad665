//! Identifiers in LiveKit's shape (`RM_`, `PA_`, `TR_` + 12 base62 characters), so that SDKs
//! which inspect prefixes (for example to tell a track sid from a stream id) behave as with
//! LiveKit server.

use rand::Rng;

const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

fn random_id(prefix: &str) -> String {
    let mut rng = rand::rng();
    let mut s = String::with_capacity(prefix.len() + 12);
    s.push_str(prefix);
    for _ in 0..12 {
        s.push(ALPHABET[rng.random_range(0..ALPHABET.len())] as char);
    }
    s
}

pub fn room_sid() -> String {
    random_id("RM_")
}

pub fn participant_sid() -> String {
    random_id("PA_")
}

pub fn track_sid() -> String {
    random_id("TR_")
}

/// A random alphanumeric secret of `len` characters (API secrets, per-run keys).
pub fn secret(len: usize) -> String {
    let mut rng = rand::rng();
    (0..len)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

/// A random (version 4) UUID, the shape of Visio's room ids and lobby participant ids.
pub fn uuid_v4() -> String {
    let mut b: [u8; 16] = rand::random();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn ids_have_livekit_shape() {
        let p = super::participant_sid();
        assert!(p.starts_with("PA_") && p.len() == 15);
        assert_ne!(super::track_sid(), super::track_sid());
        assert!(super::secret(32).chars().all(|c| c.is_ascii_alphanumeric()));
        let u = super::uuid_v4();
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4");
    }
}

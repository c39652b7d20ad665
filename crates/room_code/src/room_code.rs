//! Visio room codes: `abc-defg-hij` (Visio's pattern `[a-z]{3}-[a-z]{4}-[a-z]{3}`), found at the
//! end of room links and normalised the way Visio's web client does, so that a code typed in
//! upper case or without hyphens, or pasted as a whole link, reaches the same room.

/// Normalises a room code or link the way Visio's web client does: the last path segment,
/// lower case, letters only, then `abc-defg-hij`. `None` when it is not a room code.
pub fn normalize(input: &str) -> Option<String> {
    let input = input.trim();
    let last = input
        .split(['?', '#'])
        .next()
        .unwrap_or("")
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or("");
    let letters: String = last
        .chars()
        .filter(|c| *c != '-' && !c.is_whitespace())
        .collect::<String>()
        .to_lowercase();
    if letters.len() != 10 || !letters.chars().all(|c| c.is_ascii_lowercase()) {
        return None;
    }
    // Hyphens, when present, must be at Visio's places.
    if last.contains('-') && !is_valid(&last.to_lowercase()) {
        return None;
    }
    Some(format!(
        "{}-{}-{}",
        &letters[0..3],
        &letters[3..7],
        &letters[7..10]
    ))
}

/// Exactly Visio's pattern `[a-z]{3}-[a-z]{4}-[a-z]{3}`.
pub fn is_valid(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() == 3
        && [3, 4, 3]
            .iter()
            .zip(&parts)
            .all(|(n, p)| p.len() == *n && p.chars().all(|c| c.is_ascii_lowercase()))
}

/// A fresh random room slug.
pub fn random() -> String {
    use rand::Rng;
    let mut rng = rand::rng();
    let mut part = |n: usize| -> String {
        (0..n)
            .map(|_| (b'a' + rng.random_range(0..26u8)) as char)
            .collect()
    };
    format!("{}-{}-{}", part(3), part(4), part(3))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_normalised_like_visio() {
        assert_eq!(normalize("abc-defg-hij").as_deref(), Some("abc-defg-hij"));
        assert_eq!(normalize("ABCDEFGHIJ").as_deref(), Some("abc-defg-hij"));
        assert_eq!(
            normalize("https://visio.numerique.gouv.fr/abc-defg-hij?x=1").as_deref(),
            Some("abc-defg-hij")
        );
        assert_eq!(normalize("abc-defg-hi"), None);
        assert_eq!(normalize("ab-cdefg-hij"), None);
        assert_eq!(normalize("abc-defg-hi1"), None);
        assert_eq!(normalize(""), None);
        assert_eq!(
            normalize("http://127.0.0.1:7880/ABCDEFGHIJ/").as_deref(),
            Some("abc-defg-hij")
        );
        assert_eq!(normalize("http://127.0.0.1:7880/"), None);
        assert_eq!(normalize("ws://h/rtc"), None);
        assert!(is_valid(&random()));
    }
}

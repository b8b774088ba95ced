//! API tokens: random, shown once, kept only as their sha256.

use crate::hash::Sha256;

/// The prefix of every albs token, so that secret scanners can spot one.
pub const TOKEN_PREFIX: &str = "albs_";

/// Errors from token generation.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// The operating system's random source failed.
    #[error("cannot read random bytes for a token: {0}")]
    Random(String),
}

/// A new random token (`albs_` + 64 hex characters, 256 bits).
pub fn new_token() -> Result<String, AuthError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| AuthError::Random(e.to_string()))?;
    Ok(format!("{TOKEN_PREFIX}{}", hex::encode(bytes)))
}

/// What is stored of a token: its sha256 (a token has 256 bits of entropy,
/// so a plain hash cannot be reversed by guessing).
pub fn hash_token(token: &str) -> Sha256 {
    Sha256::of(token.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_and_hashed() {
        let a = new_token().unwrap();
        let b = new_token().unwrap();
        assert_ne!(a, b);
        assert!(a.starts_with(TOKEN_PREFIX) && a.len() == 69);
        assert_eq!(hash_token(&a), hash_token(&a));
        assert_ne!(hash_token(&a), hash_token(&b));
    }
}

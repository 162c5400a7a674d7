//! Station passwords (OCPP security profile 1): hashing for storage and checking against the
//! stored hash.
//!
//! This crate has one job, so that both edges can use it without depending on each other: the
//! operator API hashes the password an operator registers, and the gateway checks what a
//! station sends at the WebSocket upgrade.
//!
//! Invariants:
//! - A password is only ever kept as an argon2id PHC string (`$argon2id$v=19$m=…,t=…,p=…$salt$hash`)
//!   with a fresh random salt; the clear text is never returned or logged.
//! - A PHC string carries its own algorithm and parameters, so hashes made with other argon2
//!   parameters (or by an older release) still verify.
//! - Both functions cost milliseconds of CPU and about 19 MiB of memory by design: call them on a
//!   blocking thread, and bound how many run at once (the gateway's `auth::Verifier` does).

use argon2::Argon2;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};

/// Why a password could not be hashed or checked.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Hashing failed (the salt or the parameters were refused).
    #[error("the password could not be hashed")]
    Hash(#[source] argon2::password_hash::Error),
    /// The stored hash is not a PHC string this crate can read.
    #[error("the stored password hash is not a valid PHC string")]
    Malformed(#[source] argon2::password_hash::Error),
    /// Checking failed for another reason than a wrong password (e.g. unsupported parameters).
    #[error("the password could not be checked")]
    Verify(#[source] argon2::password_hash::Error),
}

/// Hashes a station password for storage: argon2id with the default parameters and a random
/// salt, as a PHC string.
pub fn hash(password: &[u8]) -> Result<String, Error> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password, &salt)
        .map(|h| h.to_string())
        .map_err(Error::Hash)
}

/// Whether `password` matches the stored PHC string `phc`. A wrong password is `Ok(false)`; an
/// unreadable hash is an error, so that a damaged record is told apart from a wrong password.
pub fn verify(phc: &str, password: &[u8]) -> Result<bool, Error> {
    let hash = PasswordHash::new(phc).map_err(Error::Malformed)?;
    match Argon2::default().verify_password(password, &hash) {
        Ok(()) => Ok(true),
        Err(argon2::password_hash::Error::Password) => Ok(false),
        Err(e) => Err(Error::Verify(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error as _;

    #[test]
    fn hashes_to_an_argon2id_phc_string_that_verifies() {
        let phc = hash(b"0123456789abcdef").expect("hashes");
        assert!(phc.starts_with("$argon2id$"), "{phc}");
        assert!(verify(&phc, b"0123456789abcdef").expect("verifies"));
        assert!(!verify(&phc, b"0123456789abcdeX").expect("verifies"));
        assert!(!verify(&phc, b"").expect("verifies"));
    }

    #[test]
    fn salts_differ_between_hashes_of_one_password() {
        let a = hash(b"same password").expect("hashes");
        let b = hash(b"same password").expect("hashes");
        assert_ne!(a, b);
        assert!(verify(&a, b"same password").expect("verifies"));
        assert!(verify(&b, b"same password").expect("verifies"));
    }

    #[test]
    fn raw_bytes_are_hashed_as_given() {
        let key = [0x00u8, 0xFF, 0x10, 0x80];
        let phc = hash(&key).expect("hashes");
        assert!(verify(&phc, &key).expect("verifies"));
        assert!(!verify(&phc, b"00FF1080").expect("verifies"));
    }

    #[test]
    fn a_malformed_hash_is_an_error_that_keeps_its_source() {
        let e = verify("not a phc string", b"pw").expect_err("refused");
        assert!(matches!(e, Error::Malformed(_)), "{e:?}");
        assert!(e.source().is_some());
    }

    #[test]
    fn hashes_from_other_parameters_still_verify() {
        let params = argon2::Params::new(8 * 1024, 1, 1, None).expect("parameters");
        let argon = Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
        let salt = SaltString::generate(&mut OsRng);
        let phc = argon
            .hash_password(b"pw-with-other-params", &salt)
            .expect("hashes")
            .to_string();
        assert!(verify(&phc, b"pw-with-other-params").expect("verifies"));
    }
}

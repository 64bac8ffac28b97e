//! Shared-secret authentication: a challenge-response handshake at the
//! start of every binary connection (worker to master, client to master,
//! a reducer or client to a worker's data port), when the process was
//! started with `--secret-file PATH` (or `MINISPARK_SECRET_FILE`).
//!
//! ```text
//! connecting side                                   accepting side
//!   Hello { nonce_c }                     ──►
//!                                         ◄──  Challenge { nonce_s, proof_s = HMAC(k, "server" | nonce_c | nonce_s) }
//!   checks proof_s: the server knows k
//!   Proof { proof_c = HMAC(k, "client" | nonce_s | nonce_c) }  ──►
//!                                         ◄──  AuthOk, or Error UNAUTHORIZED and close
//! ```
//!
//! Both sides prove they hold the secret `k` without sending it: each
//! answers a fresh random challenge (32 bytes from `/dev/urandom`) chosen by
//! the other, so a recorded conversation is useless later, and the labels
//! keep a proof from one direction from being replayed in the other. Proofs
//! are compared in constant time (`Mac::verify_slice`), so timing does not
//! reveal how many bytes of a guess were right. The HMAC-SHA256 comes from
//! RustCrypto's `hmac` and `sha2` crates: cryptography is not hand-rolled.
//!
//! Limits, as the README says: this authenticates peers; it does not
//! encrypt. Anyone who can read the network sees job files, records and
//! results. Text mode and the web page stay open, but read-only.
//!
//! This file holds the secret and the messages, and does no I/O: the
//! connecting side runs in `dial.rs`, the accepting side in `listener.rs`.
//! The secret is a value each process loads once at start
//! (`from_flag_or_env`) and carries in its config, passed to both.

use std::fs::File;
use std::io::Read;

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::protocol::{error_code, Bytes, Message};

type HmacSha256 = Hmac<Sha256>;

/// Bytes in each side's random challenge.
pub const NONCE_BYTES: usize = 32;
/// Longest secret file accepted.
const MAX_SECRET_BYTES: u64 = 64 * 1024;

/// The shared secret; never printed.
pub struct Secret(Vec<u8>);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<hidden>)")
    }
}

impl Secret {
    /// The secret in `path`: its bytes without a final newline. An empty
    /// file is refused (it would make every proof guessable).
    ///
    /// # Errors
    /// The file cannot be read, is empty, or is over 64 KiB; named.
    pub fn load(path: &str) -> Result<Secret, String> {
        let fail = |why: String| format!("secret file {path}: {why}");
        let file = File::open(path).map_err(|e| fail(e.to_string()))?;
        let mut bytes = Vec::new();
        file.take(MAX_SECRET_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| fail(e.to_string()))?;
        if bytes.len() as u64 > MAX_SECRET_BYTES {
            return Err(fail("over 64 KiB".into()));
        }
        while matches!(bytes.last(), Some(b'\n' | b'\r')) {
            bytes.pop();
        }
        if bytes.is_empty() {
            return Err(fail("is empty".into()));
        }
        Ok(Secret(bytes))
    }

    /// HMAC-SHA256 of `label | a | b` under the secret.
    fn proof(&self, label: &[u8], a: &[u8], b: &[u8]) -> Vec<u8> {
        self.mac(label, a, b).finalize().into_bytes().to_vec()
    }

    /// Checks `proof` against `label | a | b`, in constant time.
    fn verify(&self, label: &[u8], a: &[u8], b: &[u8], proof: &[u8]) -> bool {
        self.mac(label, a, b).verify_slice(proof).is_ok()
    }

    fn mac(&self, label: &[u8], a: &[u8], b: &[u8]) -> HmacSha256 {
        // Any key length is valid for HMAC; `new_from_slice` cannot fail.
        let mut mac = match HmacSha256::new_from_slice(&self.0) {
            Ok(mac) => mac,
            Err(_) => unreachable!("HMAC accepts keys of any length"),
        };
        mac.update(label);
        mac.update(a);
        mac.update(b);
        mac
    }
}

/// `--secret-file PATH`, else `$MINISPARK_SECRET_FILE`, loaded.
///
/// # Errors
/// As `Secret::load`.
pub fn from_flag_or_env(flag: Option<String>) -> Result<Option<Secret>, String> {
    let path = flag.or_else(|| {
        std::env::var("MINISPARK_SECRET_FILE")
            .ok()
            .filter(|p| !p.is_empty())
    });
    path.map(|p| Secret::load(&p)).transpose()
}

/// 32 bytes from the kernel's random generator.
///
/// # Errors
/// `/dev/urandom` cannot be read.
pub fn nonce() -> Result<Vec<u8>, String> {
    let mut bytes = vec![0u8; NONCE_BYTES];
    File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .map_err(|e| format!("reading /dev/urandom: {e}"))?;
    Ok(bytes)
}

const SERVER: &[u8] = b"minispark server";
const CLIENT: &[u8] = b"minispark client";

/// The connecting side's opening message.
pub fn hello(nonce_c: &[u8]) -> Message {
    Message::Hello {
        nonce: Bytes(nonce_c.to_vec()),
    }
}

/// The connecting side, given the server's `Challenge`: checks the server's
/// proof and returns the `Proof` to send.
///
/// # Errors
/// The server's proof is wrong (it does not hold the same secret).
pub fn answer(secret: &Secret, nonce_c: &[u8], challenge: Message) -> Result<Message, String> {
    match challenge {
        Message::Challenge { nonce, proof } => {
            if !secret.verify(SERVER, nonce_c, &nonce.0, &proof.0) {
                return Err("the peer does not hold our secret (its proof is wrong)".into());
            }
            Ok(Message::Proof {
                proof: Bytes(secret.proof(CLIENT, &nonce.0, nonce_c)),
            })
        }
        Message::Error { message, .. } => Err(format!("the peer refused: {message}")),
        other => Err(format!(
            "expected Challenge, got {}",
            other.msg_type().name()
        )),
    }
}

/// The accepting side's reply to `Hello`: a `Challenge`, and the nonce to
/// check the `Proof` against.
///
/// # Errors
/// Why the connection is refused: the first message is not a `Hello`, or
/// this process has no secret.
pub fn challenge(secret: Option<&Secret>, first: &Message) -> Result<(Message, Vec<u8>), String> {
    match (secret, first) {
        (Some(secret), Message::Hello { nonce: nonce_c }) => {
            let nonce_s = nonce()?;
            let proof = secret.proof(SERVER, &nonce_c.0, &nonce_s);
            let challenge = Message::Challenge {
                nonce: Bytes(nonce_s.clone()),
                proof: Bytes(proof),
            };
            Ok((challenge, [nonce_s, nonce_c.0.clone()].concat()))
        }
        (Some(_), other) => Err(format!(
            "authentication required (this process has a --secret-file): start with Hello, not {}",
            other.msg_type().name()
        )),
        (None, _) => Err("this process has no secret: connect without --secret-file".into()),
    }
}

/// The `Error` that refuses a connection, saying `why`.
pub fn unauthorized(why: String) -> Message {
    Message::Error {
        code: error_code::UNAUTHORIZED,
        message: why,
    }
}

/// The accepting side: is `proof` right for the challenge `expected` (as
/// `challenge` returned it)?
pub fn check(secret: &Secret, expected: &[u8], proof: &Message) -> bool {
    let Message::Proof { proof } = proof else {
        return false;
    };
    let (nonce_s, nonce_c) = expected.split_at(NONCE_BYTES.min(expected.len()));
    secret.verify(CLIENT, nonce_s, nonce_c, &proof.0)
}

/// The `Error` for a wrong proof.
pub fn refused() -> Message {
    unauthorized("authentication failed: wrong secret".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(s: &str) -> Secret {
        Secret(s.as_bytes().to_vec())
    }

    #[test]
    fn the_same_secret_passes_both_ways() {
        let k = secret("sesame");
        let nonce_c = nonce().unwrap();
        let (challenge, expected) = super::challenge(Some(&k), &hello(&nonce_c)).unwrap();
        let proof = answer(&k, &nonce_c, challenge).unwrap();
        assert!(check(&k, &expected, &proof));
    }

    #[test]
    fn a_wrong_secret_fails_on_either_side() {
        let (server, client) = (secret("sesame"), secret("simsim"));
        let nonce_c = nonce().unwrap();
        let (challenge, expected) = super::challenge(Some(&server), &hello(&nonce_c)).unwrap();
        // The client sees the server's proof is wrong...
        assert!(answer(&client, &nonce_c, challenge.clone()).is_err());
        // ...and a client that answered anyway is refused.
        let Message::Challenge { nonce, .. } = challenge else {
            panic!()
        };
        let forged = Message::Proof {
            proof: Bytes(client.proof(CLIENT, &nonce.0, &nonce_c)),
        };
        assert!(!check(&server, &expected, &forged));
        // A proof replayed from the other direction does not pass either.
        let replay = Message::Proof {
            proof: Bytes(server.proof(SERVER, &nonce.0, &nonce_c)),
        };
        assert!(!check(&server, &expected, &replay));
    }

    #[test]
    fn challenges_are_fresh_and_demanded() {
        let k = secret("sesame");
        let nonce_c = nonce().unwrap();
        let (a, _) = super::challenge(Some(&k), &hello(&nonce_c)).unwrap();
        let (b, _) = super::challenge(Some(&k), &hello(&nonce_c)).unwrap();
        assert_ne!(a, b, "a new server nonce each time");
        assert!(super::challenge(Some(&k), &Message::Ping { nonce: 1 }).is_err());
        assert!(super::challenge(None, &hello(&nonce_c)).is_err());
        assert!(!check(&k, &[0; 64], &Message::Ping { nonce: 1 }));
    }

    #[test]
    fn secret_files() {
        let dir = std::env::temp_dir().join(format!("minispark-secret-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("k");
        std::fs::write(&p, "abc\n").unwrap();
        let k = Secret::load(p.to_str().unwrap()).unwrap();
        assert_eq!(k.0, b"abc");
        assert_eq!(format!("{k:?}"), "Secret(<hidden>)");
        std::fs::write(&p, "\n").unwrap();
        assert!(Secret::load(p.to_str().unwrap())
            .unwrap_err()
            .contains("is empty"));
        assert!(Secret::load("/no/such/secret")
            .unwrap_err()
            .contains("/no/such/secret"));
        let _ = std::fs::remove_dir_all(&dir);
    }
}

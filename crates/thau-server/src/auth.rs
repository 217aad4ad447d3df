//! Who is calling. `thau serve --keys FILE` binds each API key to a user, or marks it admin;
//! `--api-key KEY` is one admin key. The key check runs before every route but `/health`, the
//! version and the docs, and leaves the request a [`Caller`]:
//! - a user-bound key always acts as its user, whatever `user` field or header the request
//!   sends (it cannot read or write another user's memories or conversations);
//! - an admin key, or a server without keys (which [`crate::ServerConfig::validate`] allows
//!   only on loopback), may name the user.
//!
//! Keys are compared in constant time (their SHA-256 digests, every entry looked at) and never
//! logged or echoed. The keys file, one key per line:
//!
//! ```text
//! # KEY                          WHO
//! sk-ana-3f9c1e0b7a2d4c8e        user:ana
//! sk-bruno-9a7b6c5d4e3f2a1b      user:bruno
//! sk-ops-0123456789abcdef        admin
//! ```

use crate::error::{ApiError, Flavor};
use axum::http::{HeaderMap, StatusCode};
use sha2::{Digest, Sha256};
use std::path::Path;
use subtle::ConstantTimeEq;

/// Shortest key the keys file accepts: a short key can be guessed.
pub const MIN_KEY_CHARS: usize = 16;

/// The header a caller names its user with (besides a `user` field where the API has one).
pub const USER_HEADER: &str = "x-thau-user";

/// What a key may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    /// Act for any user it names.
    Admin,
    /// Act only as this user.
    User(String),
}

/// The keys a server accepts, by digest.
#[derive(Clone, Default)]
pub struct Keys {
    entries: Vec<([u8; 32], Role)>,
}

impl std::fmt::Debug for Keys {
    /// Never the keys themselves: how many, and for whom.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.entries.iter().map(|(_, r)| r)).finish()
    }
}

fn digest(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

impl Keys {
    /// No keys: every caller is [`Caller::Open`].
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Accept `key` for `role`.
    pub fn add(&mut self, key: &str, role: Role) {
        self.entries.push((digest(key), role));
    }

    /// Accept `other`'s keys too; a key already accepted is refused (which role would it have?).
    pub fn extend(&mut self, other: Keys) -> Result<(), String> {
        if other.entries.iter().any(|(d, _)| self.entries.iter().any(|(k, _)| bool::from(k.ct_eq(d)))) {
            return Err("a key of the keys file is also the --api-key: give each key one role".into());
        }
        self.entries.extend(other.entries);
        Ok(())
    }

    /// Read a keys file (see the module docs); errors name the file and line.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("cannot read the keys file {}: {e}", path.display()))?;
        Self::parse(&text).map_err(|e| anyhow::anyhow!("keys file {}: {e}", path.display()))
    }

    /// The keys of a keys file's text.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut keys = Self::default();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let at = |what: String| format!("line {}: {what}", n + 1);
            let fields: Vec<&str> = line.split_whitespace().collect();
            let [key, who] = fields[..] else {
                return Err(at(format!(
                    "expected two fields, KEY and WHO (user:NAME or admin), found {}",
                    fields.len()
                )));
            };
            if key.chars().count() < MIN_KEY_CHARS {
                return Err(at(format!("the key is shorter than {MIN_KEY_CHARS} characters: use a long random one")));
            }
            let role = match who.split_once(':') {
                None if who == "admin" => Role::Admin,
                Some(("user", name)) => {
                    thau::memory::validate_user(name).map_err(|e| at(e.to_string()))?;
                    Role::User(name.to_string())
                }
                // Not echoed: a line with its fields swapped would print the key.
                _ => return Err(at("the second field is not user:NAME or admin".into())),
            };
            if keys.find(key).is_some() {
                return Err(at("this key is already listed above".into()));
            }
            keys.add(key, role);
        }
        if keys.is_empty() {
            return Err("it lists no keys: add lines 'KEY user:NAME' or 'KEY admin'".into());
        }
        Ok(keys)
    }

    /// The role of `sent`, comparing against every key in constant time.
    pub fn find(&self, sent: &str) -> Option<&Role> {
        let d = digest(sent);
        let mut found = None;
        for (k, role) in &self.entries {
            // Every entry is compared whatever matched before: the time says nothing of which.
            if bool::from(k.ct_eq(&d)) {
                found = Some(role);
            }
        }
        found
    }
}

/// Who a request acts for, as the key check found it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// The server has no keys (loopback only).
    Open,
    Admin,
    User(String),
}

impl Caller {
    /// The user this request acts as: a user-bound key's own; otherwise the user the request
    /// names in `named` or the `X-Thau-User` header (trimmed), else "default".
    pub fn user(&self, named: Option<&str>, headers: &HeaderMap, flavor: Flavor) -> Result<String, ApiError> {
        Ok(self.resolve(named, headers, flavor)?.unwrap_or_else(|| thau::memory::DEFAULT_USER.to_string()))
    }

    /// [`Caller::user`] for routes where an admin must name the user (the `/memory` routes).
    pub fn named_user(&self, named: Option<&str>, headers: &HeaderMap, flavor: Flavor) -> Result<String, ApiError> {
        self.resolve(named, headers, flavor)?.ok_or_else(|| {
            ApiError::bad_request(flavor, "user is missing: name whose memory this is (\"user\": \"ana\")")
        })
    }

    /// The one rule of both: a user-bound key's user; else the field, else the header; a
    /// named user is trimmed and must not be empty.
    fn resolve(&self, named: Option<&str>, headers: &HeaderMap, flavor: Flavor) -> Result<Option<String>, ApiError> {
        if let Caller::User(u) = self {
            return Ok(Some(u.clone()));
        }
        let from_header = match headers.get(USER_HEADER) {
            None => None,
            // Names are UTF-8 ("José"): read the bytes, not only the ASCII that to_str takes.
            Some(v) => Some(std::str::from_utf8(v.as_bytes()).map_err(|_| {
                ApiError::bad_request(flavor, "the X-Thau-User header is not UTF-8: send the user's name as UTF-8")
            })?),
        };
        match named.or(from_header) {
            None => Ok(None),
            Some(u) => {
                let u = u.trim();
                if u.is_empty() {
                    return Err(ApiError::bad_request(
                        flavor,
                        "user is empty: name the user (e.g. \"user\": \"ana\"), or leave it out for \"default\"",
                    ));
                }
                Ok(Some(u.to_string()))
            }
        }
    }
}

/// The caller behind `authorization` (the request's header), or 401.
pub fn check(keys: &Keys, authorization: Option<&str>, flavor: Flavor) -> Result<Caller, ApiError> {
    if keys.is_empty() {
        return Ok(Caller::Open);
    }
    let sent = authorization.and_then(|v| v.strip_prefix("Bearer ")).map(str::trim);
    match sent.and_then(|k| keys.find(k)) {
        Some(Role::Admin) => Ok(Caller::Admin),
        Some(Role::User(u)) => Ok(Caller::User(u.clone())),
        None => Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            flavor,
            "missing or wrong API key: send Authorization: Bearer KEY",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_file_binds_users_and_admins_and_rejects_bad_lines() {
        let k = Keys::parse("# who\nsk-ana-0123456789ab user:ana\n\n  sk-ops-0123456789ab   admin \n").unwrap();
        assert_eq!(k.len(), 2);
        assert_eq!(k.find("sk-ana-0123456789ab"), Some(&Role::User("ana".into())));
        assert_eq!(k.find("sk-ops-0123456789ab"), Some(&Role::Admin));
        assert_eq!(k.find("sk-ana-0123456789aX"), None);
        assert_eq!(k.find(""), None);
        assert!(!format!("{k:?}").contains("sk-"), "Debug shows no key: {k:?}");
        for (text, says) in [
            ("sk-ana-0123456789ab", "line 1: expected two fields"),
            ("short user:ana", "line 1: the key is shorter"),
            ("# c\nsk-ana-0123456789ab root", "line 2: the second field is not"),
            ("sk-ana-0123456789ab user:", "line 1"),
            ("sk-ana-0123456789ab user:ana\nsk-ana-0123456789ab admin", "line 2: this key is already"),
            ("# nothing\n", "lists no keys"),
        ] {
            let e = Keys::parse(text).unwrap_err();
            assert!(e.contains(says), "{text:?}: {e}");
        }
    }

    #[test]
    fn a_user_bound_key_acts_as_its_user_whatever_it_names() {
        let mut h = HeaderMap::new();
        h.insert(USER_HEADER, "bruno".parse().unwrap());
        let f = Flavor::Ollama;
        let none = HeaderMap::new();
        let ana = Caller::User("ana".into());
        assert_eq!(ana.user(Some("bruno"), &h, f).unwrap(), "ana");
        assert_eq!(ana.named_user(None, &none, f).unwrap(), "ana");
        assert_eq!(Caller::Admin.user(Some(" carla "), &h, f).unwrap(), "carla");
        assert_eq!(Caller::Admin.user(None, &h, f).unwrap(), "bruno");
        assert_eq!(Caller::Open.user(None, &none, f).unwrap(), "default");
        assert!(Caller::Admin.named_user(None, &none, f).is_err());
        assert!(Caller::Admin.user(Some("  "), &none, f).is_err(), "an empty name is refused");
        let mut jose = HeaderMap::new();
        jose.insert(USER_HEADER, axum::http::HeaderValue::from_bytes("José".as_bytes()).unwrap());
        assert_eq!(Caller::Open.user(None, &jose, f).unwrap(), "José", "UTF-8 names in the header");
        let mut k = Keys::default();
        k.add("sk-same-0123456789ab", Role::Admin);
        assert!(k.extend(Keys::parse("sk-same-0123456789ab user:ana").unwrap()).is_err());
    }
}

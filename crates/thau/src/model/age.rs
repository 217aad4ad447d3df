//! Ages and presets as named types. An [`Age`] is a rung of THAU's growth ladder (0, 1, 3, 6,
//! 12, 15); a run keeps each age in a folder named `age-N`, and this module is the one place
//! that spells that name, both ways. A [`Preset`] names a model shape: an age's, or one of the
//! small shapes for tests, the demo and the benchmarks.

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// The ages THAU grows through, youngest first.
pub const AGES: [u32; 6] = [0, 1, 3, 6, 12, 15];

/// What a run's age folder is called before the number: `age-3`.
const DIR_PREFIX: &str = "age-";

/// One rung of the growth ladder ([`AGES`]). It prints as its number; [`Age::dir_name`] is the
/// folder name. Stored in JSON as the bare number, and checked against the ladder when read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "u32", into = "u32")]
pub struct Age(u32);

impl Age {
    /// Age 0, where every run starts.
    pub const YOUNGEST: Age = Age(0);

    /// `n` if it is on the ladder; otherwise an error listing the ages.
    pub fn new(n: u32) -> Result<Age> {
        if AGES.contains(&n) {
            Ok(Age(n))
        } else {
            Err(Error::invalid("age", format!("{n} is not an age; the ages are {}", Self::list())))
        }
    }

    /// Every age, youngest first.
    pub fn all() -> impl Iterator<Item = Age> {
        AGES.into_iter().map(Age)
    }

    /// The number (0 … 15).
    pub fn get(self) -> u32 {
        self.0
    }

    /// The next rung, or None at the oldest age.
    pub fn next(self) -> Option<Age> {
        Self::all().find(|a| *a > self)
    }

    /// The folder of this age in a run: `age-N`.
    pub fn dir_name(self) -> String {
        format!("{DIR_PREFIX}{}", self.0)
    }

    /// The age a folder named `age-N` holds; None for any other name (or an N off the ladder).
    pub fn from_dir_name(name: &str) -> Option<Age> {
        name.strip_prefix(DIR_PREFIX)?.parse::<u32>().ok().and_then(|n| Age::new(n).ok())
    }

    /// "0, 1, 3, 6, 12, 15", for messages.
    pub fn list() -> String {
        AGES.map(|a| a.to_string()).join(", ")
    }
}

impl TryFrom<u32> for Age {
    type Error = Error;
    fn try_from(n: u32) -> Result<Age> {
        Age::new(n)
    }
}

impl From<Age> for u32 {
    fn from(a: Age) -> u32 {
        a.0
    }
}

impl fmt::Display for Age {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl FromStr for Age {
    type Err = Error;
    /// "3" or "age-3".
    fn from_str(s: &str) -> Result<Age> {
        let t = s.trim();
        let n = t.strip_prefix(DIR_PREFIX).unwrap_or(t);
        let n: u32 = n
            .parse()
            .map_err(|_| Error::invalid("age", format!("'{s}' is not an age; the ages are {}", Self::list())))?;
        Age::new(n)
    }
}

/// A model shape by name. In JSON (schedule files) it is its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Preset {
    /// About 0.2M parameters plus embeddings: tests and quick runs.
    Tiny,
    /// The tiny growth ladder's second and third rungs (tests of `thau train --schedule`).
    Tiny2,
    Tiny3,
    /// The demo model, and what it grows into in the growth benchmark.
    Demo,
    Demo2,
    /// The benchmark shape shared with the PyTorch baseline.
    Bench,
    /// Rows that are multiples of 256, so GGUF export quantizes every matrix.
    ExportTest,
    /// An age's shape.
    Age(Age),
}

impl Preset {
    /// The named shapes besides the ages, as their names.
    const NAMED: [(&'static str, Preset); 7] = [
        ("tiny", Preset::Tiny),
        ("tiny-2", Preset::Tiny2),
        ("tiny-3", Preset::Tiny3),
        ("demo", Preset::Demo),
        ("demo-2", Preset::Demo2),
        ("bench", Preset::Bench),
        ("export-test", Preset::ExportTest),
    ];
}

impl fmt::Display for Preset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Preset::Age(a) => f.write_str(&a.dir_name()),
            p => f.write_str(Self::NAMED.iter().find(|(_, q)| q == p).map_or("?", |(n, _)| n)),
        }
    }
}

impl FromStr for Preset {
    type Err = Error;
    /// A shape's name ("tiny", "demo", "bench", …), or an age as "age-N" or "N".
    fn from_str(s: &str) -> Result<Preset> {
        let t = s.trim();
        if let Some((_, p)) = Self::NAMED.iter().find(|(n, _)| *n == t) {
            return Ok(*p);
        }
        t.parse::<Age>().map(Preset::Age).map_err(|_| {
            let names: Vec<&str> = Self::NAMED.iter().map(|(n, _)| *n).collect();
            Error::invalid("preset", format!("'{s}' is unknown; use {} or an age ({})", names.join(", "), Age::list()))
        })
    }
}

impl TryFrom<String> for Preset {
    type Error = Error;
    fn try_from(s: String) -> Result<Preset> {
        s.parse()
    }
}

impl From<Preset> for String {
    fn from(p: Preset) -> String {
        p.to_string()
    }
}

impl From<Age> for Preset {
    fn from(a: Age) -> Preset {
        Preset::Age(a)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_are_checked_against_the_ladder() {
        assert_eq!(Age::all().map(Age::get).collect::<Vec<_>>(), AGES);
        for bad in [2, 4, 16, u32::MAX] {
            let err = Age::new(bad).unwrap_err().to_string();
            assert!(err.contains("0, 1, 3, 6, 12, 15"), "{err}");
        }
        assert_eq!("3".parse::<Age>().unwrap().get(), 3);
        assert_eq!("age-12".parse::<Age>().unwrap().get(), 12);
        assert!("age-2".parse::<Age>().is_err() && "x".parse::<Age>().is_err() && "-1".parse::<Age>().is_err());
        assert_eq!(Age::new(6).unwrap().next(), Some(Age::new(12).unwrap()));
        assert_eq!(Age::new(15).unwrap().next(), None);
    }

    #[test]
    fn the_folder_name_both_ways() {
        for a in Age::all() {
            assert_eq!(Age::from_dir_name(&a.dir_name()), Some(a));
            assert_eq!(a.to_string(), a.get().to_string());
        }
        assert_eq!(Age::new(3).unwrap().dir_name(), "age-3");
        for other in ["3", "age-", "age-2", "age-3x", "step-3", "Age-3"] {
            assert_eq!(Age::from_dir_name(other), None, "{other}");
        }
    }

    #[test]
    fn ages_in_json_are_numbers_checked_when_read() {
        assert_eq!(serde_json::to_string(&Age::new(6).unwrap()).unwrap(), "6");
        assert_eq!(serde_json::from_str::<Age>("12").unwrap().get(), 12);
        assert!(serde_json::from_str::<Age>("2").is_err());
    }
}

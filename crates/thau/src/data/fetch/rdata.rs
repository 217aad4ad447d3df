//! R lazy-load databases (`NAME.rdx` index + `NAME.rdb` values), as janeaustenr ships its
//! novels: each value is a character vector of lines.
//!
//! The `.rdx` is a gzipped R serialization of `list(variables = list(NAME = c(offset,
//! length), ...), references, compressed)`. Each value in the `.rdb` at `offset` is a 4-byte
//! big-endian uncompressed length, then a zlib stream of an R serialization (XDR format,
//! version 2 or 3). Only the R types these files use are read: lists, pairlists, symbols,
//! character, integer, logical and double vectors, and references to symbols.

use super::sources::RawDoc;
use crate::error::{Error, Result};
use std::io::Read;
use std::path::Path;

/// A value read from an R serialization.
#[derive(Debug, Clone, PartialEq)]
pub enum RValue {
    Null,
    Symbol(String),
    /// Character vector (`None` is NA).
    Strings(Vec<Option<String>>),
    Ints(Vec<i32>),
    Doubles(Vec<f64>),
    /// A list or pairlist, with its element names where it has them.
    List(Vec<(Option<String>, RValue)>),
}

/// XDR reader over a serialized R object.
pub struct Unserializer<'a> {
    b: &'a [u8],
    pos: usize,
    symbols: Vec<String>,
}

const NILVALUE: u32 = 254;
const REFSXP: u32 = 255;

impl<'a> Unserializer<'a> {
    /// Check the `X\n` header and prepare to read the object.
    pub fn new(b: &'a [u8]) -> std::result::Result<Self, String> {
        if b.len() < 2 || &b[..2] != b"X\n" {
            return Err("not an XDR R serialization (no `X\\n` header)".into());
        }
        let mut u = Self { b, pos: 2, symbols: Vec::new() };
        let version = u.int()?;
        u.int()?; // writer R version
        u.int()?; // minimal reader R version
        if version == 3 {
            let n = u.int()? as usize;
            u.bytes(n)?; // native encoding name
        } else if version != 2 {
            return Err(format!("serialization version {version}; versions 2 and 3 are read"));
        }
        Ok(u)
    }

    fn bytes(&mut self, n: usize) -> std::result::Result<&'a [u8], String> {
        let s = self.b.get(self.pos..self.pos + n).ok_or("truncated R serialization")?;
        self.pos += n;
        Ok(s)
    }

    fn int(&mut self) -> std::result::Result<i32, String> {
        let s = self.bytes(4)?;
        Ok(i32::from_be_bytes([s[0], s[1], s[2], s[3]]))
    }

    fn length(&mut self) -> std::result::Result<usize, String> {
        let n = self.int()?;
        if n == -1 {
            let hi = self.int()? as u64;
            let lo = self.int()? as u32 as u64;
            return Ok((hi << 32 | lo) as usize);
        }
        usize::try_from(n).map_err(|_| format!("negative length {n}"))
    }

    /// Read one object.
    pub fn read(&mut self) -> std::result::Result<RValue, String> {
        let flags = self.int()? as u32;
        let ty = flags & 0xff;
        let has_attr = flags & (1 << 9) != 0;
        let has_tag = flags & (1 << 10) != 0;
        let value = match ty {
            NILVALUE | 241 | 242 | 250 | 251 | 252 | 253 => return Ok(RValue::Null),
            REFSXP => {
                let i = (flags >> 8) as usize;
                let i = if i == 0 { self.int()? as usize } else { i };
                return self
                    .symbols
                    .get(i - 1)
                    .cloned()
                    .map(RValue::Symbol)
                    .ok_or_else(|| format!("reference {i} unknown"));
            }
            1 => {
                let name = match self.read()? {
                    RValue::Strings(mut s) => s.pop().flatten().unwrap_or_default(),
                    _ => String::new(),
                };
                self.symbols.push(name.clone());
                return Ok(RValue::Symbol(name));
            }
            9 => {
                let n = self.int()?;
                if n == -1 {
                    return Ok(RValue::Strings(vec![None]));
                }
                let s = self.bytes(n as usize)?;
                return Ok(RValue::Strings(vec![Some(String::from_utf8_lossy(s).into_owned())]));
            }
            2 | 6 => {
                // Pairlist: attributes, tag, car, cdr; flattened.
                let mut items = Vec::new();
                let (mut attr, mut tag) = (has_attr, has_tag);
                loop {
                    if attr {
                        self.read()?;
                    }
                    let name = if tag {
                        match self.read()? {
                            RValue::Symbol(s) => Some(s),
                            _ => None,
                        }
                    } else {
                        None
                    };
                    items.push((name, self.read()?));
                    let next = self.int()? as u32;
                    match next & 0xff {
                        2 | 6 => {
                            attr = next & (1 << 9) != 0;
                            tag = next & (1 << 10) != 0;
                        }
                        NILVALUE => break,
                        other => return Err(format!("pairlist ends in type {other}")),
                    }
                }
                return Ok(RValue::List(items));
            }
            10 | 13 => {
                let n = self.length()?;
                let mut v = Vec::with_capacity(n);
                for _ in 0..n {
                    v.push(self.int()?);
                }
                RValue::Ints(v)
            }
            14 => {
                let n = self.length()?;
                let mut v = Vec::with_capacity(n);
                for _ in 0..n {
                    let s = self.bytes(8)?;
                    v.push(f64::from_be_bytes(s.try_into().expect("8 bytes")));
                }
                RValue::Doubles(v)
            }
            16 => {
                let n = self.length()?;
                let mut v = Vec::with_capacity(n);
                for _ in 0..n {
                    match self.read()? {
                        RValue::Strings(mut s) => v.push(s.pop().flatten()),
                        other => return Err(format!("character vector holds {other:?}")),
                    }
                }
                RValue::Strings(v)
            }
            19 | 20 => {
                let n = self.length()?;
                let mut v = Vec::with_capacity(n);
                for _ in 0..n {
                    v.push((None, self.read()?));
                }
                RValue::List(v)
            }
            other => return Err(format!("R type {other} is not supported here")),
        };
        if has_attr {
            let attrs = self.read()?;
            if let (RValue::List(items), RValue::List(attrs)) = (value.clone(), attrs) {
                let names = attrs.into_iter().find(|(k, _)| k.as_deref() == Some("names")).map(|(_, v)| v);
                if let Some(RValue::Strings(names)) = names {
                    let named = items.into_iter().zip(names).map(|((_, v), n)| (n, v)).collect();
                    return Ok(RValue::List(named));
                }
            }
        }
        Ok(value)
    }
}

/// The named values of a lazy-load database `base.rdx`/`base.rdb` (e.g. `.../data/Rdata`).
pub fn read_lazy_load(base: &Path) -> Result<Vec<(String, RValue)>> {
    let rdx = base.with_extension("rdx");
    let rdb = base.with_extension("rdb");
    let hint = "delete the cached package to download it again";
    let raw = std::fs::read(&rdx).map_err(|e| Error::io(&rdx, e))?;
    let mut index = Vec::new();
    flate2::read::GzDecoder::new(&raw[..])
        .read_to_end(&mut index)
        .map_err(|e| Error::corrupt(&rdx, e.to_string(), hint))?;
    let index = Unserializer::new(&index).and_then(|mut u| u.read()).map_err(|e| Error::corrupt(&rdx, e, hint))?;
    let RValue::List(top) = index else { return Err(Error::corrupt(&rdx, "the index is not a list", hint)) };
    let vars = top.into_iter().find(|(k, _)| k.as_deref() == Some("variables")).map(|(_, v)| v);
    let Some(RValue::List(vars)) = vars else { return Err(Error::corrupt(&rdx, "no `variables` in the index", hint)) };
    let db = std::fs::read(&rdb).map_err(|e| Error::io(&rdb, e))?;
    let mut out = Vec::new();
    for (name, at) in vars {
        let (Some(name), RValue::Ints(at)) = (name, at) else { continue };
        let [off, len] = at[..] else { continue };
        let blob = db
            .get(off as usize..(off + len) as usize)
            .ok_or_else(|| Error::corrupt(&rdb, format!("{name} lies past the end"), hint))?;
        let mut data = Vec::new();
        // 4-byte length, then zlib ('Z' type byte first in newer databases).
        let body = if blob.len() > 5 && blob[4] == b'Z' { &blob[5..] } else { &blob[4.min(blob.len())..] };
        flate2::read::ZlibDecoder::new(body)
            .read_to_end(&mut data)
            .map_err(|e| Error::corrupt(&rdb, format!("{name}: {e}"), hint))?;
        let value = Unserializer::new(&data)
            .and_then(|mut u| u.read())
            .map_err(|e| Error::corrupt(&rdb, format!("{name}: {e}"), hint))?;
        out.push((name, value));
    }
    Ok(out)
}

/// A novel's lines as chapter documents: paragraphs are runs of non-empty lines, a line
/// starting with `CHAPTER`/`Chapter` opens a chapter.
pub fn novel_chapters(name: &str, lines: &[Option<String>]) -> Vec<RawDoc> {
    let mut docs = Vec::new();
    let mut paras: Vec<String> = Vec::new();
    let mut para: Vec<&str> = Vec::new();
    let mut chapter = 0usize;
    let mut flush_doc = |paras: &mut Vec<String>, chapter: usize| {
        if paras.len() > 1 {
            docs.push(RawDoc { id: format!("{name}/{chapter}"), text: paras.join("\n\n") });
        }
        paras.clear();
    };
    for line in lines.iter().map(|l| l.as_deref().unwrap_or("")) {
        let t = line.trim();
        if t.is_empty() {
            if !para.is_empty() {
                paras.push(para.join(" "));
                para.clear();
            }
            continue;
        }
        if t.starts_with("CHAPTER") || t.starts_with("Chapter") {
            if !para.is_empty() {
                paras.push(para.join(" "));
                para.clear();
            }
            flush_doc(&mut paras, chapter);
            chapter += 1;
        }
        para.push(t);
    }
    if !para.is_empty() {
        paras.push(para.join(" "));
    }
    flush_doc(&mut paras, chapter);
    docs
}

/// Chapters of every character vector in the database at `base`.
pub fn extract(base: &Path) -> Result<Vec<RawDoc>> {
    let mut docs = Vec::new();
    for (name, value) in read_lazy_load(base)? {
        if let RValue::Strings(lines) = value {
            docs.extend(novel_chapters(&name, &lines));
        }
    }
    Ok(docs)
}

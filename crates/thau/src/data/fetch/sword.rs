//! SWORD zText Bible modules (CrossWire's compressed text driver), read without libsword.
//!
//! Per testament (`ot`, `nt`) there are three files, `X` being the block type letter
//! (`b` book, `c` chapter, `v` verse):
//!
//! ```text
//! ot.Xzs  block index, 12 bytes per block:  u32 offset in .Xzz, u32 compressed size, u32 size
//! ot.Xzv  verse index, 10 bytes per entry:  u32 block number, u32 offset in the block, u16 size
//! ot.Xzz  the blocks, each a zlib stream (CompressType=ZIP)
//! ```
//!
//! All integers are little endian. Entries follow the module's versification; rather than
//! carry versification tables, THAU reads the OSIS markup the entries hold: `<chapter
//! osisID="Gen.1" sID=.../>` opens a chapter, `<div type="x-p" sID=.../>` a paragraph, the
//! `x-usfm-h` milestone names the book, and `<note>` (footnotes, cross references) is dropped.

use super::html::{decode_entities, tokenize, Token};
use super::sources::RawDoc;
use crate::error::{Error, Result};
use std::io::Read;
use std::path::{Path, PathBuf};

/// Size of one block-index entry.
const BLOCK_ENTRY: usize = 12;
/// Size of one verse-index entry.
const VERSE_ENTRY: usize = 10;

/// The three files of one testament, if present.
fn testament_files(dir: &Path, testament: &str) -> Option<(PathBuf, PathBuf, PathBuf)> {
    for kind in ["b", "c", "v"] {
        let f = |ext: &str| dir.join(format!("{testament}.{kind}z{ext}"));
        if f("s").exists() && f("v").exists() && f("z").exists() {
            return Some((f("s"), f("v"), f("z")));
        }
    }
    None
}

fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| Error::io(path, e))
}

fn u32_at(b: &[u8], o: usize) -> usize {
    u32::from_le_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]]) as usize
}

/// The raw entries (OSIS markup) of one testament, in index order; empty entries skipped.
pub fn testament_entries(bzs: &Path, bzv: &Path, bzz: &Path) -> Result<Vec<String>> {
    let (blocks, verses, data) = (read(bzs)?, read(bzv)?, read(bzz)?);
    let hint = "delete the cached package to download it again";
    let mut out = Vec::new();
    let mut cached: Option<(usize, Vec<u8>)> = None;
    for v in verses.chunks_exact(VERSE_ENTRY) {
        let (block, offset) = (u32_at(v, 0), u32_at(v, 4));
        let size = u16::from_le_bytes([v[8], v[9]]) as usize;
        if size == 0 {
            continue;
        }
        if cached.as_ref().map(|(b, _)| *b) != Some(block) {
            let e = block * BLOCK_ENTRY;
            if e + BLOCK_ENTRY > blocks.len() {
                return Err(Error::corrupt(
                    bzv,
                    format!("verse entry points at block {block}, past the block index"),
                    hint,
                ));
            }
            let (start, csize, usize_) = (u32_at(&blocks, e), u32_at(&blocks, e + 4), u32_at(&blocks, e + 8));
            let raw = data
                .get(start..start + csize)
                .ok_or_else(|| Error::corrupt(bzz, format!("block {block} runs past the end of the file"), hint))?;
            let mut buf = Vec::with_capacity(usize_);
            flate2::read::ZlibDecoder::new(raw)
                .read_to_end(&mut buf)
                .map_err(|e| Error::corrupt(bzz, format!("block {block} is not a zlib stream: {e}"), hint))?;
            cached = Some((block, buf));
        }
        let buf = &cached.as_ref().expect("block just cached").1;
        let text = buf
            .get(offset..offset + size)
            .ok_or_else(|| Error::corrupt(bzv, format!("entry runs past the end of block {block}"), hint))?;
        out.push(String::from_utf8_lossy(text).into_owned());
    }
    Ok(out)
}

/// Turns a stream of OSIS entries into chapter documents.
#[derive(Default)]
struct Chapters {
    docs: Vec<RawDoc>,
    book: String,
    /// The chapter being filled: (osisID, title, paragraphs, current paragraph).
    current: Option<(String, String, Vec<String>, String)>,
    /// Depth inside `<note>` elements.
    in_note: usize,
}

impl Chapters {
    fn close_paragraph(&mut self) {
        if let Some((_, _, paras, para)) = self.current.as_mut() {
            let p = para.split_whitespace().collect::<Vec<_>>().join(" ");
            if !p.is_empty() {
                paras.push(p);
            }
            para.clear();
        }
    }

    fn close_chapter(&mut self) {
        self.close_paragraph();
        if let Some((id, title, paras, _)) = self.current.take() {
            if !paras.is_empty() {
                self.docs.push(RawDoc { id, text: format!("{title}\n\n{}", paras.join("\n\n")) });
            }
        }
    }

    fn entry(&mut self, osis: &str) {
        for tok in tokenize(osis) {
            match tok {
                Token::Text(t) => {
                    if self.in_note == 0 {
                        if let Some((_, _, _, para)) = self.current.as_mut() {
                            para.push_str(&decode_entities(t));
                        }
                    }
                }
                Token::Tag(tag) => match tag.name.as_str() {
                    "note" if !tag.self_closing => {
                        if tag.end {
                            self.in_note = self.in_note.saturating_sub(1);
                        } else {
                            self.in_note += 1;
                        }
                    }
                    "milestone" if tag.attr("type") == Some("x-usfm-h") => {
                        if let Some(n) = tag.attr("n") {
                            self.book = n.trim().to_string();
                        }
                    }
                    "div" if tag.attr("type") == Some("book") && tag.attr("sid").is_some() => {
                        self.close_chapter();
                        self.book = tag.attr("osisid").unwrap_or("").to_string();
                    }
                    "chapter" if tag.attr("sid").is_some() => {
                        self.close_chapter();
                        let id = tag.attr("osisid").or(tag.attr("sid")).unwrap_or("").to_string();
                        let n = tag.attr("n").map(str::to_string).or_else(|| id.rsplit('.').next().map(str::to_string));
                        let title = format!("{} {}", self.book, n.unwrap_or_default()).trim().to_string();
                        self.current = Some((id, title, Vec::new(), String::new()));
                    }
                    "chapter" if tag.attr("eid").is_some() => self.close_chapter(),
                    "div" if tag.attr("type") == Some("x-p") && tag.attr("sid").is_some() => self.close_paragraph(),
                    "milestone" if tag.attr("type") == Some("x-p") => self.close_paragraph(),
                    "title" | "lb" | "l" | "lg" => self.close_paragraph(),
                    _ => {}
                },
            }
        }
        // Verses are separated by a space inside a paragraph.
        if let Some((_, _, _, para)) = self.current.as_mut() {
            para.push(' ');
        }
    }
}

/// One document per chapter ("Génesis 1" then its paragraphs) of the module in `dir`.
pub fn extract(dir: &Path) -> Result<Vec<RawDoc>> {
    let mut chapters = Chapters::default();
    let mut found = false;
    for testament in ["ot", "nt"] {
        if let Some((s, v, z)) = testament_files(dir, testament) {
            found = true;
            for e in testament_entries(&s, &v, &z)? {
                chapters.entry(&e);
            }
            chapters.close_chapter();
        }
    }
    if !found {
        return Err(Error::not_found(dir, "no SWORD zText files (ot.bzs/bzv/bzz or nt.*) in this folder"));
    }
    Ok(chapters.docs)
}

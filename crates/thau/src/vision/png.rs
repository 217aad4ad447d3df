//! Image files: an RGB PNG whose text chunks carry how it was made, and the same metadata as a
//! JSON sidecar beside it. Both are written atomically (temporary file, fsync, rename), so a
//! crash or a full disk never leaves half an image under the final name.

use crate::error::{Error, Result};
use std::path::{Path, PathBuf};

/// An 8-bit RGB image, rows top to bottom.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RgbImage {
    pub width: usize,
    pub height: usize,
    /// `width * height * 3` bytes.
    pub pixels: Vec<u8>,
}

/// Encode `img` as PNG with `text` as (keyword, value) chunks: `tEXt` when the value is
/// Latin-1, `iTXt` (UTF-8) otherwise.
pub fn encode_png(img: &RgbImage, text: &[(String, String)]) -> Result<Vec<u8>> {
    if img.pixels.len() != img.width * img.height * 3 {
        return Err(Error::invalid(
            "image",
            format!("{} bytes for {}x{} RGB", img.pixels.len(), img.width, img.height),
        ));
    }
    let err = |e: png::EncodingError| Error::invalid("PNG encoding", e.to_string());
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, img.width as u32, img.height as u32);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        for (k, v) in text {
            if v.chars().all(|c| (c as u32) < 256) {
                enc.add_text_chunk(k.clone(), v.clone()).map_err(err)?;
            } else {
                enc.add_itxt_chunk(k.clone(), v.clone()).map_err(err)?;
            }
        }
        let mut w = enc.write_header().map_err(err)?;
        w.write_image_data(&img.pixels).map_err(err)?;
        w.finish().map_err(err)?;
    }
    Ok(out)
}

/// The text chunks of a PNG file (tEXt, zTXt and iTXt), in file order.
pub fn read_png_text(path: &Path) -> Result<Vec<(String, String)>> {
    let f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let dec = png::Decoder::new(std::io::BufReader::new(f));
    let reader = dec.read_info().map_err(|e| Error::corrupt(path, e.to_string(), "not a PNG file"))?;
    let info = reader.info();
    let mut out: Vec<(String, String)> =
        info.uncompressed_latin1_text.iter().map(|c| (c.keyword.clone(), c.text.clone())).collect();
    for c in &info.compressed_latin1_text {
        out.push((c.keyword.clone(), c.get_text().unwrap_or_default()));
    }
    for c in &info.utf8_text {
        out.push((c.keyword.clone(), c.get_text().unwrap_or_default()));
    }
    Ok(out)
}

/// Decode a PNG written by [`encode_png`] back to RGB (for tests and round trips).
pub fn read_png(path: &Path) -> Result<RgbImage> {
    let f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut reader = png::Decoder::new(std::io::BufReader::new(f))
        .read_info()
        .map_err(|e| Error::corrupt(path, e.to_string(), "not a PNG file"))?;
    let mut buf = vec![0; reader.output_buffer_size()];
    let frame = reader.next_frame(&mut buf).map_err(|e| Error::corrupt(path, e.to_string(), "not a PNG file"))?;
    if frame.color_type != png::ColorType::Rgb || frame.bit_depth != png::BitDepth::Eight {
        return Err(Error::corrupt(path, "not 8-bit RGB", "read it with an image viewer"));
    }
    buf.truncate(frame.buffer_size());
    Ok(RgbImage { width: frame.width as usize, height: frame.height as usize, pixels: buf })
}

/// A file name in `dir` starting with `stem` that is not taken yet (`stem.png`, else
/// `stem-2.png`, …), with its sidecar name.
pub fn free_name(dir: &Path, stem: &str) -> (PathBuf, PathBuf) {
    let mut n = 1;
    loop {
        let s = if n == 1 { stem.to_string() } else { format!("{stem}-{n}") };
        let (png, json) = (dir.join(format!("{s}.png")), dir.join(format!("{s}.json")));
        if !png.exists() && !json.exists() {
            return (png, json);
        }
        n += 1;
    }
}

/// Write the sidecar, then the PNG, each atomically; if the PNG cannot be written the sidecar
/// is removed again, so no image is left half-described either.
pub fn save_with_sidecar(
    png_path: &Path,
    json_path: &Path,
    png_bytes: &[u8],
    sidecar: &serde_json::Value,
) -> Result<()> {
    let json = serde_json::to_vec_pretty(sidecar).map_err(|e| Error::invalid("image metadata", e.to_string()))?;
    crate::fs::write_atomic(json_path, &json)?;
    if let Err(e) = crate::fs::write_atomic(png_path, png_bytes) {
        let _ = std::fs::remove_file(json_path);
        return Err(e);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn png_round_trip_with_text_chunks() {
        let dir = tempfile::tempdir().unwrap();
        let img = RgbImage { width: 3, height: 2, pixels: (0..18).map(|i| i * 10).collect() };
        let text = vec![("prompt".to_string(), "un gato en la playa".to_string()), ("emoji".into(), "cat 🐈".into())];
        let bytes = encode_png(&img, &text).unwrap();
        let p = dir.path().join("a.png");
        std::fs::write(&p, bytes).unwrap();
        assert_eq!(read_png(&p).unwrap(), img);
        assert_eq!(read_png_text(&p).unwrap(), text);
    }

    #[test]
    fn wrong_pixel_count_is_an_error() {
        let img = RgbImage { width: 3, height: 2, pixels: vec![0; 5] };
        assert!(encode_png(&img, &[]).is_err());
    }

    #[test]
    fn free_name_skips_taken_names() {
        let dir = tempfile::tempdir().unwrap();
        let (a, _) = free_name(dir.path(), "x");
        std::fs::write(&a, b"").unwrap();
        let (b, j) = free_name(dir.path(), "x");
        assert_eq!(b.file_name().unwrap(), "x-2.png");
        assert_eq!(j.file_name().unwrap(), "x-2.json");
    }
}

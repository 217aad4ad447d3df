//! `thau image` end to end on a tiny random Stable Diffusion pipeline written in the diffusers
//! layout: PNGs with text chunks and sidecars, the same seed gives the same pixels, `--batch`
//! files, and bad input that fails before writing anything.

use crate::common;

use common::{fails_with, ok, thau};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use thau::vision::png::{read_png, read_png_text};
use thau::vision::random::write_random_pipeline;
use thau::vision::PipelineConfig;

/// One tiny random pipeline folder for the whole test binary.
fn model_dir() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| {
        let d = tempfile::tempdir().unwrap();
        write_random_pipeline(d.path(), &PipelineConfig::tiny(600)).unwrap();
        d
    })
    .path()
}

/// `thau image` on the tiny model, 2 steps at 256×256 unless `extra` says otherwise.
fn image_cmd(out: &Path, extra: &[&str]) -> std::process::Command {
    let mut c = thau();
    c.args(["--threads", "2", "image", "--model"]).arg(model_dir()).arg("--out").arg(out).args(extra);
    for (flag, default) in [("--steps", "2"), ("--width", "256"), ("--height", "256")] {
        if !extra.contains(&flag) {
            c.args([flag, default]);
        }
    }
    c.env_remove("THAU_IMAGE_MODEL");
    c
}

/// The JSON lines `--json` prints, one per image.
fn results(stdout: &[u8]) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(stdout).lines().map(|l| serde_json::from_str(l).expect("a JSON line per image")).collect()
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(rd) => rd.map(|e| e.unwrap().path()).collect(),
        Err(_) => vec![],
    };
    v.sort();
    v
}

#[test]
fn image_writes_png_with_metadata_and_sidecar() {
    let out = tempfile::tempdir().unwrap();
    let o = ok(image_cmd(
        out.path(),
        &["un perro astronauta", "--negative", "borroso", "--seed", "42", "--guidance", "6", "--json"],
    )
    .output()
    .unwrap());
    let res = results(&o.stdout);
    assert_eq!(res.len(), 1, "one image");
    let r = &res[0];
    assert_eq!(r["success"], true);
    let path = PathBuf::from(r["path"].as_str().unwrap());
    assert!(path.starts_with(out.path()), "{path:?} is in --out");
    assert_eq!(path.extension().unwrap(), "png");

    let img = read_png(&path).unwrap();
    assert_eq!((img.width, img.height), (256, 256));
    let text = read_png_text(&path).unwrap();
    let get = |k: &str| text.iter().find(|(key, _)| key == k).map(|(_, v)| v.clone());
    assert_eq!(get("prompt").as_deref(), Some("un perro astronauta"));
    assert!(text.iter().any(|(_, v)| v.contains("borroso")), "negative prompt in the PNG text: {text:?}");

    let sidecar: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path.with_extension("json")).unwrap()).unwrap();
    assert_eq!(sidecar["prompt"], "un perro astronauta");
    assert_eq!(sidecar["negative_prompt"], "borroso");
    assert_eq!(sidecar["seed"], 42);
    assert_eq!(sidecar["steps"], 2);
    assert_eq!(sidecar["guidance_scale"], 6.0);
    assert_eq!((sidecar["width"].as_u64(), sidecar["height"].as_u64()), (Some(256), Some(256)));
    assert_eq!(files(out.path()).len(), 2, "a PNG and its sidecar, no temporaries: {:?}", files(out.path()));
}

#[test]
fn same_seed_same_pixels_other_seed_other_pixels() {
    let pixels = |seed: &str| {
        let out = tempfile::tempdir().unwrap();
        let o = ok(image_cmd(out.path(), &["a red cat", "--seed", seed, "--json"]).output().unwrap());
        let path = results(&o.stdout)[0]["path"].as_str().unwrap().to_string();
        read_png(Path::new(&path)).unwrap().pixels
    };
    let a = pixels("7");
    assert_eq!(a, pixels("7"), "the same seed gives the same image");
    assert_ne!(a, pixels("8"), "another seed gives another image");
}

#[test]
fn batch_file_with_per_line_overrides_and_count() {
    let out = tempfile::tempdir().unwrap();
    let list = out.path().join("prompts.txt");
    std::fs::write(
        &list,
        "# two prompts\n\na lighthouse at night\n{\"prompt\": \"un gato azul\", \"seed\": 5, \"count\": 2}\n",
    )
    .unwrap();
    let images = out.path().join("images");
    let o = ok(image_cmd(&images, &["--batch", list.to_str().unwrap(), "--seed", "1", "--json"]).output().unwrap());
    let res = results(&o.stdout);
    assert_eq!(res.len(), 3, "1 + 2 images: {res:?}");
    assert_eq!(res[0]["prompt"], "a lighthouse at night");
    assert_eq!(res[0]["seed"], 1);
    assert_eq!(res[1]["prompt"], "un gato azul");
    // Image i of a request uses seed + i.
    assert_eq!((res[1]["seed"].as_u64(), res[2]["seed"].as_u64()), (Some(5), Some(6)));
    assert_eq!(files(&images).len(), 6);
}

#[test]
fn bad_input_fails_clearly_and_writes_nothing() {
    let out = tempfile::tempdir().unwrap();
    let images = out.path().join("images");
    // Not a multiple of 8.
    fails_with(image_cmd(&images, &["a cat", "--width", "300"]).output().unwrap(), &["width", "300", "8"]);
    // Too many steps.
    fails_with(image_cmd(&images, &["a cat", "--steps", "151"]).output().unwrap(), &["steps", "151"]);
    // An unknown field in a batch line names the file and line.
    let list = out.path().join("bad.txt");
    std::fs::write(&list, "a cat\n{\"prompt\": \"x\", \"sead\": 3}\n").unwrap();
    fails_with(
        image_cmd(&images, &["--batch", list.to_str().unwrap()]).output().unwrap(),
        &["bad.txt", "line 2", "sead"],
    );
    // A folder without the model's parts names what is missing.
    let empty = out.path().join("no-model");
    std::fs::create_dir_all(&empty).unwrap();
    let mut c = thau();
    c.args(["image", "a cat", "--steps", "2", "--width", "256", "--height", "256", "--model"])
        .arg(&empty)
        .arg("--out")
        .arg(&images)
        .env_remove("THAU_IMAGE_MODEL");
    fails_with(c.output().unwrap(), &["no-model"]);
    // No model at all says how to get one.
    let mut c = thau();
    c.args(["image", "a cat", "--out"]).arg(&images).env_remove("THAU_IMAGE_MODEL");
    fails_with(c.output().unwrap(), &["--model"]);
    assert!(files(&images).is_empty(), "no image files after failures: {:?}", files(&images));
}

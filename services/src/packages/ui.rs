//! A mini-app's UI as a package carries it (section `03`): static files
//! under checked paths, and every rule they must meet — path syntax, file
//! types, how many and how large, and that the manifest's entry and icon are
//! among them. `pack`, `install --dev` and every install check the same
//! rules here; a UI that breaks one is refused whole, naming the file.

use super::manifest::UiManifest;
use crate::text::hex;
use sha2::{Digest, Sha256};
use std::collections::HashSet;
use std::ops::Range;

/// Most files one UI may hold.
pub const MAX_UI_FILES: usize = 500;
/// Longest path of a UI file, in bytes.
pub const MAX_UI_PATH_BYTES: usize = 512;
/// Longest segment of a UI path.
const MAX_SEGMENT_BYTES: usize = 64;

/// The file types a UI may hold, by (lower-case) extension, with the
/// `Content-Type` the host serves each with. Anything else is refused.
const FILE_TYPES: &[(&str, &str)] = &[
    ("html", "text/html; charset=utf-8"),
    ("htm", "text/html; charset=utf-8"),
    ("js", "text/javascript; charset=utf-8"),
    ("mjs", "text/javascript; charset=utf-8"),
    ("css", "text/css; charset=utf-8"),
    ("json", "application/json"),
    ("svg", "image/svg+xml"),
    ("png", "image/png"),
    ("jpg", "image/jpeg"),
    ("jpeg", "image/jpeg"),
    ("gif", "image/gif"),
    ("webp", "image/webp"),
    ("avif", "image/avif"),
    ("ico", "image/x-icon"),
    ("woff", "font/woff"),
    ("woff2", "font/woff2"),
    ("txt", "text/plain; charset=utf-8"),
    ("md", "text/plain; charset=utf-8"),
    ("wasm", "application/wasm"),
];

/// The extensions an entry page may have.
const PAGE_TYPES: &[&str] = &["html", "htm"];
/// The extensions an icon may have.
const ICON_TYPES: &[&str] = &["svg", "png", "jpg", "jpeg", "gif", "webp", "avif", "ico"];

/// Why a UI is refused. Every variant's code is `invalid-ui`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UiError {
    /// One file (as the UI names it, or its path on disk) is wrong.
    #[error("UI file `{path}`: {detail}")]
    File { path: String, detail: String },
    /// The UI as a whole is wrong.
    #[error("the UI {0}")]
    Whole(String),
}

impl UiError {
    /// A stable machine-readable code.
    pub fn code(&self) -> &'static str {
        "invalid-ui"
    }

    pub(crate) fn file(path: impl Into<String>, detail: impl Into<String>) -> UiError {
        UiError::File {
            path: path.into(),
            detail: detail.into(),
        }
    }
}

fn extension(path: &str) -> Option<&str> {
    let name = path.rsplit('/').next().unwrap_or(path);
    name.rsplit_once('.').map(|(_, ext)| ext)
}

/// The `Content-Type` of the UI file `path`, if its type is allowed.
pub fn content_type(path: &str) -> Option<&'static str> {
    let ext = extension(path)?;
    FILE_TYPES.iter().find(|(e, _)| *e == ext).map(|(_, t)| *t)
}

/// Checks one path segment (a file or folder name): 1–64 of
/// `A-Z a-z 0-9 . _ -`, not starting with `.` (so never `.` or `..`).
pub fn check_segment(segment: &str) -> Result<(), String> {
    if segment.is_empty() {
        return Err("has an empty segment (`//`, or a leading or trailing `/`)".into());
    }
    if segment.len() > MAX_SEGMENT_BYTES {
        return Err(format!(
            "has a name of {} characters; at most {MAX_SEGMENT_BYTES}",
            segment.len()
        ));
    }
    if segment.starts_with('.') {
        return Err(format!(
            "`{segment}` starts with `.` (hidden files, `.` and `..` are not allowed)"
        ));
    }
    if let Some(c) = segment
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        return Err(format!(
            "{c:?} is not allowed in a name (use A-Z a-z 0-9 . _ -)"
        ));
    }
    Ok(())
}

/// Checks a UI file path: relative, `/`-separated, each segment as
/// [`check_segment`] says, at most [`MAX_UI_PATH_BYTES`], and ending in an
/// allowed, lower-case extension.
pub fn check_path(path: &str) -> Result<(), String> {
    if path.len() > MAX_UI_PATH_BYTES {
        return Err(format!(
            "the path has {} bytes; at most {MAX_UI_PATH_BYTES}",
            path.len()
        ));
    }
    for segment in path.split('/') {
        check_segment(segment)?;
    }
    let Some(ext) = extension(path) else {
        return Err("has no file extension, so no known type".into());
    };
    if content_type(path).is_some() {
        return Ok(());
    }
    let lower = ext.to_ascii_lowercase();
    if FILE_TYPES.iter().any(|(e, _)| *e == lower) {
        return Err(format!(
            "the extension `.{ext}` must be written in lower case (`.{lower}`)"
        ));
    }
    let allowed: Vec<&str> = FILE_TYPES.iter().map(|(e, _)| *e).collect();
    Err(format!(
        "`.{ext}` is not a file type a UI may hold (allowed: {})",
        allowed.join(" ")
    ))
}

/// The tag of a UI: the first 16 hex digits of the SHA-256 of its section
/// body. It names the UI in URLs, so a new UI is a new address.
pub fn tag_of(body: &[u8]) -> String {
    hex(&Sha256::digest(body))[..16].to_string()
}

/// A checked UI: the bytes of its package section and where each file lies
/// in them, sorted by path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ui {
    body: Vec<u8>,
    files: Vec<(String, Range<usize>)>,
    total: u64,
}

impl Ui {
    /// Builds a UI from files in any order (what a folder on disk gives),
    /// checking it as [`Ui::parse`] does.
    pub fn from_files(mut files: Vec<(String, Vec<u8>)>, limit: u64) -> Result<Ui, UiError> {
        files.sort_by(|a, b| a.0.cmp(&b.0));
        let mut body = Vec::new();
        for (path, bytes) in &files {
            let path_len = u16::try_from(path.len())
                .map_err(|_| UiError::file(path, "the path is too long"))?;
            let size =
                u32::try_from(bytes.len()).map_err(|_| UiError::file(path, "is over 4 GiB"))?;
            body.extend_from_slice(&path_len.to_le_bytes());
            body.extend_from_slice(path.as_bytes());
            body.extend_from_slice(&size.to_le_bytes());
            body.extend_from_slice(bytes);
        }
        Ui::parse(body, limit)
    }

    /// Parses and checks a section body: each file is `u16 path length,
    /// path, u32 size, bytes`, sorted by path, each path once and never
    /// both a file and a folder; at most [`MAX_UI_FILES`] files, whose sizes
    /// add up to at most `limit` bytes.
    pub fn parse(body: Vec<u8>, limit: u64) -> Result<Ui, UiError> {
        let mut files: Vec<(String, Range<usize>)> = Vec::new();
        let mut total: u64 = 0;
        let mut pos = 0;
        let truncated = |pos: usize, what: &str| {
            UiError::Whole(format!("section ends inside {what} at byte {pos}"))
        };
        while pos < body.len() {
            let len_bytes = body
                .get(pos..pos + 2)
                .ok_or_else(|| truncated(pos, "a path length"))?;
            let path_len = u16::from_le_bytes([len_bytes[0], len_bytes[1]]) as usize;
            pos += 2;
            let raw = body
                .get(pos..pos + path_len)
                .ok_or_else(|| truncated(pos, "a path"))?;
            let path = std::str::from_utf8(raw).map_err(|_| {
                UiError::Whole(format!(
                    "section has a path that is not UTF-8 at byte {pos}"
                ))
            })?;
            pos += path_len;
            check_path(path).map_err(|d| UiError::file(path, d))?;
            if let Some((prev, _)) = files.last() {
                match prev.as_str().cmp(path) {
                    std::cmp::Ordering::Less => {}
                    std::cmp::Ordering::Equal => {
                        return Err(UiError::file(path, "appears twice"));
                    }
                    std::cmp::Ordering::Greater => {
                        return Err(UiError::file(
                            path,
                            format!("comes after `{prev}`: the files must be sorted by path"),
                        ));
                    }
                }
            }
            if files.len() == MAX_UI_FILES {
                return Err(UiError::Whole(format!(
                    "has more than {MAX_UI_FILES} files"
                )));
            }
            let size_bytes = body
                .get(pos..pos + 4)
                .ok_or_else(|| truncated(pos, "a file size"))?;
            let size =
                u32::from_le_bytes([size_bytes[0], size_bytes[1], size_bytes[2], size_bytes[3]])
                    as usize;
            pos += 4;
            if body.len() - pos < size {
                return Err(UiError::file(
                    path,
                    format!(
                        "needs {size} bytes and the section has {} left",
                        body.len() - pos
                    ),
                ));
            }
            total += size as u64;
            if total > limit {
                return Err(over_limit(path, total, limit));
            }
            files.push((path.to_string(), pos..pos + size));
            pos += size;
        }
        if files.is_empty() {
            return Err(UiError::Whole("has no files".into()));
        }
        // Sorted, so a folder's name is seen before anything in it.
        let mut seen: HashSet<&str> = HashSet::new();
        for (path, _) in &files {
            for (i, _) in path.match_indices('/') {
                if seen.contains(&path[..i]) {
                    return Err(UiError::file(
                        path.as_str(),
                        format!("lies in `{}`, which is a file", &path[..i]),
                    ));
                }
            }
            seen.insert(path);
        }
        Ok(Ui { body, files, total })
    }

    /// The section body, as the package carries it.
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// See [`tag_of`].
    pub fn tag(&self) -> String {
        tag_of(&self.body)
    }

    /// How many files it holds.
    pub fn file_count(&self) -> usize {
        self.files.len()
    }

    /// The files' sizes added up.
    pub fn total_bytes(&self) -> u64 {
        self.total
    }

    /// Each file's path and where its bytes lie in [`Ui::body`], sorted.
    pub fn files(&self) -> &[(String, Range<usize>)] {
        &self.files
    }

    /// The bytes of the file `path`, if the UI has it.
    pub fn get(&self, path: &str) -> Option<&[u8]> {
        let i = self
            .files
            .binary_search_by(|(p, _)| p.as_str().cmp(path))
            .ok()?;
        self.body.get(self.files[i].1.clone())
    }

    /// The manifest's `entry` and `icon` must be files of this UI: the
    /// entry a page, the icon an image.
    pub fn check_manifest(&self, ui: &UiManifest) -> Result<(), UiError> {
        let has = |path: &str, field: &str, kinds: &[&str], kind: &str| {
            if self.get(path).is_none() {
                return Err(UiError::file(
                    path,
                    format!("the manifest's [ui] {field} is not a file in the UI"),
                ));
            }
            match extension(path) {
                Some(ext) if kinds.contains(&ext) => Ok(()),
                _ => Err(UiError::file(
                    path,
                    format!(
                        "the manifest's [ui] {field} must be {kind} ({})",
                        kinds.join(" ")
                    ),
                )),
            }
        };
        has(&ui.entry, "entry", PAGE_TYPES, "a page")?;
        if let Some(icon) = &ui.icon {
            has(icon, "icon", ICON_TYPES, "an image")?;
        }
        Ok(())
    }
}

/// The file `path` takes the UI to `total` bytes or more, over `limit`.
pub(crate) fn over_limit(path: &str, total: u64, limit: u64) -> UiError {
    UiError::file(
        path,
        format!(
            "takes the UI to {total} bytes or more, over this host's limit of {limit} bytes (max_ui_bytes, --max-ui-kib)"
        ),
    )
}

/// The UI a package or developer install brings, checked against its
/// manifest: a `[ui]` table needs a UI, and a UI needs a `[ui]` table.
pub fn check_ui(
    manifest: Option<&UiManifest>,
    body: Option<Vec<u8>>,
    limit: u64,
) -> Result<Option<Ui>, UiError> {
    match (manifest, body) {
        (None, None) => Ok(None),
        (Some(_), None) => Err(UiError::Whole(
            "is missing: the manifest has a [ui] table but the package has no UI section".into(),
        )),
        (None, Some(_)) => Err(UiError::Whole(
            "has no [ui] table in the manifest to say its entry page".into(),
        )),
        (Some(m), Some(body)) => {
            let ui = Ui::parse(body, limit)?;
            ui.check_manifest(m)?;
            Ok(Some(ui))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ui(files: &[(&str, &str)]) -> Result<Ui, UiError> {
        Ui::from_files(
            files
                .iter()
                .map(|(p, b)| (p.to_string(), b.as_bytes().to_vec()))
                .collect(),
            1 << 20,
        )
    }

    #[test]
    fn a_ui_round_trips_through_its_section_sorted() -> Result<(), UiError> {
        let u = ui(&[
            ("z.js", "z"),
            ("index.html", "<p>"),
            ("img/a.svg", "<svg/>"),
        ])?;
        let paths: Vec<&str> = u.files().iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(paths, ["img/a.svg", "index.html", "z.js"]);
        assert_eq!(u.get("index.html"), Some(&b"<p>"[..]));
        assert_eq!(u.total_bytes(), 10);
        let again = Ui::parse(u.body().to_vec(), 1 << 20)?;
        assert_eq!(again, u);
        assert_eq!(u.tag().len(), 16);
        Ok(())
    }

    #[test]
    fn paths_and_types_outside_the_rules_are_refused_naming_the_file() {
        for bad in [
            "../x.js",
            "./x.js",
            "a/../x.js",
            ".hidden.js",
            "a//b.js",
            "/abs.js",
            "a\\b.js",
            "sp ace.js",
            "é.js",
            "x.exe",
            "README",
            "X.PNG",
            "x.js/",
        ] {
            let e = ui(&[(bad, "x")]).err();
            assert!(
                matches!(&e, Some(UiError::File { path, .. }) if path == bad),
                "{bad}: {e:?}"
            );
        }
        let long = format!("{}.js", "a".repeat(70));
        assert!(ui(&[(&long, "x")]).is_err());
        let e = ui(&[("a.js", "x"), ("a.js/b.js", "y")]).err();
        assert!(format!("{e:?}").contains("which is a file"), "{e:?}");
    }

    #[test]
    fn size_count_order_and_truncation_are_checked() {
        let big = "x".repeat(600);
        let e = Ui::from_files(vec![("a.js".into(), big.into_bytes())], 500).err();
        assert!(format!("{e:?}").contains("limit of 500 bytes"), "{e:?}");
        let many: Vec<(String, Vec<u8>)> = (0..=MAX_UI_FILES)
            .map(|i| (format!("f{i}.js"), vec![]))
            .collect();
        let e = Ui::from_files(many, 1 << 20).err();
        assert!(format!("{e:?}").contains("more than 500 files"), "{e:?}");
        let good = ui(&[("a.js", "1"), ("b.js", "2")]).map(|u| u.body().to_vec());
        let good = good.unwrap_or_default();
        // Swap the two entries: same files, unsorted.
        let half = good.len() / 2;
        let swapped = [&good[half..], &good[..half]].concat();
        let e = Ui::parse(swapped, 1 << 20).err();
        assert!(format!("{e:?}").contains("sorted"), "{e:?}");
        let twice = [&good[..half], &good[..half]].concat();
        assert!(format!("{:?}", Ui::parse(twice, 1 << 20)).contains("twice"));
        // Cut anywhere but between the two files.
        for cut in (1..good.len()).filter(|c| *c != half) {
            assert!(
                Ui::parse(good[..cut].to_vec(), 1 << 20).is_err(),
                "cut {cut}"
            );
        }
        assert!(Ui::parse(Vec::new(), 1 << 20).is_err());
    }

    #[test]
    fn the_entry_must_be_a_page_and_the_icon_an_image_in_the_ui() -> Result<(), UiError> {
        let u = ui(&[
            ("index.html", "<p>"),
            ("app.js", ""),
            ("icon.svg", "<svg/>"),
        ])?;
        let m = |entry: &str, icon: Option<&str>| UiManifest {
            dir: "ui".into(),
            entry: entry.into(),
            icon: icon.map(str::to_string),
        };
        assert!(u.check_manifest(&m("index.html", Some("icon.svg"))).is_ok());
        for (entry, icon) in [
            ("missing.html", None),
            ("app.js", None),
            ("index.html", Some("app.js")),
            ("index.html", Some("gone.png")),
        ] {
            assert!(
                u.check_manifest(&m(entry, icon)).is_err(),
                "{entry} {icon:?}"
            );
        }
        Ok(())
    }
}

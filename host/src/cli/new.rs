//! `new`: scaffolds a mini-app crate (Cargo.toml, code, manifest, a
//! mock-host test, a README) that builds and installs with the commands it
//! prints, inside a cargo workspace or outside one.

use super::CliError;
use crate::packages::check_app_id;
use clap::Args;
use std::io::Write;
use std::path::{Component, Path, PathBuf};

// No doc comment: `Command::New`'s is the command's help.
#[derive(Args)]
pub(super) struct NewArgs {
    /// The app id: 2–64 of a-z, 0-9 and single dashes, starting with a letter.
    id: String,
    /// The folder to create (default: ./<id>). It must not exist yet, or be empty.
    #[arg(long, value_name = "DIR")]
    path: Option<PathBuf>,
    /// The SDK's folder (`sdk/` in a superapp checkout). Default: the one
    /// this binary was built from, if it is still there.
    #[arg(long, value_name = "DIR", env = "SUPERAPP_SDK")]
    sdk: Option<PathBuf>,
}

/// Where the new crate sits relative to a cargo workspace.
enum Place {
    /// No workspace above: the crate is its own.
    Alone,
    /// Inside a workspace that does not list it: still its own (a
    /// `[workspace]` table), or cargo refuses to build it there.
    Outside(PathBuf),
    /// A member of the workspace at this root; `sdk_in_workspace` when the
    /// root declares `superapp-sdk` in `[workspace.dependencies]`.
    Member {
        root: PathBuf,
        sdk_in_workspace: bool,
    },
}

pub(super) fn run(args: NewArgs, out: &mut dyn Write) -> Result<(), CliError> {
    check_app_id(&args.id).map_err(|e| CliError::new("invalid-app-id", e))?;
    let dir = args.path.clone().unwrap_or_else(|| PathBuf::from(&args.id));
    if std::fs::read_dir(&dir).is_ok_and(|mut d| d.next().is_some()) || dir.is_file() {
        return Err(CliError::new(
            "path-exists",
            format!(
                "{} already exists and is not empty: give another folder with --path",
                dir.display()
            ),
        ));
    }
    let sdk = sdk_folder(args.sdk.as_deref())?;
    std::fs::create_dir_all(dir.join("src"))
        .map_err(|e| CliError::plain(format!("cannot create {}: {e}", dir.display())))?;
    let abs_dir = std::fs::canonicalize(&dir)
        .map_err(|e| CliError::plain(format!("{}: {e}", dir.display())))?;
    let place = place_of(&abs_dir);
    let crate_name = args.id.clone();
    let wasm_name = crate_name.replace('-', "_");
    let sdk_dep = match &place {
        Place::Member {
            sdk_in_workspace: true,
            ..
        } => "superapp-sdk = { workspace = true }".to_string(),
        _ => format!(
            "superapp-sdk = {{ path = \"{}\" }}",
            toml_path(&relative_or_absolute(&abs_dir, &sdk))
        ),
    };
    // Where `cargo build` will put the component: the workspace's target
    // for a member, CARGO_TARGET_DIR when set, else the crate's own.
    let target = match (std::env::var_os("CARGO_TARGET_DIR"), &place) {
        (Some(dir), _) => abs_dir.join(dir),
        (None, Place::Member { root, .. }) => root.join("target"),
        (None, _) => abs_dir.join("target"),
    };
    let component = relative_or_absolute(
        &abs_dir,
        &target.join(format!("wasm32-wasip2/release/{wasm_name}.wasm")),
    );
    // An install reads a manifest's component only inside its folder; one
    // built elsewhere is named on the command line with --component.
    let install_extra = match component.starts_with("target") {
        true => String::new(),
        false => format!(" --component {}", shell_word(&component.to_string_lossy())),
    };
    let manifest_component = format!("component = \"{}\"\n", toml_path(&component));
    let workspace_table = match &place {
        Place::Member { .. } => "",
        _ => "\n# Its own workspace, even inside another one.\n[workspace]\n",
    };
    let files = [
        (
            "Cargo.toml",
            cargo_toml(&crate_name, &sdk_dep, workspace_table),
        ),
        ("src/lib.rs", lib_rs(&args.id)),
        (
            &format!("{}.toml", args.id) as &str,
            manifest(&args.id, &manifest_component),
        ),
        ("README.md", readme(&args.id, &install_extra)),
        (".gitignore", "/target\n/superapp-data\n".to_string()),
    ];
    for (name, text) in &files {
        let path = dir.join(name);
        std::fs::write(&path, text)
            .map_err(|e| CliError::plain(format!("cannot write {}: {e}", path.display())))?;
    }
    w!(
        out,
        "created the mini-app `{}` in {}",
        args.id,
        dir.display()
    );
    match &place {
        Place::Alone => {}
        Place::Outside(root) => w!(
            out,
            "(its own workspace: {} does not list it as a member; to make it one, add it to \
             `members` there, remove its `[workspace]` table, and install with --component \
             naming the workspace's target/wasm32-wasip2/release/ build)",
            root.display()
        ),
        Place::Member { root, .. } => {
            w!(out, "(a member of the workspace at {})", root.display())
        }
    }
    w!(out, "build and install it:");
    w!(out, "  rustup target add wasm32-wasip2   # once");
    w!(out, "  cd {}", shell_word(&dir.to_string_lossy()));
    w!(out, "  cargo build --release --target wasm32-wasip2");
    w!(
        out,
        "  superapp install --dev {}.toml{install_extra}",
        args.id
    );
    w!(out, "  superapp call {} /", args.id);
    w!(out, "test it natively with the mock host: cargo test");
    Ok(())
}

/// The SDK folder: given, or the checkout this binary was built from.
fn sdk_folder(given: Option<&Path>) -> Result<PathBuf, CliError> {
    let built_from = Path::new(env!("CARGO_MANIFEST_DIR")).join("../sdk");
    let candidate = given.map(Path::to_path_buf).unwrap_or(built_from);
    match std::fs::canonicalize(&candidate) {
        Ok(p) if p.join("Cargo.toml").is_file() && p.join("wit").is_dir() => Ok(p),
        _ => Err(CliError::new(
            "sdk-not-found",
            format!(
                "{} is not the SDK's folder (it holds Cargo.toml and wit/): give the `sdk` \
                 folder of a superapp checkout with --sdk DIR",
                candidate.display()
            ),
        )),
    }
}

/// The nearest workspace above `dir`, and whether it lists `dir`.
fn place_of(dir: &Path) -> Place {
    for root in dir.ancestors().skip(1) {
        let Ok(text) = std::fs::read_to_string(root.join("Cargo.toml")) else {
            continue;
        };
        let Ok(doc) = text.parse::<toml::Table>() else {
            continue;
        };
        let Some(ws) = doc.get("workspace").and_then(|w| w.as_table()) else {
            continue;
        };
        let Ok(rel) = dir.strip_prefix(root) else {
            return Place::Outside(root.to_path_buf());
        };
        let listed = |key: &str| -> Vec<String> {
            ws.get(key)
                .and_then(|m| m.as_array())
                .map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default()
        };
        let rel_text = rel.to_string_lossy().replace('\\', "/");
        let member = listed("members")
            .iter()
            .any(|m| member_matches(m, &rel_text))
            && !listed("exclude")
                .iter()
                .any(|e| rel_text == *e || rel_text.starts_with(&format!("{e}/")));
        if !member {
            return Place::Outside(root.to_path_buf());
        }
        let sdk_in_workspace = ws
            .get("dependencies")
            .and_then(|d| d.as_table())
            .is_some_and(|d| d.contains_key("superapp-sdk"));
        return Place::Member {
            root: root.to_path_buf(),
            sdk_in_workspace,
        };
    }
    Place::Alone
}

/// A `members` entry against a relative path: exact, or a `*` standing for
/// one path segment (what cargo's globs are used for in practice).
fn member_matches(pattern: &str, path: &str) -> bool {
    let pattern = pattern.trim_end_matches('/');
    let p: Vec<&str> = pattern.split('/').collect();
    let s: Vec<&str> = path.split('/').collect();
    p.len() == s.len()
        && p.iter().zip(&s).all(|(p, s)| match p.split_once('*') {
            None => p == s,
            Some((before, after)) => {
                s.len() >= before.len() + after.len() && s.starts_with(before) && s.ends_with(after)
            }
        })
}

/// `to` relative to `from` when they share a parent below the root (a
/// crate inside the checkout keeps working when the checkout moves), else
/// absolute.
fn relative_or_absolute(from: &Path, to: &Path) -> PathBuf {
    let a: Vec<Component> = from.components().collect();
    let b: Vec<Component> = to.components().collect();
    let common = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    if common <= 1 {
        return to.to_path_buf();
    }
    let mut rel = PathBuf::new();
    for _ in common..a.len() {
        rel.push("..");
    }
    for c in &b[common..] {
        rel.push(c.as_os_str());
    }
    rel
}

/// A word as a POSIX shell reads it back: as is when plain, else quoted.
fn shell_word(text: &str) -> String {
    let plain = !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-+=:@%".contains(c));
    match plain {
        true => text.to_string(),
        false => format!("'{}'", text.replace('\'', "'\\''")),
    }
}

/// A path as a TOML basic string's contents.
fn toml_path(p: &Path) -> String {
    p.to_string_lossy()
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
}

fn cargo_toml(name: &str, sdk_dep: &str, workspace_table: &str) -> String {
    format!(
        r#"[package]
name = "{name}"
version = "0.1.0"
edition = "2024"
publish = false

[lib]
# A WebAssembly component for the host (`cargo test` still builds it
# natively, against the SDK's mock host).
crate-type = ["cdylib"]

[dependencies]
{sdk_dep}
serde_json = "1"
{workspace_table}"#
    )
}

fn lib_rs(id: &str) -> String {
    format!(
        r#"//! The `{id}` mini-app: a greeting, and a visit counter in app storage.

use superapp_sdk::{{App, Error, Request, Response, Router, context, storage}};

struct MiniApp;

impl App for MiniApp {{
    fn handle(req: Request) -> Response {{
        Router::new()
            .get("/", |_| Ok(Response::text("Hello from {id}!")))
            .post("/visits", |_| {{
                // Calls run concurrently: update_json retries on a fresh
                // value when another call wrote meanwhile.
                let n = storage::app().update_json::<u64>("visits", |n| Ok(Some(n.unwrap_or(0) + 1)))?;
                Ok(Response::json(&n))
            }})
            .get("/me", |_| match context::open_id() {{
                Some(id) => Ok(Response::json(&id)),
                None => Err(Error::sign_in_required()),
            }})
            .handle(req)
    }}
}}

superapp_sdk::export!(MiniApp);

#[cfg(test)]
mod tests {{
    use superapp_sdk::mock::MockHost;

    #[test]
    fn each_visit_is_counted() {{
        let host = MockHost::<super::MiniApp>::new("{id}");
        let ann = host.person("ann");
        host.post(&ann, "/visits", &serde_json::json!({{}}));
        let second = host.post(&ann, "/visits", &serde_json::json!({{}}));
        assert_eq!(second.body_text(), "2");
        assert_eq!(host.get(&ann, "/me").body_text(), format!("\"{{ann}}\""));
    }}
}}
"#
    )
}

fn manifest(id: &str, component: &str) -> String {
    format!(
        r#"# The mini-app's manifest: what it is and the capabilities it asks for.
id = "{id}"
name = "{id}"
version = "0.1.0"
developer = "You"
{component}
[capabilities.storage]
purpose = "Count visits."
"#
    )
}

fn readme(id: &str, install_extra: &str) -> String {
    format!(
        r#"# {id}

A Superapp mini-app.

```sh
rustup target add wasm32-wasip2                 # once
cargo build --release --target wasm32-wasip2
superapp install --dev {id}.toml{install_extra}      # --replace to reinstall, keeping data
superapp call {id} /
cargo test                                      # the mock host, natively
```

The SDK's reference: `cargo doc -p superapp-sdk --open` in the superapp checkout.
"#
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_match_exactly_or_by_one_segment_globs() {
        assert!(member_matches("mini-apps/*", "mini-apps/shop"));
        assert!(member_matches("apps/app-*", "apps/app-one"));
        assert!(member_matches("examples/hello", "examples/hello"));
        assert!(!member_matches("mini-apps/*", "mini-apps/shop/inner"));
        assert!(!member_matches("examples/hello", "examples/other"));
    }

    #[test]
    fn a_path_is_relative_when_it_shares_a_folder_and_absolute_otherwise() {
        assert_eq!(
            relative_or_absolute(Path::new("/w/co/mini-apps/x"), Path::new("/w/co/sdk")),
            PathBuf::from("../../sdk")
        );
        assert_eq!(
            relative_or_absolute(Path::new("/tmp/x"), Path::new("/w/co/sdk")),
            PathBuf::from("/w/co/sdk")
        );
    }
}

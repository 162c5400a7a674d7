//! Developer tasks for Arus.
//!
//! `cargo xtask codegen` regenerates the OCPP message types from the vendored OCA JSON schemas;
//! `cargo xtask codegen --check` fails when the committed files differ from what it would write
//! (the test `generated_code_is_fresh` runs the same check).

mod codegen;

use std::path::PathBuf;

use anyhow::{Context, bail};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let root = workspace_root();
    match args.first().map(String::as_str) {
        Some("codegen") => {
            let check = args.iter().any(|a| a == "--check");
            let files = codegen::generate(&root)?;
            let mut stale = Vec::new();
            for (path, text) in &files {
                let current = std::fs::read_to_string(path).unwrap_or_default();
                if current != *text {
                    if check {
                        stale.push(path.display().to_string());
                    } else {
                        std::fs::write(path, text)
                            .with_context(|| format!("writing {}", path.display()))?;
                        println!("wrote {}", path.display());
                    }
                }
            }
            if !stale.is_empty() {
                bail!(
                    "generated code is stale, run `cargo xtask codegen`: {}",
                    stale.join(", ")
                );
            }
            Ok(())
        }
        _ => {
            eprintln!("usage: cargo xtask codegen [--check]");
            std::process::exit(2);
        }
    }
}

/// The workspace root: the parent of this crate's directory.
pub(crate) fn workspace_root() -> PathBuf {
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    here.parent().map(PathBuf::from).unwrap_or(here)
}

//! Builds the guest components for the tests and emits their paths as constants
//! (`$OUT_DIR/components.rs`). Guests live in `components/`, a workspace of their own with
//! its own target directory, so this nested cargo never waits on the outer one's lock.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "build script: failing loudly is the point")]

use std::path::PathBuf;
use std::process::Command;

/// (target triple, packages) built in release mode.
const BUILDS: &[(&str, &[&str])] =
    &[("wasm32-wasip2", &["probe", "search", "fetch", "typed"]), ("wasm32-wasip1", &["probe"]), ("host", &["probe"])];

fn main() {
    // Read when the script runs, not when it was compiled: cargo may reuse this script's
    // binary built for another checkout sharing the target directory (CI's plain-clone run).
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let root = manifest.parent().unwrap().to_path_buf();
    let components = root.join("components");
    for p in ["Cargo.toml", "probe", "search", "fetch", "typed"] {
        println!("cargo:rerun-if-changed={}", components.join(p).display());
    }
    println!("cargo:rerun-if-changed={}", root.join("host-bindings/wit").display());

    let target_dir = components.join("target");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut consts = String::new();
    for (target, packages) in BUILDS {
        let mut cmd = Command::new(&cargo);
        cmd.current_dir(&components).args(["build", "--release"]).arg("--target-dir").arg(&target_dir);
        if *target != "host" {
            cmd.args(["--target", target]);
        }
        for p in *packages {
            cmd.args(["-p", p]);
        }
        // Flags meant for the host build must not leak into the guest build.
        for var in [
            "CARGO_ENCODED_RUSTFLAGS",
            "RUSTFLAGS",
            "CARGO_BUILD_TARGET",
            "CARGO_TARGET_DIR",
            "RUSTC_WORKSPACE_WRAPPER",
        ] {
            cmd.env_remove(var);
        }
        let status = cmd.status().expect("run cargo for the guest components");
        assert!(
            status.success(),
            "building components for {target} failed; is the target installed? run `bash tests/setup.sh` (it runs `rustup target add {target}`)"
        );
        for p in *packages {
            let wasm: PathBuf = if *target == "host" {
                target_dir.join("release").join(p)
            } else {
                target_dir.join(target).join("release").join(format!("{p}.wasm"))
            };
            assert!(wasm.exists(), "{} was not built", wasm.display());
            let name =
                format!("{}_{}", p.replace('-', "_"), target.rsplit('-').next().unwrap_or(target)).to_uppercase();
            consts.push_str(&format!(
                "/// `{p}` built for `{target}`.\npub const {name}: &str = {:?};\n",
                wasm.display().to_string()
            ));
        }
    }
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap()).join("components.rs");
    std::fs::write(out, consts).unwrap();
}

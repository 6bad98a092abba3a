//! Links liblb as `pkg-config --libs liblb` says (no pkg-config crate: none from a registry).
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=PKG_CONFIG_PATH");
    println!("cargo:rerun-if-env-changed=PKG_CONFIG");
    let pc = std::env::var("PKG_CONFIG").unwrap_or_else(|_| "pkg-config".to_string());
    let out = Command::new(&pc)
        .args(["--libs", "liblb"])
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {}", pc, e));
    if !out.status.success() {
        panic!(
            "pkg-config found no liblb (install it, or set PKG_CONFIG_PATH): {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let mut linked = false;
    for flag in String::from_utf8_lossy(&out.stdout).split_whitespace() {
        if let Some(dir) = flag.strip_prefix("-L") {
            println!("cargo:rustc-link-search=native={}", dir);
        } else if let Some(lib) = flag.strip_prefix("-l") {
            println!("cargo:rustc-link-lib=dylib={}", lib);
            linked |= lib == "lb";
        }
    }
    assert!(linked, "pkg-config --libs liblb gave no -llb");
}

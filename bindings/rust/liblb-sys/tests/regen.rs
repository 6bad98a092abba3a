//! The committed bindings are exactly what bindgen makes of the current headers.
use std::path::PathBuf;
use std::process::Command;

#[test]
fn bindings_match_headers() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let out = std::env::temp_dir().join(format!("liblb-sys-regen-{}.rs", std::process::id()));
    let status = Command::new("sh")
        .arg(dir.join("regen.sh"))
        .arg(&out)
        .status()
        .expect("run regen.sh");
    assert!(status.success(), "regen.sh failed");
    let fresh = std::fs::read_to_string(&out).unwrap();
    let _ = std::fs::remove_file(&out);
    let committed = std::fs::read_to_string(dir.join("src/bindings.rs")).unwrap();
    assert!(
        fresh == committed,
        "src/bindings.rs differs from the headers: run bindings/rust/liblb-sys/regen.sh"
    );
}

#[test]
fn links_and_calls() {
    let v = unsafe { liblb_sys::lb_version_number() };
    assert_eq!(
        v,
        liblb_sys::LB_VERSION_MAJOR * 10000 + liblb_sys::LB_VERSION_MINOR * 100 + liblb_sys::LB_VERSION_PATCH
    );
}

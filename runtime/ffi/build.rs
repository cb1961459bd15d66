//! Links the library `-z nodelete`: the SDK unloads it after each call (koffi's `unload`), and
//! the threads that called it (libuv's pool) run Rust's thread-local destructors when they
//! exit; an unloaded library would leave those pointing at unmapped code.
fn main() {
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        println!("cargo:rustc-cdylib-link-arg=-Wl,-z,nodelete");
    }
}

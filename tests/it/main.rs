//! End-to-end tests with real parts: the Go 1.27.3 release (from `cargo xtask fixtures`), the
//! static stubs (from `cargo xtask stubs`), keys made by the builder and by openssl, and real file
//! systems. Root installs run in a private mount namespace with an overlay `/etc`, so tests never
//! touch the machine; `cargo xtask test` prepares everything and runs them.

mod authenticode;
mod build;
mod craft;
mod delta;
mod dist;
mod docs;
mod dry_run;
mod faults;
mod fleet;
mod hostile;
mod install;
mod lifecycle;
mod modules;
mod release;
mod salt;
mod signers;
mod support;
mod toolchains;
mod windows;

//! Targets, and what an ELF header says about the machine a binary is for.
//!
//! The builder reads the Go distribution's `bin/go` and the stub with [`elf_machine`] and refuses
//! to pair them when they disagree; the installer refuses a manifest whose target is not its own.

/// A target the installer can be built for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Target {
    /// Rust target triple of the stub.
    pub triple: &'static str,
    /// Go's name for the operating system.
    pub goos: &'static str,
    /// Go's name for the architecture.
    pub goarch: &'static str,
    /// ELF `e_machine` of binaries for this target.
    pub elf_machine: u16,
}

/// Every supported stub target. The stubs are static musl binaries so they run on any Linux.
pub const TARGETS: &[Target] = &[
    Target { triple: "x86_64-unknown-linux-musl", goos: "linux", goarch: "amd64", elf_machine: 62 },
    Target { triple: "aarch64-unknown-linux-musl", goos: "linux", goarch: "arm64", elf_machine: 183 },
];

impl Target {
    /// The target with this triple.
    pub fn from_triple(triple: &str) -> Option<Target> {
        TARGETS.iter().copied().find(|t| t.triple == triple)
    }

    /// The target for a Go GOOS/GOARCH pair.
    pub fn from_go(goos: &str, goarch: &str) -> Option<Target> {
        TARGETS.iter().copied().find(|t| t.goos == goos && t.goarch == goarch)
    }

    /// The target this program was compiled for.
    pub fn current() -> Option<Target> {
        Target::from_triple(env!("GO_OFFLINE_BUILD_TARGET"))
    }
}

/// The triple this program was compiled for, supported or not.
pub const BUILD_TARGET: &str = env!("GO_OFFLINE_BUILD_TARGET");

/// What an ELF header says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ElfInfo {
    pub machine: u16,
    pub is_64_bit: bool,
}

impl ElfInfo {
    /// Go's GOARCH name for this machine, when it is one Go supports.
    pub fn goarch(&self) -> Option<&'static str> {
        Some(match (self.machine, self.is_64_bit) {
            (62, true) => "amd64",
            (3, false) => "386",
            (183, true) => "arm64",
            (40, false) => "arm",
            (243, true) => "riscv64",
            (21, true) => "ppc64le",
            (22, true) => "s390x",
            (258, true) => "loong64",
            (8, _) => "mips",
            _ => return None,
        })
    }
}

/// Reads the ELF identification and machine of a binary from its first bytes (at least 20).
/// Returns `None` if the bytes are not a little- or big-endian ELF header.
pub fn elf_machine(head: &[u8]) -> Option<ElfInfo> {
    if head.len() < 20 || head[0..4] != *b"\x7fELF" {
        return None;
    }
    let is_64_bit = match head[4] {
        1 => false,
        2 => true,
        _ => return None,
    };
    let machine = match head[5] {
        1 => u16::from_le_bytes([head[18], head[19]]),
        2 => u16::from_be_bytes([head[18], head[19]]),
        _ => return None,
    };
    Some(ElfInfo { machine, is_64_bit })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn elf_headers() {
        let mut h = [0u8; 64];
        h[0..4].copy_from_slice(b"\x7fELF");
        let cases: &[(u8, u8, [u8; 2], Option<&str>)] = &[
            (2, 1, [62, 0], Some("amd64")),
            (2, 1, [183, 0], Some("arm64")),
            (1, 1, [3, 0], Some("386")),
            (2, 2, [0, 22], Some("s390x")),
            (2, 1, [0xff, 0xff], None),
        ];
        for (class, data, machine, goarch) in cases {
            h[4] = *class;
            h[5] = *data;
            h[18..20].copy_from_slice(machine);
            assert_eq!(elf_machine(&h).and_then(|e| e.goarch()), *goarch, "{machine:?}");
        }
        assert_eq!(elf_machine(b"#!/bin/sh\n echo hello there"), None);
        assert_eq!(elf_machine(b"\x7fELF"), None);
    }

    #[test]
    fn targets() {
        assert_eq!(Target::from_go("linux", "arm64").map(|t| t.triple), Some("aarch64-unknown-linux-musl"));
        assert_eq!(Target::from_triple("x86_64-unknown-linux-musl").map(|t| t.goarch), Some("amd64"));
        assert_eq!(Target::from_go("windows", "amd64"), None);
    }
}

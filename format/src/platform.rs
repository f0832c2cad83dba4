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
    /// The executable format of the target's binaries, and its machine number.
    pub exe: Exe,
}

/// An executable format and the machine number its header records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exe {
    /// ELF `e_machine`.
    Elf(u16),
    /// PE/COFF `Machine`.
    Pe(u16),
}

/// Every supported stub target. The Linux stubs are fully static (musl, or glibc linked
/// statically), so they run on any Linux.
pub const TARGETS: &[Target] = &[
    Target { triple: "x86_64-unknown-linux-musl", goos: "linux", goarch: "amd64", exe: Exe::Elf(62) },
    Target { triple: "aarch64-unknown-linux-musl", goos: "linux", goarch: "arm64", exe: Exe::Elf(183) },
    // 32-bit x86: file offsets and sizes stay u64 throughout (std's pread64 and friends).
    Target { triple: "i686-unknown-linux-musl", goos: "linux", goarch: "386", exe: Exe::Elf(3) },
    // No musl standard library is served for these: glibc, linked statically (+crt-static).
    Target { triple: "powerpc64le-unknown-linux-gnu", goos: "linux", goarch: "ppc64le", exe: Exe::Elf(21) },
    // Big-endian: the trailer and the manifest are byte-order independent (little-endian fields).
    Target { triple: "s390x-unknown-linux-gnu", goos: "linux", goarch: "s390x", exe: Exe::Elf(22) },
    Target { triple: "riscv64gc-unknown-linux-gnu", goos: "linux", goarch: "riscv64", exe: Exe::Elf(243) },
    // Go's linux/armv6l release (GOARM=6) on ARMv7 boards: the stub itself needs ARMv7 with VFP.
    Target { triple: "armv7-unknown-linux-gnueabihf", goos: "linux", goarch: "arm", exe: Exe::Elf(40) },
    // Windows on x86_64: MinGW-w64, the C runtime linked statically (+crt-static).
    Target { triple: "x86_64-pc-windows-gnu", goos: "windows", goarch: "amd64", exe: Exe::Pe(0x8664) },
    // Not built here, for want of a Rust standard library served to this machine; each is one row
    // once it is (the ELF machines are known to `ElfInfo::goarch` already):
    // Target { triple: "loongarch64-unknown-linux-gnu", goos: "linux", goarch: "loong64", exe: Exe::Elf(258) },
    // Target { triple: "arm-unknown-linux-gnueabihf", goos: "linux", goarch: "arm", exe: Exe::Elf(40) }, (ARMv6)
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

    /// The file name of the target's stub (and of an installer made for it by default).
    pub fn stub_name(&self) -> &'static str {
        match self.exe {
            Exe::Elf(_) => "go-offline-installer",
            Exe::Pe(_) => "go-offline-installer.exe",
        }
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
    pub little_endian: bool,
}

impl ElfInfo {
    /// Go's GOARCH name for this machine, when it is one Go supports.
    pub fn goarch(&self) -> Option<&'static str> {
        Some(match (self.machine, self.is_64_bit, self.little_endian) {
            (62, true, true) => "amd64",
            (3, false, true) => "386",
            (183, true, true) => "arm64",
            (40, false, true) => "arm",
            (243, true, true) => "riscv64",
            (21, true, true) => "ppc64le",
            (21, true, false) => "ppc64",
            (22, true, false) => "s390x",
            (258, true, true) => "loong64",
            (8, _, _) => "mips",
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
    let (machine, little_endian) = match head[5] {
        1 => (u16::from_le_bytes([head[18], head[19]]), true),
        2 => (u16::from_be_bytes([head[18], head[19]]), false),
        _ => return None,
    };
    Some(ElfInfo { machine, is_64_bit, little_endian })
}

/// The Go platform (GOOS, GOARCH) a binary is for, from its ELF or PE header; `None` for
/// anything else, or a machine Go does not ship for.
pub fn exe_platform(bytes: &[u8]) -> Option<(&'static str, &'static str)> {
    if let Some(elf) = elf_machine(bytes) {
        return Some(("linux", elf.goarch()?));
    }
    Some(("windows", pe_goarch(pe_machine(bytes)?)?))
}

/// A build setting Go records in a binary's build information (`go version -m` shows them as
/// `build KEY=VALUE` lines), e.g. `GOARM` of an ARM toolchain: `Some("6")`. Only short values of
/// letters, digits, `,` and `.` are taken, the first time the key appears.
pub fn go_build_setting<'a>(binary: &'a [u8], key: &str) -> Option<&'a str> {
    let needle = format!("\nbuild\t{key}=");
    let at = binary.windows(needle.len()).position(|w| w == needle.as_bytes())? + needle.len();
    let rest = &binary[at..binary.len().min(at + 32)];
    let value = &rest[..rest.iter().position(|&b| b == b'\n')?];
    let ok = !value.is_empty() && value.iter().all(|b| b.is_ascii_alphanumeric() || b",.".contains(b));
    if ok {
        std::str::from_utf8(value).ok()
    } else {
        None
    }
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
            (2, 1, [21, 0], Some("ppc64le")),
            (2, 2, [0, 21], Some("ppc64")),
            (2, 1, [243, 0], Some("riscv64")),
            (1, 1, [40, 0], Some("arm")),
            (2, 1, [2, 1], Some("loong64")),
            (1, 2, [0, 40], None),
            (2, 1, [22, 0], None),
            (1, 1, [62, 0], None),
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
    fn build_settings() {
        let info = b"\x00path\tcmd/go\nbuild\tGOARCH=arm\nbuild\tGOOS=linux\nbuild\tGOARM=6\n\x00";
        let cases: &[(&[u8], &str, Option<&str>)] = &[
            (info, "GOARM", Some("6")),
            (info, "GOOS", Some("linux")),
            (info, "GOAMD64", None),
            (b"\nbuild\tGOARM=7,softfloat\n", "GOARM", Some("7,softfloat")),
            (b"\nbuild\tGOARM=\n", "GOARM", None),
            (b"\nbuild\tGOARM=6 rm -rf\n", "GOARM", None),
            (b"\nbuild\tGOARM=6", "GOARM", None),
        ];
        for (bytes, key, want) in cases {
            assert_eq!(go_build_setting(bytes, key), *want, "{key} in {bytes:?}");
        }
    }

    #[test]
    fn targets() {
        assert_eq!(Target::from_go("linux", "arm64").map(|t| t.triple), Some("aarch64-unknown-linux-musl"));
        assert_eq!(Target::from_triple("x86_64-unknown-linux-musl").map(|t| t.goarch), Some("amd64"));
        assert_eq!(Target::from_go("windows", "amd64").map(|t| t.stub_name()), Some("go-offline-installer.exe"));
        assert_eq!(Target::from_go("windows", "arm64"), None);
        for t in TARGETS {
            let (kind, machine) = match t.exe {
                Exe::Elf(m) => ("elf", m),
                Exe::Pe(m) => ("pe", m),
            };
            // Each row's machine is the one its GOARCH names, so a stub is checked against it.
            let goarch = match kind {
                "elf" => ElfInfo {
                    machine,
                    is_64_bit: !matches!(t.goarch, "386" | "arm"),
                    little_endian: t.goarch != "s390x",
                }
                .goarch(),
                _ => pe_goarch(machine),
            };
            assert_eq!(goarch, Some(t.goarch), "{}", t.triple);
        }
    }
}

/// The COFF machine of a PE (Windows) executable, from its bytes: the `MZ` header, the offset of
/// the PE header at 0x3c, `PE\0\0`, then the machine. `None` if the bytes are not a PE file.
pub fn pe_machine(bytes: &[u8]) -> Option<u16> {
    if bytes.get(0..2)? != b"MZ" {
        return None;
    }
    let at = u32::from_le_bytes(bytes.get(0x3c..0x40)?.try_into().ok()?) as usize;
    if bytes.get(at..at.checked_add(4)?)? != b"PE\0\0" {
        return None;
    }
    let machine = bytes.get(at + 4..at + 6)?;
    Some(u16::from_le_bytes([machine[0], machine[1]]))
}

/// Go's GOARCH name for a PE machine, when it is one Go ships Windows builds for.
pub fn pe_goarch(machine: u16) -> Option<&'static str> {
    Some(match machine {
        0x8664 => "amd64",
        0xaa64 => "arm64",
        0x014c => "386",
        _ => return None,
    })
}

#[cfg(test)]
mod pe_tests {
    use super::*;

    /// A minimal PE header: `MZ`, the PE offset at 0x3c, `PE\0\0` and the machine there.
    fn pe(at: u32, machine: u16) -> Vec<u8> {
        let mut b = vec![0u8; at as usize + 6];
        b[0..2].copy_from_slice(b"MZ");
        b[0x3c..0x40].copy_from_slice(&at.to_le_bytes());
        b[at as usize..at as usize + 4].copy_from_slice(b"PE\0\0");
        b[at as usize + 4..].copy_from_slice(&machine.to_le_bytes());
        b
    }

    #[test]
    fn pe_headers_name_their_machine() {
        let cases: &[(Vec<u8>, Option<&str>)] = &[
            (pe(0x80, 0x8664), Some("amd64")),
            (pe(0x100, 0xaa64), Some("arm64")),
            (pe(0x40, 0x014c), Some("386")),
            (pe(0x80, 0x01c4), None),
        ];
        for (bytes, goarch) in cases {
            assert_eq!(pe_machine(bytes).and_then(pe_goarch), *goarch);
        }
        let mut not_pe = pe(0x80, 0x8664);
        not_pe[0x80] = b'X';
        assert_eq!(pe_machine(&not_pe), None);
        let mut beyond = pe(0x80, 0x8664);
        beyond[0x3c..0x40].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(pe_machine(&beyond), None);
        assert_eq!(pe_machine(b"MZ"), None);
        assert_eq!(pe_machine(b"\x7fELF\x02\x01\x01"), None);
    }
}

//! Authenticode: an organisation signs a Windows installer after building it (SmartScreen,
//! WDAC), which pads the file, appends a certificate table and rewrites two PE header fields.
//! The installer must still verify then, and every other appended or changed byte must still be
//! refused.
//!
//! The PE program in the stub's place here is Go's own `bin/gofmt.exe` from the official
//! Windows zip (so the cases can aim at its bytes; `windows.rs` signs the real Windows
//! installer and runs it under Wine); payload, manifest, statement and ed25519
//! signature are real, the Authenticode signature is Debian's `osslsigncode` with a code-signing
//! certificate made here by openssl. The file is checked by `go-offline-builder verify`, which
//! runs the same `format::verify` the stub runs on itself.

use std::{fs, io::Read, path::Path, process::Command};

use crate::{craft, support::*};

/// Go's `bin/gofmt.exe`, from the official Windows zip fixture.
fn windows_program() -> Vec<u8> {
    let mut zip = zip::ZipArchive::new(fs::File::open(go_zip()).unwrap()).unwrap();
    let mut exe = Vec::new();
    zip.by_name("go/bin/gofmt.exe").unwrap().read_to_end(&mut exe).unwrap();
    exe
}

/// An installer on that PE whose regions do not end on a multiple of 8, so signing pads it.
fn pe_installer() -> Vec<u8> {
    let exe = windows_program();
    let header = format::authenticode::pe_header(&exe).expect("gofmt.exe is a PE image");
    assert_eq!((header.checksum, header.table()), (0, None), "Go's gofmt.exe comes unsigned, with no checksum");
    (0..8)
        .map(|n| craft::Tree::go().file("pad", &vec![b'x'; n]).installer_on(&exe, |_| {}))
        .find(|i| i.len() % 8 != 0)
        .unwrap()
}

/// Signs `input` into `output` with Debian's osslsigncode and a code-signing certificate made
/// here by openssl (`dir/cs.crt`, the CA file for `osslsigncode verify`).
pub fn authenticode_sign(dir: &Path, input: &Path, output: &Path) {
    ok(Command::new("openssl")
        .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30", "-subj", "/CN=Test Code Signing"])
        .args(["-addext", "extendedKeyUsage=codeSigning", "-keyout"])
        .arg(dir.join("cs.key"))
        .arg("-out")
        .arg(dir.join("cs.crt")));
    ok(Command::new("osslsigncode")
        .args(["sign", "-n", "go-offline-installer", "-certs"])
        .arg(dir.join("cs.crt"))
        .arg("-key")
        .arg(dir.join("cs.key"))
        .arg("-in")
        .arg(input)
        .arg("-out")
        .arg(output));
}

fn verify(file: &Path) -> std::process::Output {
    run(builder().arg("verify").arg(file).arg("--trusted-key").arg(&release_key().public))
}

#[test]
fn an_authenticode_signed_installer_verifies_and_nothing_else_may_change() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let unsigned = d.join("unsigned.exe");
    let bytes = pe_installer();
    fs::write(&unsigned, &bytes).unwrap();
    let out = verify(&unsigned);
    assert_eq!(code(&out), 0, "{}", stderr(&out));

    let signed = d.join("signed.exe");
    authenticode_sign(d, &unsigned, &signed);
    let authenticode =
        || run(Command::new("osslsigncode").arg("verify").arg("-CAfile").arg(d.join("cs.crt")).arg(&signed));
    assert!(stdout(&authenticode()).contains("Signature verification: ok"));
    let out = verify(&signed);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(stdout(&out).contains("every digest matches"), "{}", stdout(&out));

    let original = fs::read(&signed).unwrap();
    let header = format::authenticode::pe_header(&original).unwrap();
    let table = header.table().expect("osslsigncode appended a certificate table");
    assert_eq!(table.end, original.len() as u64);
    let padding = table.start as usize - bytes.len();
    assert!((1..8).contains(&padding), "signing padded {padding} bytes");
    // The header fields signing rewrote are the only bytes of ours that differ.
    let differ: Vec<usize> = (0..bytes.len()).filter(|&i| bytes[i] != original[i]).collect();
    let rewritten = header.rewritten();
    assert!(!differ.is_empty() && differ.iter().all(|&i| rewritten.iter().any(|r| r.contains(&(i as u64)))));

    // (what is changed, the file's bytes after it, the exit code of our check)
    let edit = |f: &dyn Fn(&mut Vec<u8>)| {
        let mut b = original.clone();
        f(&mut b);
        b
    };
    let flip = |at: usize| edit(&move |b: &mut Vec<u8>| b[at] ^= 0x01);
    let checksum_at = header.checksum_at as usize;
    let cases: Vec<(&str, Vec<u8>, i32)> = vec![
        ("a byte appended after the certificate table", edit(&|b| b.push(0)), format::exit::MALFORMED),
        ("a padding byte", flip(bytes.len()), format::exit::MALFORMED),
        ("the trailer's last byte", flip(bytes.len() - 1), format::exit::MALFORMED),
        ("a byte of the payload", flip(windows_program().len() + 16), format::exit::INTEGRITY),
        ("a byte of the program", flip(0x1000), format::exit::INTEGRITY),
        ("the header's CheckSum", flip(checksum_at), format::exit::INTEGRITY),
        ("the table entry's length", flip(header.table_entry_at as usize + 4), format::exit::MALFORMED),
        (
            "the table moved to where the padding starts",
            {
                let at = (header.table_entry_at) as usize;
                edit(&|b| b[at..at + 4].copy_from_slice(&((table.start as u32) - 8).to_le_bytes()))
            },
            format::exit::MALFORMED,
        ),
    ];
    for (what, changed, exit) in &cases {
        let file = d.join("changed.exe");
        fs::write(&file, changed).unwrap();
        let out = verify(&file);
        assert_eq!(code(&out), *exit, "{what}: {}", stderr(&out));
    }

    // A byte of the certificate table: the CheckSum, which covers the whole file, no longer
    // matches, so ours refuses it as osslsigncode does. (Its signature is Windows' to judge: a
    // forger can recompute a checksum, not our ed25519 signature over everything else.)
    fs::write(&signed, flip(table.start as usize + 64)).unwrap();
    assert_eq!(code(&verify(&signed)), format::exit::INTEGRITY);
    assert!(!stdout(&authenticode()).contains("Signature verification: ok"));

    // Unsigned, the fields must be as built: a CheckSum set is a change.
    let mut odd = bytes.clone();
    odd[checksum_at] = 1;
    fs::write(&unsigned, &odd).unwrap();
    assert_eq!(code(&verify(&unsigned)), format::exit::INTEGRITY);
}

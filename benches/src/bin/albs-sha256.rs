//! `albs-sha256 FILE...`: prints `<hex>  <file>` for each file, like
//! `sha256sum`, hashing with albs's `Sha256::of_reader`. `-` reads stdin.
//! Used by `compare/sha256.sh` to time albs against other tools.

use std::fs::File;
use std::io;
use std::process::ExitCode;

use albs_core::Sha256;

fn main() -> ExitCode {
    let files: Vec<String> = std::env::args().skip(1).collect();
    if files.is_empty() {
        eprintln!("usage: albs-sha256 FILE...");
        return ExitCode::from(2);
    }
    let mut status = ExitCode::SUCCESS;
    for name in &files {
        let digest = if name == "-" {
            Sha256::of_reader(io::stdin().lock())
        } else {
            File::open(name).and_then(Sha256::of_reader)
        };
        match digest {
            Ok((digest, _len)) => println!("{digest}  {name}"),
            Err(e) => {
                eprintln!("albs-sha256: {name}: {e}");
                status = ExitCode::FAILURE;
            }
        }
    }
    status
}

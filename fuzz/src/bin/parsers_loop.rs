//! The stable-Rust mutation loop for the parser targets of `lethe_fuzz::parsers` (no coverage
//! feedback: bit flips, byte stores, truncation, extension, splices of other seeds, tokens the
//! parsers look for). Usage: `parsers_loop NAME|all [ITERATIONS] [SEED]`, or
//! `parsers_loop NAME --run FILE` to replay one input, or `parsers_loop NAME --write-seeds DIR`.
//! A panicking input is written to `artifacts/NAME-crash-N`; exit status 1 if any.

use lethe_fuzz::parsers::TARGETS;
use std::panic;

struct Rng(lethe_fuzz::dhcp::client::Rng);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.0.next_u64() % n as u64) as usize
        }
    }
}

const TOKENS: &[&[u8]] = &[
    b"\n",
    b"\0",
    b"\r",
    b"\x1b[",
    b"\x7f",
    b"\x15",
    b"=",
    b",",
    b":",
    b"\"",
    b"/",
    b"..",
    b"*",
    b"!",
    b"[Ask]",
    b"from=\"",
    b"command=",
    b"ip=",
    b"lethe.",
    b"softdep ",
    b"alias ",
    b"{",
    b"}",
    b"[",
    b"]",
    b"\xff\xff\xff\xff",
    b"EFI PART",
    b"LUKS\xba\xbe",
    b"-1",
    b"4294967296",
    b"\xc3\xa4",
];

fn mutate(rng: &mut Rng, seeds: &[Vec<u8>], input: &mut Vec<u8>) {
    match rng.below(7) {
        0 => {
            let i = rng.below(input.len());
            if let Some(b) = input.get_mut(i) {
                *b ^= 1 << rng.below(8);
            }
        }
        1 => {
            let i = rng.below(input.len());
            let v = rng.0.next_u64() as u8;
            if let Some(b) = input.get_mut(i) {
                *b = [0, 1, 0x7f, 0x80, 0xff, v][rng.below(6)];
            }
        }
        2 => {
            let n = rng.below(input.len() + 1);
            input.truncate(n);
        }
        3 => {
            for _ in 0..rng.below(32) {
                input.push(rng.0.next_u64() as u8);
            }
        }
        4 => {
            let at = rng.below(input.len() + 1);
            let token = TOKENS[rng.below(TOKENS.len())];
            input.splice(at..at, token.iter().copied());
        }
        5 => {
            let other = &seeds[rng.below(seeds.len())];
            let (from, at) = (rng.below(other.len() + 1), rng.below(input.len() + 1));
            let len = rng.below(other.len() - from + 1);
            input.splice(at..at, other[from..from + len].iter().copied());
        }
        _ => {
            // Repeat a slice: long lines, many entries.
            let from = rng.below(input.len() + 1);
            let len = rng.below((input.len() - from).min(64) + 1);
            let chunk = input[from..from + len].to_vec();
            for _ in 0..rng.below(64) {
                input.extend_from_slice(&chunk);
            }
        }
    }
    // Bounded: the parsers see at most what a device probe or a file read would give them.
    input.truncate(1 << 20);
}

fn run(name: &str, target: fn(&[u8]), seeds: &[Vec<u8>], iterations: u64, seed: u64) -> u64 {
    panic::set_hook(Box::new(|_| {}));
    let mut rng = Rng(lethe_fuzz::dhcp::client::Rng::new(seed));
    let mut crashes = 0;
    let mut input = Vec::new();
    for i in 0..iterations {
        if i % 64 == 0 || input.len() > (256 << 10) {
            input = seeds[rng.below(seeds.len())].clone();
        }
        for _ in 0..1 + rng.below(4) {
            mutate(&mut rng, seeds, &mut input);
        }
        if panic::catch_unwind(|| target(&input)).is_err() {
            std::fs::create_dir_all("artifacts").unwrap();
            let path = format!("artifacts/{name}-crash-{crashes}");
            std::fs::write(&path, &input).unwrap();
            eprintln!("{name}: iteration {i}: panic; input saved as {path}");
            crashes += 1;
        }
    }
    let _ = panic::take_hook();
    crashes
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let which = args.first().map(String::as_str).unwrap_or("all");
    let chosen: Vec<_> = TARGETS.iter().filter(|(n, _, _)| which == "all" || *n == which).collect();
    if chosen.is_empty() {
        let names: Vec<&str> = TARGETS.iter().map(|t| t.0).collect();
        eprintln!("parsers_loop: no target {which:?} (targets: {})", names.join(", "));
        std::process::exit(2);
    }
    match args.get(1).map(String::as_str) {
        Some("--run") => {
            let data = std::fs::read(&args[2]).expect("input file");
            (chosen[0].1)(&data);
            println!("{}: no panic", chosen[0].0);
            return;
        }
        Some("--write-seeds") => {
            for (name, _, seeds) in &chosen {
                let dir = std::path::Path::new(&args[2]).join(name);
                std::fs::create_dir_all(&dir).unwrap();
                for (i, s) in seeds().iter().enumerate() {
                    std::fs::write(dir.join(format!("seed-{i}")), s).unwrap();
                }
            }
            return;
        }
        _ => {}
    }
    let iterations: u64 = args.get(1).map(|s| s.parse().expect("ITERATIONS is a number")).unwrap_or(100_000);
    let seed: u64 = args.get(2).map(|s| s.parse().expect("SEED is a number")).unwrap_or(0x1e7e);
    let mut failed = false;
    for (name, target, seeds) in chosen {
        let start = std::time::Instant::now();
        let crashes = run(name, *target, &seeds(), iterations, seed);
        println!("{name}: {iterations} inputs, {crashes} panics, {:.1} s", start.elapsed().as_secs_f64());
        failed |= crashes > 0;
    }
    std::process::exit(i32::from(failed));
}

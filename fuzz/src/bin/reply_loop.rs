//! A stable-Rust stand-in for `cargo fuzz`: mutates well-formed replies (bit flips, byte
//! stores, truncation, extension, random option TLVs, splices) and feeds each to
//! [`lethe_fuzz::exercise`], catching panics. Usage: `reply_loop [ITERATIONS] [SEED]`, or `reply_loop --run FILE` to replay one input.
//! A panicking input is written to `artifacts/crash-N` and counted; exit status 1 if any.

use std::panic;

/// The DHCP client's own generator (xorshift64*, `seed | 1`), plus the range helper the
/// mutations need.
struct Rng(lethe_fuzz::dhcp::client::Rng);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0.next_u64()
    }

    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

fn mutate(rng: &mut Rng, seeds: &[Vec<u8>], input: &mut Vec<u8>) {
    match rng.below(9) {
        0 => {
            let i = rng.below(input.len());
            if let Some(b) = input.get_mut(i) {
                *b ^= 1 << rng.below(8);
            }
        }
        1 => {
            let i = rng.below(input.len());
            if let Some(b) = input.get_mut(i) {
                *b = [0, 1, 0x7f, 0x80, 0xff, rng.next() as u8][rng.below(6)];
            }
        }
        2 => {
            let n = rng.below(input.len() + 1);
            input.truncate(n);
        }
        3 => {
            for _ in 0..rng.below(64) {
                input.push(rng.next() as u8);
            }
        }
        4 => {
            // An option TLV with a random code and a length that may lie.
            let at = 240 + rng.below(input.len().saturating_sub(240) + 1);
            let at = at.min(input.len());
            let len = rng.below(260).min(255);
            let mut tlv = vec![rng.next() as u8, len as u8];
            for _ in 0..rng.below(len + 8) {
                tlv.push(rng.next() as u8);
            }
            input.splice(at..at, tlv);
        }
        5 => {
            // The interesting header fields: op, htype, hlen, xid, yiaddr, chaddr.
            let field = [0usize, 1, 2, 4, 16, 28][rng.below(6)];
            if field < input.len() {
                input[field] = rng.next() as u8;
            }
        }
        6 => {
            let other = &seeds[rng.below(seeds.len())];
            let cut = rng.below(input.len().min(other.len()));
            input.truncate(cut);
            input.extend_from_slice(&other[cut..]);
        }
        7 => {
            // Drop a byte range.
            if !input.is_empty() {
                let a = rng.below(input.len());
                let b = (a + rng.below(16)).min(input.len());
                input.drain(a..b);
            }
        }
        _ => {
            // A known-tricky byte at option offsets: End, Pad, message type, lease time.
            let at = 240 + rng.below(input.len().saturating_sub(240).max(1));
            if at < input.len() {
                input[at] = [255, 0, 53, 51, 54, 1, 3, 6, 58, 59][rng.below(10)];
            }
        }
    }
}

fn main() {
    let mut args = std::env::args().skip(1).peekable();
    if args.peek().map(String::as_str) == Some("--write-seeds") {
        let dir = std::path::PathBuf::from(args.nth(1).expect("--write-seeds DIR"));
        std::fs::create_dir_all(&dir).expect("seed directory");
        for (i, seed) in lethe_fuzz::seeds().iter().enumerate() {
            std::fs::write(dir.join(format!("seed-{i}")), seed).expect("seed written");
        }
        return;
    }
    if args.peek().map(String::as_str) == Some("--run") {
        // Replays one saved input with the normal panic message.
        let path = args.nth(1).expect("--run FILE");
        lethe_fuzz::exercise(&std::fs::read(&path).expect("readable input"));
        println!("{path}: no panic");
        return;
    }
    let iterations: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let seed: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(0x1e7e);
    let mut rng = Rng(lethe_fuzz::dhcp::client::Rng::new(seed));
    let seeds = lethe_fuzz::seeds();
    panic::set_hook(Box::new(|_| {}));
    let mut crashes = 0u64;
    let start = std::time::Instant::now();
    for i in 0..iterations {
        let mut input = seeds[rng.below(seeds.len())].clone();
        for _ in 0..1 + rng.below(8) {
            mutate(&mut rng, &seeds, &mut input);
        }
        if i % 16 == 0 {
            // Now and then pure noise of any length.
            input = (0..rng.below(1500)).map(|_| rng.next() as u8).collect();
        }
        let data = input.clone();
        if panic::catch_unwind(move || lethe_fuzz::exercise(&data)).is_err() {
            crashes += 1;
            let _ = std::fs::create_dir_all("artifacts");
            let _ = std::fs::write(format!("artifacts/crash-{crashes}"), &input);
            if crashes <= 5 {
                let _ = panic::take_hook();
                eprintln!("panic on input of {} bytes, saved as artifacts/crash-{crashes}", input.len());
                panic::set_hook(Box::new(|_| {}));
            }
        }
    }
    println!(
        "reply_loop: {iterations} executions, {crashes} panics, seed {seed}, {:.1} s",
        start.elapsed().as_secs_f64()
    );
    std::process::exit(if crashes == 0 { 0 } else { 1 });
}

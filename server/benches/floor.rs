//! The floor under "CPU per delivery": what this machine charges for one frame written to
//! one loopback TCP connection when nothing else happens, neither HTTP nor WebSocket
//! framing nor the board's streams.
//!
//! ```text
//! cargo bench -p server --bench floor -- --clients 1000 --frames 250 --pace-ms 20
//! ```
//!
//! It runs itself again as a child process, the writer (`support/floor.rs`, which the
//! fan-out benchmark shares to print the floor beside its own figures), so that the CPU
//! time read from `/proc` is the writer's alone. The writer accepts `--clients` loopback
//! connections from this process, then every `--pace-ms` writes one `--bytes` frame to
//! each, `--frames` times, in one of two shapes:
//!
//! * `loop`: one task writes the frame to every socket in turn, a `write` each: the
//!   system call and the kernel's TCP alone, the least any server can pay per delivery;
//! * `tasks`: one task per connection, woken through a `tokio::sync::broadcast` channel,
//!   writes its frame: the server's shape (a task per stream, woken per change) without the
//!   protocol.
//!
//! This process reads every connection and fails unless each received exactly
//! `frames × bytes` bytes, so a writer that skips writes cannot print a low figure. The
//! difference between this floor and the fan-out benchmark's figure is what the server's
//! own code costs; the floor itself is the kernel's, and on loopback it includes the
//! receiving side of TCP, which runs in the sender's context.
//!
//! CPU time is counted in the kernel's 10 ms ticks: a figure needs some 100,000 writes
//! (the defaults make 250,000); a miniature run checks only that every byte arrives.
//!
//! Bounded: at most 16,000 clients and 1,000 frames, a 120 s deadline, loopback only.

use clap::Parser;

#[path = "support/child.rs"]
mod child;
#[path = "support/floor.rs"]
mod floor;
use floor::{Floor, Shape};

#[derive(Parser, Debug, Clone)]
#[command(about = "The loopback floor under the server's CPU per delivery")]
struct Args {
    /// Loopback connections written to.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..=16_000))]
    clients: u64,
    /// Frames written to every connection.
    #[arg(long, default_value_t = 250, value_parser = clap::value_parser!(u64).range(1..=1_000))]
    frames: u64,
    /// Milliseconds between frames (the fan-out benchmark's 50 changes a second is 20).
    #[arg(long, default_value_t = 20)]
    pace_ms: u64,
    /// A frame's size in bytes (a WebSocket `push-events` frame is 144 on the wire).
    #[arg(long, default_value_t = 144, value_parser = clap::value_parser!(u64).range(1..=65_536))]
    bytes: u64,
    /// The shapes to measure, in this order.
    #[arg(long, value_delimiter = ',', default_value = "loop,tasks")]
    shapes: Vec<Shape>,
    /// Internal: run as the writer child.
    #[arg(long, hide = true)]
    floor_writer: Option<String>,
    // `cargo bench` passes `--bench` to every benchmark binary.
    #[arg(long, hide = true)]
    bench: bool,
}

fn main() {
    let args = Args::parse();
    if let Some(spec) = &args.floor_writer {
        return floor::writer_main(spec);
    }
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let floor = Floor { clients: args.clients, frames: args.frames, pace_ms: args.pace_ms, bytes: args.bytes };
    println!(
        "floor: {} loopback connections, {} frames of {} bytes every {} ms",
        args.clients, args.frames, args.bytes, args.pace_ms
    );
    println!("{:<6} {:>14} {:>14} {:>14}", "shape", "CPU/write", "user", "system");
    for &shape in &args.shapes {
        let (all, user, system) = floor.per_write(runtime.block_on(floor::measure(floor, shape)));
        println!(
            "{:<6} {:>14} {:>14} {:>14}",
            format!("{shape:?}").to_lowercase(),
            format!("{all:.1} µs"),
            format!("{user:.1} µs"),
            format!("{system:.1} µs")
        );
    }
}

//! The floor under "CPU per delivery": what this machine charges for one frame written to
//! one loopback TCP connection when nothing else happens, neither HTTP nor WebSocket
//! framing nor the board's streams.
//!
//! ```text
//! cargo bench -p server --bench floor -- --clients 1000 --frames 250 --pace-ms 20
//! ```
//!
//! It runs itself again as a child process, the writer, so that the CPU time read from
//! `/proc` is the writer's alone, as the fan-out benchmark reads the server's. The writer
//! accepts `--clients` loopback connections from this process, then every `--pace-ms`
//! writes one `--bytes` frame to each, `--frames` times, in one of two shapes:
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

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use clap::{Parser, ValueEnum};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

#[path = "support/child.rs"]
mod child;

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
    /// Internal: run as the writer child with this shape.
    #[arg(long, hide = true)]
    writer: Option<Shape>,
    // `cargo bench` passes `--bench` to every benchmark binary.
    #[arg(long, hide = true)]
    bench: bool,
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq)]
enum Shape {
    Loop,
    Tasks,
}

fn main() {
    let args = Args::parse();
    match args.writer {
        // The writer: the same thread count as the server (one worker per core).
        Some(shape) => tokio::runtime::Runtime::new().unwrap().block_on(writer(&args, shape)),
        None => {
            let runtime = tokio::runtime::Runtime::new().unwrap();
            println!(
                "floor: {} loopback connections, {} frames of {} bytes every {} ms",
                args.clients, args.frames, args.bytes, args.pace_ms
            );
            println!("{:<6} {:>14} {:>14} {:>14}", "shape", "CPU/write", "user", "system");
            for &shape in &args.shapes {
                let (user, system) = runtime.block_on(measure(&args, shape));
                let writes = (args.clients * args.frames) as f64;
                let per = |d: Duration| format!("{:.1} µs", d.as_secs_f64() * 1e6 / writes);
                println!(
                    "{:<6} {:>14} {:>14} {:>14}",
                    format!("{shape:?}").to_lowercase(),
                    per(user + system),
                    per(user),
                    per(system)
                );
            }
        }
    }
}

/// Starts the writer child, connects the clients, reads every byte; returns the writer's
/// CPU time (user, system) over the frames.
async fn measure(args: &Args, shape: Shape) -> (Duration, Duration) {
    let shape_name = format!("{shape:?}").to_lowercase();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--writer", &shape_name])
        .args(["--clients", &args.clients.to_string(), "--frames", &args.frames.to_string()])
        .args(["--pace-ms", &args.pace_ms.to_string(), "--bytes", &args.bytes.to_string()])
        .stdout(Stdio::piped())
        .spawn()
        .expect("the writer starts");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let port: u16 = lines.next().expect("the writer's port").unwrap().parse().unwrap();

    let expected = args.frames * args.bytes;
    let mut readers = tokio::task::JoinSet::new();
    for _ in 0..args.clients {
        let mut socket = TcpStream::connect(("127.0.0.1", port)).await.expect("connect to the writer");
        readers.spawn(async move {
            let mut buf = vec![0u8; 4096];
            let mut got = 0u64;
            while got < expected {
                match socket.read(&mut buf).await.expect("read") {
                    0 => break,
                    n => got += n as u64,
                }
            }
            got
        });
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    while let Some(got) = tokio::time::timeout_at(deadline.into(), readers.join_next())
        .await
        .expect("every client read its frames within 120 s")
    {
        assert_eq!(got.unwrap(), expected, "a client received a different number of bytes");
    }
    // The writer prints its CPU time once every frame is written.
    let cpu = lines.next().expect("the writer's CPU time").unwrap();
    child.wait().unwrap();
    let mut ms = cpu.split_whitespace().map(|v| Duration::from_millis(v.parse().unwrap()));
    (ms.next().unwrap(), ms.next().unwrap())
}

/// The writer: accepts the clients, writes the frames, prints its CPU time.
async fn writer(args: &Args, shape: Shape) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    println!("{}", listener.local_addr().unwrap().port());
    std::io::stdout().flush().unwrap();
    let mut sockets = Vec::with_capacity(args.clients as usize);
    for _ in 0..args.clients {
        let (socket, _) = listener.accept().await.unwrap();
        socket.set_nodelay(true).unwrap();
        sockets.push(socket);
    }
    let frame = Bytes::from(vec![b'x'; args.bytes as usize]);
    let pid = std::process::id();
    let mut pace = tokio::time::interval(Duration::from_millis(args.pace_ms));
    pace.tick().await;
    let (user0, system0) = child::cpu_of(pid);
    match shape {
        Shape::Loop => {
            for _ in 0..args.frames {
                pace.tick().await;
                for socket in &mut sockets {
                    // One `write` when the socket has room, as it does here; wait otherwise.
                    match socket.try_write(&frame) {
                        Ok(n) if n == frame.len() => {}
                        Ok(n) => socket.write_all(&frame[n..]).await.unwrap(),
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => socket.write_all(&frame).await.unwrap(),
                        Err(e) => panic!("write: {e}"),
                    }
                }
            }
        }
        Shape::Tasks => {
            let (tx, _) = tokio::sync::broadcast::channel::<Bytes>(64);
            let mut tasks = tokio::task::JoinSet::new();
            for mut socket in sockets.drain(..) {
                let mut rx = tx.subscribe();
                tasks.spawn(async move {
                    while let Ok(frame) = rx.recv().await {
                        socket.write_all(&frame).await.unwrap();
                    }
                });
            }
            for _ in 0..args.frames {
                pace.tick().await;
                tx.send(frame.clone()).unwrap();
            }
            drop(tx);
            while tasks.join_next().await.is_some() {}
        }
    }
    let (user1, system1) = child::cpu_of(pid);
    println!("{} {}", (user1 - user0).as_millis(), (system1 - system0).as_millis());
    std::io::stdout().flush().unwrap();
}

//! The loopback floor: what this machine charges for one frame written to one loopback TCP
//! connection when nothing else happens (see `benches/floor.rs`, which prints it alone; the
//! fan-out benchmark prints it beside the server's figures, measured in the same run).
//!
//! The writer runs as a child process (the benchmark's own binary again, with
//! `--floor-writer`), so that the CPU time read from `/proc` is the writer's alone, as the
//! fan-out benchmark reads the server's. This process connects the clients and reads every
//! byte, and fails unless each received exactly `frames × bytes`, so a writer that skips
//! writes cannot print a low figure.

// Each benchmark uses part of this harness.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::child;

/// How the writer writes.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq)]
pub enum Shape {
    /// One task writes the frame to every socket in turn, a `write` each: the system call
    /// and the kernel's TCP alone, the least any server can pay per delivery.
    Loop,
    /// One task per connection, woken through a `tokio::sync::broadcast` channel, writes
    /// its frame: the server's shape (a task per stream, woken per change) without the
    /// protocol.
    Tasks,
}

/// One measurement's size.
#[derive(Clone, Copy, Debug)]
pub struct Floor {
    pub clients: u64,
    pub frames: u64,
    pub pace_ms: u64,
    pub bytes: u64,
}

impl Floor {
    /// The writer child's argument (`--floor-writer`).
    fn spec(&self, shape: Shape) -> String {
        let shape = if shape == Shape::Loop { "loop" } else { "tasks" };
        format!("{shape},{},{},{},{}", self.clients, self.frames, self.pace_ms, self.bytes)
    }

    fn parse(spec: &str) -> (Floor, Shape) {
        let parts: Vec<&str> = spec.split(',').collect();
        let n = |i: usize| parts[i].parse::<u64>().expect("a floor writer's spec");
        let shape = if parts[0] == "loop" { Shape::Loop } else { Shape::Tasks };
        (Floor { clients: n(1), frames: n(2), pace_ms: n(3), bytes: n(4) }, shape)
    }

    /// The writer's CPU time per write, (user + system, user, system).
    pub fn per_write(&self, (user, system): (Duration, Duration)) -> (f64, f64, f64) {
        let writes = (self.clients * self.frames) as f64;
        let us = |d: Duration| d.as_secs_f64() * 1e6 / writes;
        (us(user + system), us(user), us(system))
    }
}

/// Starts the writer child, connects the clients, reads every byte; returns the writer's
/// CPU time (user, system) over the frames.
pub async fn measure(floor: Floor, shape: Shape) -> (Duration, Duration) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--floor-writer", &floor.spec(shape)])
        .stdout(Stdio::piped())
        .spawn()
        .expect("the writer starts");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let port: u16 = lines.next().expect("the writer's port").unwrap().parse().unwrap();

    let expected = floor.frames * floor.bytes;
    let mut readers = tokio::task::JoinSet::new();
    for _ in 0..floor.clients {
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

/// The child: runs the writer `spec` names (on a runtime like the server's, one worker per
/// core) and exits.
pub fn writer_main(spec: &str) {
    let (floor, shape) = Floor::parse(spec);
    tokio::runtime::Runtime::new().unwrap().block_on(writer(floor, shape));
}

/// The writer: accepts the clients, writes the frames, prints its CPU time.
async fn writer(floor: Floor, shape: Shape) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    println!("{}", listener.local_addr().unwrap().port());
    std::io::stdout().flush().unwrap();
    let mut sockets = Vec::with_capacity(floor.clients as usize);
    for _ in 0..floor.clients {
        let (socket, _) = listener.accept().await.unwrap();
        socket.set_nodelay(true).unwrap();
        sockets.push(socket);
    }
    let frame = Bytes::from(vec![b'x'; floor.bytes as usize]);
    let pid = std::process::id();
    let mut pace = tokio::time::interval(Duration::from_millis(floor.pace_ms.max(1)));
    pace.tick().await;
    let (user0, system0) = child::cpu_of(pid);
    match shape {
        Shape::Loop => {
            for _ in 0..floor.frames {
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
            for _ in 0..floor.frames {
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

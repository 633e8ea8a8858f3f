//! Producer and consumer in two processes sharing a memfd that each maps at a different
//! address: millions of items with checksums, nothing lost, nothing duplicated, in order.
//!
//! The parent test spawns this test binary again as the consumer (the `#[ignore]`d
//! `consumer_child` test, selected with `--ignored --exact`), passing the memfd and two eventfds
//! by inheritance.
#![cfg(all(target_os = "linux", not(loom), not(miri)))]

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use bulk_queue::ring::Notify;
use bulk_queue::{BulkConsumer, BulkProducer, Descriptor, Error, Geometry, Region};

const G: Geometry = Geometry::new(1024, 512, 128, 9);
const HINT_GAP: usize = 1 << 30;

fn check(ok: bool, what: &str) {
    assert!(ok, "{what}: {}", std::io::Error::last_os_error());
}

/// What each item's slot carries: its sequence number and a checksum of it.
fn checksum(seq: u64) -> u64 {
    let mut x = seq ^ 0x9e37_79b9_7f4a_7c15;
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

fn map(fd: i32, hint: usize) -> *mut u8 {
    // SAFETY: a fresh shared mapping of the memfd (no existing memory is replaced: no MAP_FIXED).
    let p = unsafe {
        libc::mmap(
            hint as *mut libc::c_void,
            G.region_len(),
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED,
            fd,
            0,
        )
    };
    check(p != libc::MAP_FAILED, "mmap");
    p.cast()
}

/// Waits for an eventfd signal, at most 20 s (a lost wakeup fails the test instead of hanging).
fn wait_event(fd: i32) {
    let mut pfd = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd.
    let n = unsafe { libc::poll(&mut pfd, 1, 20_000) };
    assert!(n == 1, "no wakeup within 20 s (lost wakeup?)");
    let mut v = 0u64;
    // SAFETY: reads 8 bytes into `v`.
    let r = unsafe { libc::read(fd, (&mut v as *mut u64).cast(), 8) };
    check(r == 8, "eventfd read");
}

struct EventFd(i32);
impl Notify for EventFd {
    fn notify(&mut self) {
        let one = 1u64;
        // SAFETY: writes 8 bytes from `one`.
        let r = unsafe { libc::write(self.0, (&one as *const u64).cast(), 8) };
        check(r == 8, "eventfd write");
    }
}

fn env(name: &str) -> usize {
    std::env::var(name)
        .unwrap_or_else(|_| panic!("{name} unset"))
        .parse()
        .unwrap()
}

#[test]
#[ignore = "runs only as the child process of the two_processes_* tests"]
fn consumer_child() {
    let (fd, parent_addr, items, to_consumer, to_producer) = (
        env("BQ_FD") as i32,
        env("BQ_ADDR"),
        env("BQ_ITEMS") as u64,
        env("BQ_EFD_C") as i32,
        env("BQ_EFD_P") as i32,
    );
    let sleepy = env("BQ_SLEEP") == 1;
    let base = map(fd, parent_addr.wrapping_add(HINT_GAP));
    assert_ne!(
        base as usize, parent_addr,
        "both processes mapped the region at the same address"
    );
    println!("consumer maps the region at {base:p}, producer at {parent_addr:#x}");
    // SAFETY: the mapping is valid for `region_len` bytes until the process exits; this process
    // touches it only through the region; the other process is the peer.
    let region = unsafe { Region::from_raw_parts(base, G.region_len()) }.unwrap();
    let mut map = [0u32; G.consumer_map_words()];
    let mut c = BulkConsumer::attach(region, G, &mut map)
        .unwrap()
        .with_notify(EventFd(to_producer));
    let mut expect = 0u64;
    let mut batch = [Descriptor::default(); 32];
    let mut sleeps = 0u64;
    while expect < items {
        let n = match c.recv_batch(&mut batch) {
            Ok(n) => n,
            Err(Error::Empty) => {
                if sleepy {
                    if c.prepare_to_sleep().unwrap() {
                        wait_event(to_consumer);
                        c.awake();
                        sleeps += 1;
                    }
                } else {
                    std::thread::yield_now();
                }
                continue;
            }
            Err(e) => panic!("recv: {e}"),
        };
        for d in &batch[..n] {
            let mut b = [0u8; 16];
            c.slot(d.slot)
                .unwrap()
                .read(d.offset as usize, &mut b)
                .unwrap();
            let seq = u64::from_le_bytes(b[..8].try_into().unwrap());
            let sum = u64::from_le_bytes(b[8..].try_into().unwrap());
            assert_eq!(seq, expect, "item lost, duplicated or reordered");
            assert_eq!(sum, checksum(seq), "corrupted item {seq}");
            assert_eq!(d.len, 16);
            c.release(*d).unwrap();
            expect += 1;
        }
    }
    println!("consumer received {expect} items, slept {sleeps} times");
}

fn run(items: u64, sleepy: bool) {
    // SAFETY: plain syscalls with valid arguments; the name is NUL-terminated.
    let fd = unsafe { libc::memfd_create(c"bulk-queue-test".as_ptr(), 0) };
    check(fd >= 0, "memfd_create");
    // SAFETY: as above.
    check(
        unsafe { libc::ftruncate(fd, G.region_len() as libc::off_t) } == 0,
        "ftruncate",
    );
    // SAFETY: as above (no EFD_CLOEXEC: the child inherits them).
    let (to_consumer, to_producer) = unsafe { (libc::eventfd(0, 0), libc::eventfd(0, 0)) };
    check(to_consumer >= 0 && to_producer >= 0, "eventfd");
    let base = map(fd, 0);
    // SAFETY: the mapping is valid for `region_len` bytes for the rest of the test (never
    // unmapped); this process touches it only through the region; the child is the peer.
    let region = unsafe { Region::from_raw_parts(base, G.region_len()) }.unwrap();
    region.format(G).unwrap();
    let mut map = [0u32; G.producer_map_words()];
    let mut p = BulkProducer::attach(region, G, &mut map)
        .unwrap()
        .with_notify(EventFd(to_consumer));

    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--ignored",
            "--exact",
            "consumer_child",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("BQ_FD", fd.to_string())
        .env("BQ_ADDR", (base as usize).to_string())
        .env("BQ_ITEMS", items.to_string())
        .env("BQ_EFD_C", to_consumer.to_string())
        .env("BQ_EFD_P", to_producer.to_string())
        .env("BQ_SLEEP", u8::from(sleepy).to_string())
        .stdout(Stdio::inherit())
        .spawn()
        .unwrap();

    let start = Instant::now();
    let mut seq = 0u64;
    let mut batch = Vec::with_capacity(32);
    while seq < items {
        assert!(
            start.elapsed() < Duration::from_secs(300),
            "producer stuck at item {seq}"
        );
        p.reclaim().unwrap();
        batch.clear();
        while batch.len() < 32 && seq + (batch.len() as u64) < items {
            let Some(slot) = p.alloc() else { break };
            let s = seq + batch.len() as u64;
            let mut b = [0u8; 16];
            b[..8].copy_from_slice(&s.to_le_bytes());
            b[8..].copy_from_slice(&checksum(s).to_le_bytes());
            let off = (s % 7) as u32 * 8; // vary the offset inside the slot
            p.slot(slot).unwrap().write(off as usize, &b).unwrap();
            batch.push(Descriptor::new(9, slot, off, 16));
        }
        let sent = if batch.is_empty() {
            0
        } else {
            p.send_batch(&batch)
                .or_else(|e| if e == Error::Full { Ok(0) } else { Err(e) })
                .unwrap()
        };
        for d in &batch[sent..] {
            p.dealloc(d.slot).unwrap();
        }
        seq += sent as u64;
        if sent == 0 {
            if sleepy {
                if p.prepare_to_sleep().unwrap() {
                    wait_event(to_producer);
                }
            } else {
                std::thread::yield_now();
            }
        } else if sleepy && seq % 4096 < 32 {
            // Let the consumer drain and go to sleep now and then.
            std::thread::sleep(Duration::from_micros(200));
        }
    }
    let status = child.wait().unwrap();
    assert!(status.success(), "consumer process failed: {status}");
}

#[test]
fn two_processes_move_millions_polling() {
    run(3_000_000, false);
}

#[test]
fn two_processes_with_eventfd_wakeups() {
    run(200_000, true);
}

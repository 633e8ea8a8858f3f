//! Unit tests (also run under Miri).

use std::boxed::Box;
use std::vec::Vec;

use core::sync::atomic::{AtomicU32, Ordering};

use crate::ring::{Consumer, Notify, Producer, RingMem};
use crate::*;

#[test]
fn ring_fills_empties_and_wraps() {
    let mut mem = RingMem::<u32, 4>::new();
    let (mut p, mut c) = mem.split();
    assert_eq!(c.pop(), Err(Error::Empty));
    for round in 0..10u32 {
        for i in 0..4 {
            p.push(round * 10 + i).unwrap();
        }
        assert_eq!(p.push(99), Err(Error::Full));
        for i in 0..4 {
            assert_eq!(c.pop(), Ok(round * 10 + i));
        }
        assert_eq!(c.pop(), Err(Error::Empty));
    }
}

#[test]
fn ring_index_wraps_past_u32_max() {
    let mem = RingMem::<u64, 8>::new();
    let start = u32::MAX - 5;
    mem.prod.tail.store(start, Ordering::Relaxed);
    mem.cons.head.store(start, Ordering::Relaxed);
    let cells = crate::shm::Cells::new(&mem.entries[..]).unwrap();
    let mut p = Producer::<u64>::new_at(&mem.prod, &mem.cons, cells, start);
    let mut c = Consumer::<u64>::new_at(&mem.prod, &mem.cons, cells, start);
    let mut next = 0u64;
    let mut expect = 0u64;
    for _ in 0..20 {
        let batch: Vec<u64> = (next..next + 5).collect();
        let n = p.push_slice(&batch).unwrap();
        next += n as u64;
        let mut out = [0u64; 3];
        let m = c.pop_slice(&mut out).unwrap();
        for v in &out[..m] {
            assert_eq!(*v, expect);
            expect += 1;
        }
    }
    assert!(expect > 40);
}

#[test]
fn chunks_commit_partially() {
    let mut mem = RingMem::<u32, 8>::new();
    let (mut p, mut c) = mem.split();
    let mut w = p.write_chunk(5).unwrap();
    assert_eq!(w.len(), 5);
    for i in 0..5 {
        w.set(i, i as u32).unwrap();
    }
    assert_eq!(w.set(5, 0), Err(Error::OutOfRange));
    w.commit(3);
    let r = c.read_chunk(10).unwrap();
    assert_eq!(r.len(), 3);
    assert_eq!(r.get(3), Err(Error::OutOfRange));
    assert_eq!(r.get(2), Ok(2));
    r.commit(2);
    assert_eq!(c.pop(), Ok(2));
    assert!(matches!(c.read_chunk(1), Err(Error::Empty)));
    assert_eq!(p.free(), Ok(8));
}

#[test]
fn chunk_iterators_wrap_around() {
    let mut mem = RingMem::<u32, 8>::new();
    let (mut p, mut c) = mem.split();
    for round in 0..5u32 {
        let base = round * 100;
        assert_eq!(p.write_chunk(6).unwrap().fill_from_iter(base..base + 5), 5);
        let r = c.read_chunk(8).unwrap();
        let got: Vec<u32> = r.iter().collect();
        assert_eq!(got, (base..base + 5).collect::<Vec<_>>());
        let mut out = [0; 3];
        assert_eq!(r.copy_to(&mut out), 3);
        assert_eq!(out, [base, base + 1, base + 2]);
        r.commit_all();
    }
    assert_eq!(p.free(), Ok(8));
}

#[test]
fn hostile_indices_are_errors() {
    let mut mem = RingMem::<u32, 4>::new();
    let (mut p, mut c) = mem.split();
    p.push(1).unwrap();
    p.push(2).unwrap();
    assert_eq!(c.pop(), Ok(1));
    // The "producer" claims 100 entries: impossible for capacity 4.
    p.prod.tail.store(100, Ordering::Relaxed);
    assert_eq!(c.pop(), Ok(2)); // from the cached, validated tail
    assert_eq!(c.pop(), Err(Error::PeerCorrupt));
    assert_eq!(c.available(), Err(Error::PeerCorrupt));
    // The "consumer" claims to be ahead of the producer.
    c.cons.head.store(7, Ordering::Relaxed);
    for _ in 0..3 {
        let _ = p.push(2);
    }
    assert_eq!(p.push(3), Err(Error::PeerCorrupt));
    assert_eq!(p.free(), Err(Error::PeerCorrupt));
}

#[derive(Debug, Default)]
struct Count(u32);
impl Notify for Count {
    fn notify(&mut self) {
        self.0 += 1;
    }
}

#[test]
fn notifies_once_per_sleep_and_only_when_idle() {
    let mut mem = RingMem::<u32, 8>::new();
    let (p, mut c) = mem.split();
    let mut p = p.with_notify(Count::default());
    p.push(1).unwrap();
    assert_eq!(p.notifier().0, 0, "consumer not idle: no signal");
    assert_eq!(
        c.prepare_to_sleep(),
        Ok(false),
        "entries pending: must not sleep"
    );
    assert_eq!(c.pop(), Ok(1));
    assert_eq!(c.prepare_to_sleep(), Ok(true));
    p.push(2).unwrap();
    p.push(3).unwrap();
    assert_eq!(
        p.notifier().0,
        1,
        "one signal for the empty -> non-empty transition"
    );
    c.awake();
    assert_eq!(c.pop_slice(&mut [0; 4]), Ok(2));
    p.push(4).unwrap();
    assert_eq!(p.notifier().0, 1, "consumer awake: no signal");
    assert_eq!(c.pop(), Ok(4));
    assert_eq!(c.prepare_to_sleep(), Ok(true));
    p.push_slice(&[5, 6]).unwrap();
    assert_eq!(p.notifier().0, 2);
}

const G: Geometry = Geometry::new(8, 16, 64, 3);

struct Setup {
    buf: Box<AlignedBuf<{ G.region_len() }>>,
    pmap: [u32; G.producer_map_words()],
    cmap: [u32; G.consumer_map_words()],
}

impl Setup {
    fn new() -> Self {
        Setup {
            buf: Box::new(AlignedBuf::new()),
            pmap: [0; G.producer_map_words()],
            cmap: [0; G.consumer_map_words()],
        }
    }
}

fn word(region: &Region<'_>, offset: usize) -> &'static AtomicU32 {
    let p = region.as_ptr().wrapping_add(offset);
    assert!(offset + 4 <= region.len() && (p as usize).is_multiple_of(4));
    // SAFETY: in bounds and aligned (asserted); the test's region outlives every use (the box is
    // kept alive by the test until its end); access is atomic.
    unsafe { AtomicU32::from_ptr(p.cast()) }
}

#[test]
fn attach_checks_header() {
    let mut s = Setup::new();
    let region = Region::new(&mut s.buf.0).unwrap();
    assert_eq!(
        BulkConsumer::attach(region, G, &mut s.cmap).err(),
        Some(Error::BadMagic)
    );
    region.format(G).unwrap();
    let other = Geometry::new(16, 16, 64, 3);
    assert_eq!(
        BulkConsumer::attach(region, other, &mut s.cmap).err(),
        Some(Error::BadGeometry)
    );
    assert_eq!(
        BulkProducer::attach(region, G, &mut s.pmap[..1]).err(),
        Some(Error::TooSmall)
    );
    word(&region, 4).store(VERSION + 1, Ordering::Relaxed);
    assert_eq!(
        BulkConsumer::attach(region, G, &mut s.cmap).err(),
        Some(Error::BadVersion)
    );
    region.format(G).unwrap();
    assert!(BulkConsumer::attach(region, G, &mut s.cmap).is_ok());
}

#[test]
fn region_constructor_checks() {
    let mut buf = AlignedBuf::<{ G.region_len() + 128 }>::new();
    assert_eq!(Region::new(&mut buf.0[1..]).err(), Some(Error::Misaligned));
    let small = Region::new(&mut buf.0[..256]).unwrap();
    assert_eq!(small.format(G), Err(Error::TooSmall));
    assert_eq!(
        small.format(Geometry::new(3, 1, 1, 0)),
        Err(Error::BadGeometry)
    );
    assert_eq!(Geometry::new(3, 1, 1, 0).region_len(), usize::MAX);
    let absurd = Geometry::new(u32::MAX, u32::MAX, u32::MAX, 0);
    assert_eq!(absurd.region_len(), usize::MAX);
    assert_eq!(absurd.return_capacity(), u32::MAX);
    assert!(absurd.pool_offset() > 0);
}

#[test]
fn ownership_is_enforced() {
    let mut s = Setup::new();
    let (mut p, mut c) = split(&mut s.buf.0, G, &mut s.pmap, &mut s.cmap).unwrap();
    let d = Descriptor::new(3, 5, 0, 10);
    assert_eq!(c.slot(5).err(), Some(Error::NotOwned));
    p.send(d).unwrap();
    assert_eq!(p.send(d), Err(Error::NotOwned), "slot already handed over");
    assert_eq!(p.slot(5).err(), Some(Error::NotOwned));
    assert_eq!(
        p.send(Descriptor::new(3, 16, 0, 1)),
        Err(Error::BadDescriptor)
    );
    assert_eq!(
        p.send(Descriptor::new(3, 1, 60, 5)),
        Err(Error::BadDescriptor)
    );
    assert_eq!(
        p.send(Descriptor::new(2, 1, 0, 5)),
        Err(Error::BadDescriptor)
    );
    assert_eq!(c.release(d), Err(Error::NotOwned));
    assert_eq!(c.recv(), Ok(d));
    assert!(c.owns(5) && !p.owns(5));
    c.release(d).unwrap();
    assert_eq!(c.release(d), Err(Error::NotOwned));
    assert_eq!(p.reclaim(), Ok(1));
    assert!(p.owns(5));
    // Batches stop at a repeated slot.
    let batch = [
        Descriptor::new(3, 1, 0, 1),
        Descriptor::new(3, 2, 0, 1),
        Descriptor::new(3, 1, 0, 1),
    ];
    assert_eq!(p.send_batch(&batch), Ok(2));
    assert_eq!(p.send_batch(&batch[2..]), Err(Error::NotOwned));
    let mut out = [Descriptor::default(); 8];
    assert_eq!(c.recv_batch(&mut out), Ok(2));
    assert_eq!(&out[..2], &batch[..2]);
}

#[test]
fn alloc_hands_out_each_slot_once() {
    let mut s = Setup::new();
    let (mut p, mut c) = split(&mut s.buf.0, G, &mut s.pmap, &mut s.cmap).unwrap();
    let mut seen = [false; 16];
    for _ in 0..16 {
        let slot = p.alloc().unwrap() as usize;
        assert!(!seen[slot]);
        seen[slot] = true;
    }
    assert_eq!(p.alloc(), None);
    p.dealloc(7).unwrap();
    assert_eq!(p.alloc(), Some(7));
    p.send(Descriptor::new(3, 7, 0, 0)).unwrap();
    assert_eq!(p.dealloc(7), Err(Error::NotOwned));
    let d = c.recv().unwrap();
    c.release(d).unwrap();
    p.reclaim().unwrap();
    assert_eq!(p.alloc(), Some(7));
}

#[test]
fn slot_data_round_trips_at_any_alignment() {
    let mut s = Setup::new();
    let (mut p, mut c) = split(&mut s.buf.0, G, &mut s.pmap, &mut s.cmap).unwrap();
    let data: Vec<u8> = (0..61u8).collect();
    p.slot(2).unwrap().write(3, &data).unwrap();
    assert_eq!(p.slot(2).unwrap().write(4, &data), Err(Error::OutOfRange));
    p.send(Descriptor::new(3, 2, 3, 61)).unwrap();
    let d = c.recv().unwrap();
    let mut out = [0u8; 61];
    let slot = c.slot(d.slot).unwrap();
    assert_eq!(slot.len(), 64);
    slot.read(d.offset as usize, &mut out).unwrap();
    assert_eq!(&out[..], &data[..]);
    assert_eq!(slot.read(usize::MAX, &mut out), Err(Error::OutOfRange));
}

/// Every offset and length inside a slot: partial edge words merge into the word and leave the
/// bytes around them, and the neighbouring slots, untouched.
#[test]
fn partial_words_keep_their_neighbours() {
    let mut s = Setup::new();
    let (p, _c) = split(&mut s.buf.0, G, &mut s.pmap, &mut s.cmap).unwrap();
    let lens: &[usize] = if cfg!(miri) {
        &[0, 1, 3, 6, 9]
    } else {
        &[0, 1, 2, 3, 4, 5, 6, 7, 9, 17]
    };
    let offsets = if cfg!(miri) { 0..6 } else { 0..64 };
    for off in offsets {
        for &len in lens {
            if off + len > 64 {
                continue;
            }
            let mut image = [0xAAu8; 64];
            for k in [1, 2, 3] {
                p.slot(k).unwrap().write(0, &[0xAA; 64]).unwrap();
            }
            let data: Vec<u8> = (0..len as u8).map(|b| b.wrapping_mul(7) ^ 0x5A).collect();
            p.slot(2).unwrap().write(off, &data).unwrap();
            image[off..off + len].copy_from_slice(&data);
            let mut out = [0u8; 64];
            p.slot(2).unwrap().read(0, &mut out).unwrap();
            assert_eq!(out, image, "offset {off} length {len}");
            let mut part = std::vec![0u8; len];
            p.slot(2).unwrap().read(off, &mut part).unwrap();
            assert_eq!(part, data, "offset {off} length {len}");
            for k in [1, 3] {
                p.slot(k).unwrap().read(0, &mut out).unwrap();
                assert_eq!(out, [0xAA; 64], "slot {k} touched");
            }
        }
    }
}

#[test]
fn slot_size_must_be_whole_words() {
    for size in [1, 2, 3, 5, 6, 7, 63, 2047] {
        let g = Geometry::new(8, 4, size, 0);
        assert_eq!(g.validate(), Err(Error::BadGeometry), "slot size {size}");
        assert_eq!(g.region_len(), usize::MAX);
    }
    for size in [4, 8, 64, 2048] {
        assert_eq!(Geometry::new(8, 4, size, 0).validate(), Ok(()));
    }
}

/// Two producers attached to one region (safe code can do it: `Region` is `Copy`) racing on one
/// slot at overlapping, differently aligned ranges. Before every shared access was a 4-byte word,
/// one side used `AtomicU8` and the other `AtomicU32` on the same bytes: undefined behaviour,
/// which Miri reports as "overlapping unsynchronized atomic accesses must use the same access
/// size". Now the race only garbles data.
#[test]
fn racing_handles_use_one_access_size() {
    let mut s = Setup::new();
    let region = Region::new(&mut s.buf.0).unwrap();
    region.format(G).unwrap();
    let mut second_map = [0u32; G.producer_map_words()];
    let p1 = BulkProducer::attach(region, G, &mut s.pmap).unwrap();
    let p2 = BulkProducer::attach(region, G, &mut second_map).unwrap();
    std::thread::scope(|t| {
        t.spawn(|| {
            p1.slot(0).unwrap().write(1, &[1u8; 8]).unwrap();
        });
        t.spawn(|| {
            let mut out = [0u8; 8];
            p2.slot(0).unwrap().read(0, &mut out).unwrap();
            p2.slot(0).unwrap().write(2, &[2u8; 5]).unwrap();
        });
    });
}

/// Re-formatting a live region with another geometry moves the pool over former descriptor cells
/// while a handle of the old layout still writes them: every access is still one word size.
#[test]
fn reformat_under_a_live_handle_uses_one_access_size() {
    const SMALL: Geometry = Geometry::new(2, 1, 64, 3);
    let mut s = Setup::new();
    let region = Region::new(&mut s.buf.0).unwrap();
    region.format(G).unwrap();
    let mut pm = [0u32; G.producer_map_words()];
    let mut p = BulkProducer::attach(region, G, &mut pm).unwrap();
    let mut pm2 = [0u32; SMALL.producer_map_words()];
    region.format(SMALL).unwrap();
    let q = BulkProducer::attach(region, SMALL, &mut pm2).unwrap();
    // SMALL's pool starts where G's forward descriptors lie.
    assert!(SMALL.pool_offset() < G.pool_offset());
    std::thread::scope(|t| {
        t.spawn(|| {
            for i in 0..4 {
                let _ = p.send(Descriptor::new(3, i, 0, 1));
            }
        });
        t.spawn(|| {
            let slot = q.slot(0).unwrap();
            slot.write(1, &[9u8; 61]).unwrap();
            let mut out = [0u8; 64];
            slot.read(0, &mut out).unwrap();
        });
    });
}

#[test]
fn hostile_descriptors_are_dropped_with_an_error() {
    let mut s = Setup::new();
    let region = Region::new(&mut s.buf.0).unwrap();
    region.format(G).unwrap();
    let mut c = BulkConsumer::attach(region, G, &mut s.cmap).unwrap();
    let entries = 640;
    let cell = DESCRIPTOR_SIZE as usize;
    // Word 0 of a cell is the sequence word (left 0: found through `tail`), words 1-4 the
    // descriptor.
    let put = |i: usize, words: [u32; 4]| {
        for (k, w) in words.into_iter().enumerate() {
            word(&region, entries + i * cell + 4 + k * 4).store(w, Ordering::Relaxed);
        }
    };
    put(0, [3, 99, 0, 1]); // slot 99 outside the pool
    put(1, [3, 4, 60, 8]); // range past the slot end
    put(2, [7, 4, 0, 8]); // wrong pool
    put(3, [3, 4, 0, 8]); // fine
    put(4, [3, 4, 0, 8]); // the same slot again
    word(&region, 128).store(5, Ordering::Release); // forward tail
    assert_eq!(c.recv(), Err(Error::BadDescriptor));
    let mut out = [Descriptor::default(); 4];
    assert_eq!(c.recv_batch(&mut out), Err(Error::BadDescriptor));
    assert_eq!(c.recv(), Err(Error::BadDescriptor));
    assert_eq!(c.recv(), Ok(Descriptor::new(3, 4, 0, 8)));
    assert_eq!(c.recv(), Err(Error::NotOwned));
    assert_eq!(c.recv(), Err(Error::Empty));
    // A tail far ahead is refused without touching anything. While cell 5's sequence word
    // says the cell is not written in this lap, `recv` does not even read `tail`.
    word(&region, 128).store(5 + 9, Ordering::Release);
    assert_eq!(c.recv(), Err(Error::Empty));
    word(&region, entries + 5 * cell).store(5, Ordering::Release); // "written by a chunk"
    assert_eq!(c.recv(), Err(Error::PeerCorrupt));
    let mut out = [Descriptor::default(); 4];
    word(&region, entries + 5 * cell).store(0, Ordering::Release);
    assert_eq!(c.recv_batch(&mut out), Err(Error::PeerCorrupt));
}

#[test]
fn hostile_returns_are_refused() {
    let mut s = Setup::new();
    let region = Region::new(&mut s.buf.0).unwrap();
    region.format(G).unwrap();
    let mut p = BulkProducer::attach(region, G, &mut s.pmap).unwrap();
    let cell = DESCRIPTOR_SIZE as usize;
    let ret_entries = 640 + 8 * cell; // return capacity 16
    // The "consumer" returns slot 1, which the producer still owns, then slot 200.
    for (i, slot) in [1u32, 200].into_iter().enumerate() {
        word(&region, ret_entries + i * cell + 4).store(3, Ordering::Relaxed);
        word(&region, ret_entries + i * cell + 8).store(slot, Ordering::Relaxed);
    }
    word(&region, 384).store(2, Ordering::Release); // return tail
    assert_eq!(p.reclaim(), Err(Error::NotOwned));
    assert_eq!(p.reclaim(), Err(Error::BadDescriptor));
    assert_eq!(p.reclaim(), Ok(0));
}

#[test]
fn threads_move_items_in_order() {
    let mut s = Setup::new();
    let (mut p, mut c) = split(&mut s.buf.0, G, &mut s.pmap, &mut s.cmap).unwrap();
    let n: u32 = if cfg!(miri) { 300 } else { 100_000 };
    std::thread::scope(|sc| {
        sc.spawn(move || {
            let mut i = 0;
            while i < n {
                p.reclaim().unwrap();
                let Some(slot) = p.alloc() else {
                    std::thread::yield_now();
                    continue;
                };
                p.slot(slot).unwrap().write(0, &i.to_le_bytes()).unwrap();
                let mut d = Descriptor::new(3, slot, 0, 4);
                d.flags = (i % 65536) as u16;
                match p.send(d) {
                    Ok(()) => i += 1,
                    Err(Error::Full) => p.dealloc(slot).unwrap(),
                    Err(e) => panic!("{e}"),
                }
            }
        });
        let mut expect = 0u32;
        while expect < n {
            match c.recv() {
                Ok(d) => {
                    let mut b = [0u8; 4];
                    c.slot(d.slot).unwrap().read(0, &mut b).unwrap();
                    assert_eq!(u32::from_le_bytes(b), expect);
                    assert_eq!(d.flags, (expect % 65536) as u16);
                    c.release(d).unwrap();
                    expect += 1;
                }
                Err(Error::Empty) => std::thread::yield_now(),
                Err(e) => panic!("{e}"),
            }
        }
    });
}

#[test]
fn error_display() {
    assert_eq!(
        std::format!("{}", Error::NotOwned),
        "slot not owned by this side"
    );
}

/// A `Seq` ring: single pushes are announced in their cells' sequence words, chunk and slice
/// writes are not (their words hold their own index), so a partially committed chunk's tail is
/// never taken through a sequence word.
#[test]
fn seq_ring_takes_only_published_entries() {
    let mut mem = RingMem::<Seq<u32>, 4>::new();
    let (mut p, mut c) = mem.split();
    for round in 0..6u32 {
        p.push(Seq(round)).unwrap();
        assert_eq!(c.pop(), Ok(Seq(round)));
        let mut w = p.write_chunk(4).unwrap();
        for i in 0..4 {
            w.set(i, Seq(100 + i as u32)).unwrap();
        }
        w.commit(2);
        assert_eq!(c.pop(), Ok(Seq(100)));
        assert_eq!(c.pop(), Ok(Seq(101)));
        assert_eq!(c.pop(), Err(Error::Empty), "uncommitted entries taken");
        assert_eq!(p.push_slice(&[Seq(7), Seq(8)]), Ok(2));
        assert_eq!(c.pop_slice(&mut [Seq(0); 4]), Ok(2));
        assert_eq!(c.pop(), Err(Error::Empty));
    }
}

/// The consumer takes an announced entry before the producer's `tail` store lands; a `tail`
/// behind `head` by at most the capacity then means "nothing more yet", further is corrupt.
#[test]
fn seq_pop_runs_ahead_of_tail() {
    let mut mem = RingMem::<Seq<u64>, 4>::new();
    let (mut p, mut c) = mem.split();
    p.push(Seq(5)).unwrap();
    p.push(Seq(6)).unwrap();
    // As if neither `tail` store had landed yet.
    p.prod.tail.store(0, Ordering::Relaxed);
    assert_eq!(c.pop(), Ok(Seq(5)));
    assert_eq!(c.pop(), Ok(Seq(6)));
    assert_eq!(c.available(), Ok(0));
    assert_eq!(c.pop(), Err(Error::Empty));
    assert_eq!(c.read_chunk(4).err(), Some(Error::Empty));
    assert_eq!(c.prepare_to_sleep(), Ok(true));
    c.awake();
    p.prod.tail.store(2, Ordering::Relaxed);
    assert_eq!(c.pop(), Err(Error::Empty));
    p.push(Seq(7)).unwrap();
    assert_eq!(c.pop(), Ok(Seq(7)));
    // 3 taken; a tail 5 behind is more than the capacity.
    p.prod.tail.store(3u32.wrapping_sub(5), Ordering::Relaxed);
    assert_eq!(c.available(), Err(Error::PeerCorrupt));
}

/// The wakeup re-check looks where `pop` looks: an announced entry whose `tail` store has not
/// landed keeps the consumer awake.
#[test]
fn sleep_check_sees_announced_entries() {
    let mut mem = RingMem::<Seq<u32>, 8>::new();
    let (p, mut c) = mem.split();
    let mut p = p.with_notify(Count::default());
    p.push(Seq(1)).unwrap();
    p.prod.tail.store(0, Ordering::Relaxed);
    assert_eq!(c.prepare_to_sleep(), Ok(false));
    assert_eq!(c.pop(), Ok(Seq(1)));
    assert_eq!(c.prepare_to_sleep(), Ok(true));
    p.push(Seq(2)).unwrap();
    assert_eq!(p.notifier().0, 1);
}

/// Sequence words wrap with the indices: `u32::MAX + 1` is 0.
#[test]
fn seq_ring_wraps_past_u32_max() {
    let mem = RingMem::<Seq<u32>, 4>::new();
    let start = u32::MAX - 9;
    mem.prod.tail.store(start, Ordering::Relaxed);
    mem.cons.head.store(start, Ordering::Relaxed);
    // Sequence words as the previous lap's chunk writes left them (their own indices).
    for k in 0..4u32 {
        let index = start.wrapping_sub(4).wrapping_add(k);
        let cell = &mem.entries[(index % 4) as usize];
        <Seq<u32> as Element>::seq(cell)
            .unwrap()
            .store(index, Ordering::Relaxed);
    }
    let cells = crate::shm::Cells::new(&mem.entries[..]).unwrap();
    let mut p = Producer::<Seq<u32>>::new_at(&mem.prod, &mem.cons, cells, start);
    let mut c = Consumer::<Seq<u32>>::new_at(&mem.prod, &mem.cons, cells, start);
    for i in 0..20 {
        p.push(Seq(i)).unwrap();
        // The `tail` store of this push not landed yet: taken through the sequence word.
        mem.prod
            .tail
            .store(start.wrapping_add(i), Ordering::Relaxed);
        assert_eq!(c.pop(), Ok(Seq(i)));
        assert_eq!(c.pop(), Err(Error::Empty));
    }
}

/// A hostile third party writes random words anywhere in a live region (header, index lines,
/// ring cells and sequence words, pool) between the honest sides' operations: every operation
/// returns, nothing panics, and everything received is inside the pool. Miri-sized (it runs
/// under Miri in CI, which also checks for undefined behaviour).
#[test]
fn random_region_writes_between_operations() {
    let mut s = Setup::new();
    let len = G.region_len();
    let region = Region::new(&mut s.buf.0).unwrap();
    region.format(G).unwrap();
    let mut p = BulkProducer::attach(region, G, &mut s.pmap).unwrap();
    let mut c = BulkConsumer::attach(region, G, &mut s.cmap).unwrap();
    let mut rng = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let ops = if cfg!(miri) { 300 } else { 20_000 };
    let mut received = 0;
    for _ in 0..ops {
        let r = next();
        // Mostly small values (plausible indices, slots, sequence words), sometimes any word.
        let value = if r & 1 == 0 {
            (r >> 8) as u32 % 40
        } else {
            (r >> 8) as u32
        };
        if r % 3 == 0 {
            let offset = (next() as usize % (len / 4)) * 4;
            word(&region, offset).store(value, Ordering::Relaxed);
        }
        match next() % 6 {
            0 => {
                if let Some(slot) = p.alloc() {
                    let _ = p.slot(slot).and_then(|d| d.write(0, &[1, 2, 3]));
                    if p.send(Descriptor::new(3, slot, 0, 3)).is_err() {
                        let _ = p.dealloc(slot);
                    }
                }
            }
            1 => {
                let _ = p.reclaim();
            }
            2 | 3 => {
                if let Ok(d) = c.recv() {
                    assert!(d.slot < G.pool_slots && d.offset + d.len <= G.slot_size);
                    assert!(c.owns(d.slot));
                    let mut b = [0u8; 3];
                    let _ = c.slot(d.slot).and_then(|x| x.read(0, &mut b));
                    let _ = c.release(d);
                    received += 1;
                }
            }
            4 => {
                let mut out = [Descriptor::default(); 4];
                if let Ok(n) = c.recv_batch(&mut out) {
                    for d in &out[..n] {
                        assert!(d.slot < G.pool_slots && c.owns(d.slot));
                        let _ = c.release(*d);
                    }
                }
            }
            _ => {
                let _ = c.prepare_to_sleep();
                c.awake();
                let _ = p.prepare_to_sleep();
            }
        }
    }
    assert!(received > 0, "no descriptor got through at all");
}

// ---- lined ring: one line word per 64-byte line of 7 `u64` items

use crate::lined::LinedMem;

#[test]
fn lined_layout_is_one_line_per_seven_items() {
    assert_eq!(core::mem::size_of::<crate::lined::Line>(), 64);
    assert_eq!(core::mem::align_of::<crate::lined::Line>(), 64);
    let mut mem = LinedMem::<3>::new();
    let (p, c) = mem.split();
    assert_eq!((p.capacity(), c.capacity()), (21, 21));
}

/// Single pushes and pops, chunks and slices of every length through a 14-item ring, across
/// line and lap boundaries from every start slot, starting at 0 and just below `u32::MAX`.
#[test]
fn lined_wraps_across_lines_and_laps() {
    for start in [0, u32::MAX - 20] {
        let mut mem = LinedMem::<2>::new();
        let (mut p, mut c) = mem.split_at(start);
        let mut next = 0u64;
        let mut expect = 0u64;
        for round in 0..60u64 {
            let k = (round % 15) as u32;
            match round % 3 {
                0 => {
                    let free = 14 - (next - expect) as u32;
                    for _ in 0..k.min(free) {
                        p.push(next).unwrap();
                        next += 1;
                    }
                    if k > free {
                        assert_eq!(p.push(next), Err(Error::Full));
                    }
                }
                1 => {
                    if let Ok(ch) = p.write_chunk(k.max(1)) {
                        let n = ch.fill_from_iter(next..);
                        next += n as u64;
                    }
                }
                _ => {
                    let items: Vec<u64> = (next..next + u64::from(k)).collect();
                    next += p.push_slice(&items).unwrap() as u64;
                }
            }
            assert_eq!(p.free().unwrap(), 14 - (next - expect) as u32);
            assert_eq!(c.available().unwrap(), (next - expect) as u32);
            match round % 4 {
                0 | 1 => {
                    while let Ok(v) = c.pop() {
                        assert_eq!(v, expect);
                        expect += 1;
                    }
                    assert_eq!(c.pop(), Err(Error::Empty));
                }
                2 => {
                    if let Ok(ch) = c.read_chunk(5) {
                        let got: Vec<u64> = ch.iter().collect();
                        assert_eq!(got, (expect..expect + got.len() as u64).collect::<Vec<_>>());
                        assert_eq!(ch.get(0), Ok(expect));
                        assert_eq!(ch.get(ch.len()), Err(Error::OutOfRange));
                        ch.commit_all();
                        expect += got.len() as u64;
                    }
                }
                _ => {
                    let mut out = [0u64; 9];
                    let n = c.pop_slice(&mut out).unwrap();
                    assert_eq!(
                        &out[..n],
                        &(expect..expect + n as u64).collect::<Vec<_>>()[..]
                    );
                    expect += n as u64;
                }
            }
        }
        assert!(next > 300, "the test moved {next} items");
    }
}

/// The uncommitted rest of a chunk is never announced: single pops stop at the commit.
#[test]
fn lined_partial_commit_is_not_announced() {
    let mut mem = LinedMem::<2>::new();
    let (mut p, mut c) = mem.split();
    p.push(100).unwrap();
    assert_eq!(c.pop(), Ok(100));
    let mut ch = p.write_chunk(10).unwrap();
    for i in 0..10 {
        ch.set(i, i as u64).unwrap();
    }
    assert_eq!(ch.set(10, 0), Err(Error::OutOfRange));
    ch.commit(7); // positions 1..8: the rest of line 0 and slot 0 of line 1
    // Line words: line 0 announces up to 7, line 1 up to 8 (not 11).
    assert_eq!(mem_word(&c, 0), 7);
    assert_eq!(mem_word(&c, 1), 8);
    for i in 0..7 {
        assert_eq!(c.pop(), Ok(i));
    }
    assert_eq!(c.pop(), Err(Error::Empty));
    assert_eq!(c.available(), Ok(0));
    // The written but uncommitted entries are overwritten by the next chunk.
    assert_eq!(p.write_chunk(3).unwrap().fill_from_iter(50..), 3);
    assert_eq!(
        [c.pop(), c.pop(), c.pop(), c.pop()],
        [Ok(50), Ok(51), Ok(52), Err(Error::Empty)]
    );
}

/// Line word `line` of the ring `c` reads from.
fn mem_word(c: &crate::lined::LinedConsumer<'_>, line: usize) -> u32 {
    c.lines[line].word.load(Ordering::Relaxed)
}

/// The consumer takes an announced entry before the producer's `tail` store lands, and treats
/// the lagging `tail` as "nothing more", not as a corrupt peer.
#[test]
fn lined_pop_runs_ahead_of_tail() {
    let mut mem = LinedMem::<2>::new();
    let (mut p, mut c) = mem.split();
    let tail = &c.prod.tail;
    p.push(1).unwrap();
    p.push(2).unwrap();
    tail.store(0, Ordering::Relaxed); // the `tail` store "has not landed"
    assert_eq!(c.pop(), Ok(1));
    assert_eq!(c.available(), Ok(1)); // entry 2 is known from the line word
    assert_eq!(c.pop(), Ok(2));
    assert_eq!(c.available(), Ok(0));
    assert_eq!(c.pop(), Err(Error::Empty));
    assert_eq!(c.prepare_to_sleep(), Ok(true));
    c.awake();
    tail.store(2, Ordering::Relaxed);
    assert_eq!(c.available(), Ok(0));
    // A `tail` more than `capacity` away either way is corrupt.
    tail.store(2 + 15, Ordering::Relaxed);
    assert_eq!(c.available(), Err(Error::PeerCorrupt));
    tail.store(2u32.wrapping_sub(15), Ordering::Relaxed);
    assert_eq!(c.available(), Err(Error::PeerCorrupt));
}

/// The sleep check sees an entry announced in a line word even when `tail` lags, and one
/// published through `tail` alone; the producer notifies once per sleep.
#[test]
fn lined_sleep_check_and_notify() {
    let mut mem = LinedMem::<2>::new();
    let (p, mut c) = mem.split();
    let tail = &c.prod.tail;
    let mut p = p.with_notify(Count(0));
    assert_eq!(c.prepare_to_sleep(), Ok(true));
    p.push(1).unwrap();
    p.push(2).unwrap();
    assert_eq!(p.notifier().0, 1);
    tail.store(0, Ordering::Relaxed);
    assert_eq!(c.prepare_to_sleep(), Ok(false)); // the line word announces entry 0
    assert_eq!(
        (c.pop(), c.pop(), c.pop()),
        (Ok(1), Ok(2), Err(Error::Empty))
    );
    assert_eq!(c.prepare_to_sleep(), Ok(true));
    p.push(3).unwrap();
    assert_eq!(p.notifier().0, 2);
    assert_eq!(c.pop(), Ok(3));
}

/// Hostile line words and `tail`: every value gives "empty", a validated error or an entry
/// from the consumer's current line; never a panic or an entry outside the line.
#[test]
fn lined_hostile_words() {
    let mut mem = LinedMem::<2>::new();
    let (mut p, mut c) = mem.split();
    let (w0, w1, tail) = (&c.lines[0].word, &c.lines[1].word, &c.prod.tail);
    p.push(7).unwrap();
    assert_eq!(c.pop(), Ok(7)); // the consumer is at position 1, slot 1 of line 0
    // Words that do not announce position 1: 1 (nothing past it), 0, 8 (past the line's end),
    // the previous lap, far values.
    for w in [1, 0, 8, 9, u32::MAX, 1u32.wrapping_sub(14), 1 << 31] {
        w0.store(w, Ordering::Relaxed);
        assert_eq!(c.pop(), Err(Error::Empty), "word {w}");
    }
    // A word announcing up to the line's end: the consumer takes slots 1..7 (garbage the peer
    // chose, here zeros) and no more, then asks line 1.
    w0.store(7, Ordering::Relaxed);
    for _ in 1..7 {
        assert_eq!(c.pop(), Ok(0));
    }
    w1.store(7, Ordering::Relaxed);
    assert_eq!(c.pop(), Err(Error::Empty));
    // The honest producer now finds the consumer's `head` ahead of its `tail`: corrupt.
    assert_eq!(p.push(1), Ok(()));
    assert_eq!(p.free(), Err(Error::PeerCorrupt));
    // Random words and `tail` values between operations: no panic, only the documented errors.
    let mut x = 0x2545_f491_4f6c_dd1du64;
    let mut rnd = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for _ in 0..2000 {
        let r = rnd();
        let v = (r >> 32) as u32;
        let v = if r & 8 == 0 { v % 32 } else { v };
        match r % 5 {
            0 => w0.store(v, Ordering::Relaxed),
            1 => w1.store(v, Ordering::Relaxed),
            2 => tail.store(v, Ordering::Relaxed),
            _ => {}
        }
        for op in 0..4 {
            let ok = match op {
                0 => matches!(c.pop(), Ok(_) | Err(Error::Empty | Error::PeerCorrupt)),
                1 => match c.read_chunk(9) {
                    Ok(ch) => {
                        let n = ch.iter().count();
                        ch.commit_all();
                        n <= 9
                    }
                    Err(e) => matches!(e, Error::Empty | Error::PeerCorrupt),
                },
                2 => matches!(c.prepare_to_sleep(), Ok(_) | Err(Error::PeerCorrupt)),
                _ => matches!(c.available(), Ok(0..=14) | Err(Error::PeerCorrupt)),
            };
            assert!(ok);
        }
    }
}

/// A full ring whose consumer is mid-line: the line holds the end of one lap and the start of
/// the next, whose word replaced the announcement of the older entries; `pop` then asks `tail`.
#[test]
fn lined_line_holding_two_laps() {
    let mut mem = LinedMem::<2>::new();
    let (mut p, mut c) = mem.split();
    assert_eq!(p.push_slice(&[0, 1, 2]), Ok(3));
    let ch = c.read_chunk(3).unwrap();
    ch.commit_all(); // consumer at position 3, slot 3 of line 0; never read the line word
    let items: Vec<u64> = (3..17).collect();
    assert_eq!(p.push_slice(&items), Ok(14)); // positions 3..17: line 0 gets 14..17 too
    assert_eq!(mem_word(&c, 0), 17);
    for v in 3..17 {
        assert_eq!(c.pop(), Ok(v));
    }
    assert_eq!(c.pop(), Err(Error::Empty));
    assert_eq!(p.free(), Ok(14));
}

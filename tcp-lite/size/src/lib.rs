//! The trivial device both echo servers use: a frame register and a clock register at fixed
//! addresses, standing in for the Ethernet MAC a real firmware drives.
#![no_std]

use core::ptr::{read_volatile, write_volatile};

const RX_LEN: usize = 0x4000_0000;
const RX_DATA: usize = 0x4000_0800;
const TX_LEN: usize = 0x4000_1000;
const TX_DATA: usize = 0x4000_1800;
const CLOCK_MS: usize = 0x4000_2000;

/// Milliseconds from the device clock.
pub fn now_ms() -> u64 {
    // SAFETY: a fixed device register address; reading it has no side effect in Rust's model.
    u64::from(unsafe { read_volatile(CLOCK_MS as *const u32) })
}

/// Copies a received frame into `buf`; returns its length (0: none).
pub fn rx(buf: &mut [u8]) -> usize {
    // SAFETY: fixed device register and buffer addresses of the stand-in MAC.
    let n = unsafe { read_volatile(RX_LEN as *const u32) } as usize;
    let n = n.min(buf.len());
    for (i, b) in buf[..n].iter_mut().enumerate() {
        // SAFETY: as above; `i` < 1536 stays inside the device's receive window.
        *b = unsafe { read_volatile((RX_DATA + i) as *const u8) };
    }
    n
}

/// Hands a frame to the device.
pub fn tx(frame: &[u8]) {
    for (i, &b) in frame.iter().enumerate() {
        // SAFETY: fixed device buffer addresses of the stand-in MAC.
        unsafe { write_volatile((TX_DATA + i) as *mut u8, b) };
    }
    // SAFETY: as above.
    unsafe { write_volatile(TX_LEN as *mut u32, frame.len() as u32) };
}

/// Halts on panic (panic = "abort" in the profile).
#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    loop {}
}

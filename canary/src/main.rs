//! A `#![no_std]` `#![no_main]` program that links every library crate of the
//! family, as a host OS or firmware would. It is built, never run.
#![no_std]
#![no_main]

use bulk_queue as _;
use hwdemux as _;
use ixgbe_nostd as _;
use netwire as _;
use nic_traits as _;
use swdemux as _;
use tcp_lite as _;

/// Entry point for the linker; the canary is never executed.
#[unsafe(no_mangle)]
pub extern "C" fn _start() -> ! {
    #[allow(clippy::empty_loop)]
    loop {}
}

#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    #[allow(clippy::empty_loop)]
    loop {}
}

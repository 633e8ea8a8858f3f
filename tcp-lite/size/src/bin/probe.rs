//! Not a program to run: its symbols' sizes are the per-connection RAM of each stack on this
//! target (`llvm-nm -S`), read by measure.sh.
#![no_std]
#![no_main]

use core::mem::size_of;
use tcp_lite_size as _;

/// A `TcpSocket` of tcp-lite: the TCB plus its two ring descriptors, without buffer storage.
#[unsafe(no_mangle)]
#[used]
pub static TCPLITE_SOCKET: [u8; size_of::<tcp_lite::TcpSocket<'static>>()] =
    [0; size_of::<tcp_lite::TcpSocket<'static>>()];

/// A smoltcp 0.14 `tcp::Socket`, likewise without buffer storage.
#[unsafe(no_mangle)]
#[used]
pub static SMOLTCP_SOCKET: [u8; size_of::<smoltcp::socket::tcp::Socket<'static>>()] =
    [0; size_of::<smoltcp::socket::tcp::Socket<'static>>()];

/// A smoltcp 0.13 `tcp::Socket`, likewise without buffer storage.
#[unsafe(no_mangle)]
#[used]
pub static SMOLTCP013_SOCKET: [u8; size_of::<smoltcp013::socket::tcp::Socket<'static>>()] =
    [0; size_of::<smoltcp013::socket::tcp::Socket<'static>>()];

#[unsafe(no_mangle)]
pub extern "C" fn _start() -> ! {
    loop {}
}

//! IPv4 + TCP + ARP (+ ICMP echo) echo server on port 7 with smoltcp 0.14, doing the same job as
//! tcplite_echo.
#![no_std]
#![no_main]

use smoltcp as stack;

include!("../smoltcp_echo_body.rs");

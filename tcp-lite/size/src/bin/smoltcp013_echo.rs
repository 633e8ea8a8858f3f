//! IPv4 + TCP + ARP (+ ICMP echo) echo server on port 7 with smoltcp 0.13, doing the same job
//! as tcplite_echo: the same program as smoltcp_echo (smoltcp 0.14).
#![no_std]
#![no_main]

use smoltcp013 as stack;

include!("../smoltcp_echo_body.rs");

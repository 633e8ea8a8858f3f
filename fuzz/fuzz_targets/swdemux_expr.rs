//! Arbitrary text into the expression compiler and the `tcpdump -ddd` /
//! `-dd` program loader: an error or a program, never a panic. A compiled
//! expression always passes the verifier, and runs like the reference
//! interpreter on a few frames; a loaded program is accepted by the
//! verifier exactly when the reference verifier accepts it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nic_family_fuzz::bpf_ref;
use swdemux::{PCAP_ACCEPT, Program, VerifiedProgram, compile_expr};

const N: usize = 512;

/// Frames the compiled programs run on: TCP/IPv4, UDP/IPv6, tagged TCP,
/// ARP, and short ones.
fn frames() -> Vec<Vec<u8>> {
    let mut tcp4 = vec![0u8; 64];
    tcp4[12..14].copy_from_slice(&[0x08, 0x00]);
    tcp4[14] = 0x45;
    tcp4[23] = 6;
    tcp4[26..30].copy_from_slice(&[10, 0, 0, 1]);
    tcp4[30..34].copy_from_slice(&[10, 0, 0, 2]);
    tcp4[34..36].copy_from_slice(&1234u16.to_be_bytes());
    tcp4[36..38].copy_from_slice(&80u16.to_be_bytes());
    let mut udp6 = vec![0u8; 70];
    udp6[12..14].copy_from_slice(&[0x86, 0xdd]);
    udp6[14] = 0x60;
    udp6[20] = 17;
    udp6[54..56].copy_from_slice(&53u16.to_be_bytes());
    udp6[56..58].copy_from_slice(&53u16.to_be_bytes());
    let mut vlan = vec![0u8; 68];
    vlan[12..14].copy_from_slice(&[0x81, 0x00]);
    vlan[16..18].copy_from_slice(&[0x08, 0x00]);
    vlan[18] = 0x45;
    vlan[27] = 6;
    vlan[40..42].copy_from_slice(&80u16.to_be_bytes());
    let mut arp = vec![0u8; 42];
    arp[12..14].copy_from_slice(&[0x08, 0x06]);
    let short = tcp4[..30].to_vec();
    vec![tcp4, udp6, vlan, arp, short, Vec::new()]
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let frames = frames();

    if let Ok(p) = compile_expr::<N>(&text, PCAP_ACCEPT) {
        let insns = p.insns();
        let v = VerifiedProgram::<N>::new(insns)
            .unwrap_or_else(|e| panic!("compiled {text:?} fails verification: {e:?}"));
        assert_eq!(bpf_ref::verify(insns, N), Ok(()));
        for f in &frames {
            let (want, _) = bpf_ref::run(insns, f, f.len() as u32);
            assert_eq!(v.run(f), want, "{text:?} on {f:02x?}");
            assert!(want == 0 || want == PCAP_ACCEPT);
        }
    }

    if let Ok(p) = Program::<N>::parse(&text) {
        let insns = p.insns();
        let got = VerifiedProgram::<N>::new(insns);
        let want = bpf_ref::verify(insns, N);
        assert_eq!(
            got.is_ok(),
            want.is_ok(),
            "{got:?} vs {want:?} for {insns:?}"
        );
        if let Ok(v) = got {
            for f in &frames {
                assert_eq!(v.run(f), bpf_ref::run(insns, f, f.len() as u32).0);
            }
        }
    }
});

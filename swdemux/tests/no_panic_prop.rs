//! No input makes the text loader, the expression compiler or the
//! demultiplexer panic.

use proptest::prelude::*;
use swdemux::{Demux, Program, VerifiedProgram, compile_expr};

const WORDS: &[&str] = &[
    "ip",
    "ip6",
    "arp",
    "rarp",
    "vlan",
    "tcp",
    "udp",
    "sctp",
    "icmp",
    "host",
    "net",
    "port",
    "portrange",
    "src",
    "dst",
    "and",
    "or",
    "not",
    "&&",
    "||",
    "!",
    "(",
    ")",
    "10.0.0.1",
    "10.0.0.0/8",
    "::1",
    "fe80::/10",
    "80",
    "1-1024",
    "65536",
    "x",
    "-",
    "/",
    "1.2.3.4/33",
    "",
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(5000))]

    #[test]
    fn expressions_compile_or_fail_cleanly(words in proptest::collection::vec(proptest::sample::select(WORDS), 0..12)) {
        let expr = words.join(" ");
        match compile_expr::<1024>(&expr, 1) {
            Ok(p) => {
                let v = VerifiedProgram::<1024>::new(p.insns());
                prop_assert!(v.is_ok(), "{expr}: compiled code fails verification: {v:?}");
                let v = v.unwrap();
                let _ = v.run(&[0u8; 80]);
            }
            Err(swdemux::Error::Expression { offset, .. }) => prop_assert!(offset <= expr.len()),
            Err(swdemux::Error::ProgramLength { .. }) => {}
            Err(e) => prop_assert!(false, "{expr}: unexpected {e:?}"),
        }
    }

    #[test]
    fn arbitrary_text_never_panics(s in "\\PC{0,60}", t in "[0-9x, {}\n-]{0,60}") {
        let _ = Program::<16>::parse(&s);
        let _ = Program::<16>::parse(&t);
        let _ = compile_expr::<64>(&s, 1);
    }

    #[test]
    fn classify_never_panics(frame in proptest::collection::vec(any::<u8>(), 0..80), now in any::<u64>()) {
        let mut d = Demux::<4, 4, 1, 64, 2>::new(u64::MAX);
        d.table_mut().add_rule(0, nic_traits::FlowRule::TcpSyn, 1).unwrap();
        let p = compile_expr::<64>("udp or arp", 1).unwrap();
        d.table_mut().add_program(1, p.insns(), 2).unwrap();
        let _ = d.classify(&frame, now);
        let _ = d.classify(&frame, now.wrapping_add(1));
        d.expire(now, |_| {});
    }
}

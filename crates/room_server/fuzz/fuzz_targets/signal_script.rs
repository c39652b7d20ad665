//! `cargo fuzz run signal_script` (from crates/room_server): signalling frames and datagrams
//! from two participants into the server core.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    room_server::fuzzing::signal_script(data);
});

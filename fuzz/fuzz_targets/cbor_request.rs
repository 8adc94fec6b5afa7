//! Arbitrary bytes as the CBOR body of a Kinesis operation (the Java SDKs' default form):
//! CBOR → document conversion, model validation and the typed conversion must never panic, and
//! whatever validation accepts must convert.
#![no_main]

mod requests;

use freshet_edge::Format;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| requests::check(Format::Cbor, data));

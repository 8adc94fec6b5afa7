//! Arbitrary bytes as the JSON body of a Kinesis operation: decoding, model validation and the
//! typed conversion must never panic, and whatever validation accepts must convert.
#![no_main]

mod requests;

use freshet_edge::Format;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| requests::check(Format::Json, data));

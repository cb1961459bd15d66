//! `typed`: a component with one export per WIT type kind (each echoes its argument), and a
//! few that do something a policy governs (read a file, compute, allocate, print). The host
//! tests call them through `cordon call`, `cordon tools` and `cordon mcp`.

wit_bindgen::generate!({ path: "wit", world: "typed" });

use exports::cordon::typed::kinds::{self, Color, Perms, Point, Shape};

struct Typed;

struct Counter(u32);

impl kinds::GuestCounter for Counter {
    fn new(start: u32) -> Self {
        Counter(start)
    }
    fn get(&self) -> u32 {
        self.0
    }
}

impl kinds::Guest for Typed {
    type Counter = Counter;
    fn echo_bool(v: bool) -> bool {
        v
    }
    fn echo_s8(v: i8) -> i8 {
        v
    }
    fn echo_u8(v: u8) -> u8 {
        v
    }
    fn echo_s16(v: i16) -> i16 {
        v
    }
    fn echo_u16(v: u16) -> u16 {
        v
    }
    fn echo_s32(v: i32) -> i32 {
        v
    }
    fn echo_u32(v: u32) -> u32 {
        v
    }
    fn echo_s64(v: i64) -> i64 {
        v
    }
    fn echo_u64(v: u64) -> u64 {
        v
    }
    fn echo_f32(v: f32) -> f32 {
        v
    }
    fn echo_f64(v: f64) -> f64 {
        v
    }
    fn echo_char(v: char) -> char {
        v
    }
    fn echo_string(v: String) -> String {
        v
    }
    fn echo_list(v: Vec<u32>) -> Vec<u32> {
        v
    }
    fn echo_bytes(v: Vec<u8>) -> Vec<u8> {
        v
    }
    fn echo_record(v: Point) -> Point {
        v
    }
    fn echo_tuple(v: (String, u8, bool)) -> (String, u8, bool) {
        v
    }
    fn echo_variant(v: Shape) -> Shape {
        v
    }
    fn echo_enum(v: Color) -> Color {
        v
    }
    fn echo_flags(v: Perms) -> Perms {
        v
    }
    fn echo_option(v: Option<String>) -> Option<String> {
        v
    }
    fn echo_nested_option(v: Option<Option<u8>>) -> Option<Option<u8>> {
        v
    }
    fn echo_results(v: Vec<Result<u8, String>>) -> Vec<Result<u8, String>> {
        v
    }
    fn echo_unit_result(v: Result<(), ()>) -> Result<(), ()> {
        v
    }
    fn echo_deep(v: Vec<Vec<Option<Point>>>) -> Vec<Vec<Option<Point>>> {
        v
    }
    fn make_counter(start: u32) -> kinds::Counter {
        kinds::Counter::new(Counter(start))
    }
}

impl Guest for Typed {
    fn add(a: i32, b: i32) -> i32 {
        a.wrapping_add(b)
    }
    fn greet(name: String, times: u8, tags: Vec<String>) -> String {
        let mut s = vec![format!("hello {name}"); times as usize].join(", ");
        for t in tags {
            s.push_str(&format!(" #{t}"));
        }
        s
    }
    fn read_file(path: String) -> Result<String, String> {
        std::fs::read_to_string(&path).map_err(|e| format!("{path}: {e}"))
    }
    fn fail(code: u32) -> Result<u32, Failure> {
        Err(Failure { code, message: format!("failed with {code}") })
    }
    fn nothing() {}
    fn spin() -> u64 {
        let mut x: u64 = 1;
        loop {
            x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
        }
    }
    fn alloc(bytes: u64) -> u64 {
        let mut v: Vec<u8> = Vec::new();
        match v.try_reserve_exact(bytes as usize) {
            Ok(()) => {
                v.resize(bytes as usize, 1);
                std::hint::black_box(&v);
                v.len() as u64
            }
            Err(_) => 0,
        }
    }
    fn shout(bytes: u64) -> u64 {
        use std::io::Write as _;
        let chunk = [b'x'; 4096];
        let mut left = bytes;
        let mut out = std::io::stdout().lock();
        while left > 0 {
            let n = left.min(chunk.len() as u64) as usize;
            if out.write_all(&chunk[..n]).is_err() {
                break;
            }
            left -= n as u64;
        }
        let _ = out.flush();
        bytes
    }
    fn zeros(n: u32) -> Vec<u8> {
        vec![0; n as usize]
    }
}

export!(Typed);

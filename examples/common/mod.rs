//! Helpers shared by the benchmark examples (native and wasm32 in headless Chromium):
//! `mod common;` in each. Not every example uses every helper.
#![allow(dead_code)]

/// Prints a line: stdout natively, the console (the test runner's output) in wasm.
pub fn say(s: &str) {
    #[cfg(target_arch = "wasm32")]
    wasm_bindgen_test::console_log!("{}", s);
    #[cfg(not(target_arch = "wasm32"))]
    println!("{s}");
}

/// Milliseconds since an arbitrary origin: `performance.now()` in a page or a worker.
#[cfg(target_arch = "wasm32")]
pub fn now_ms() -> f64 {
    use wasm_bindgen::JsCast;
    let Ok(perf) = js_sys::Reflect::get(&js_sys::global(), &"performance".into()) else {
        return js_sys::Date::now();
    };
    let Ok(now) = js_sys::Reflect::get(&perf, &"now".into()) else {
        return js_sys::Date::now();
    };
    now.unchecked_into::<js_sys::Function>()
        .call0(&perf)
        .ok()
        .and_then(|v| v.as_f64())
        .unwrap_or_else(js_sys::Date::now)
}

/// Milliseconds since the first call.
#[cfg(not(target_arch = "wasm32"))]
pub fn now_ms() -> f64 {
    use std::sync::OnceLock;
    use std::time::Instant;
    static START: OnceLock<Instant> = OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_secs_f64() * 1e3
}

/// Median of `runs` timed calls after one warm-up call.
pub fn median_ms(runs: usize, mut f: impl FnMut()) -> f64 {
    f();
    let mut v: Vec<f64> = (0..runs)
        .map(|_| {
            let t = now_ms();
            f();
            now_ms() - t
        })
        .collect();
    median(&mut v)
}

/// Median (upper middle for an even count) of a non-empty slice.
pub fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// The `p` quantile (0..=1, nearest rank) of a non-empty slice.
pub fn pct(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

/// Quantizations from `BENCH_QUANTS` (compile time, comma-separated), else `default`.
pub fn quants(default: &str) -> Vec<clipsearch::Quantization> {
    option_env!("BENCH_QUANTS")
        .unwrap_or(default)
        .split(',')
        .filter_map(|q| clipsearch::Quantization::parse(q.trim()).ok())
        .collect()
}

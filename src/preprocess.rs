//! Image preprocessing: encoded bytes (or decoded RGBA pixels) to the CLIP vision tower's input,
//! exactly as Hugging Face does it.
//!
//! ## Reference
//! `transformers` 5.23: `image_utils.load_image` (EXIF orientation applied with
//! `PIL.ImageOps.exif_transpose`, then `Image.convert("RGB")`) followed by `CLIPImageProcessor`.
//! With torchvision installed (the usual case), `CLIPImageProcessor` and `AutoImageProcessor` give
//! the **torchvision backend** (`models/clip/image_processing_clip.py`,
//! `image_processing_backends.py::TorchvisionBackend`); `CLIPImageProcessorPil` is the PIL backend.
//! Both are implemented here ([`Backend`]); the default is torchvision. They differ only in the
//! fixed-point precision of the bicubic weights (torch: int16 weights, precision chosen per pass;
//! Pillow: 22 fractional bits), which moves a few pixels by one 8-bit level, and in the last bit of
//! the rescale/normalise arithmetic.
//!
//! ## Steps
//! 1. Decode (JPEG, PNG incl. palette, grayscale, 16-bit and alpha, WebP, GIF first frame, BMP)
//!    with the `image` crate, refusing images whose header declares more than
//!    [`PreprocessConfig::max_side`] pixels per side **before** any pixel buffer is allocated.
//! 2. Apply the EXIF orientation (all 8 values).
//! 3. Convert to 8-bit RGB as Pillow's `convert("RGB")` does: **alpha is dropped, not composited**
//!    (that is what `load_image` does), gray is replicated, 16-bit samples keep their high byte.
//! 4. Resize so the shortest edge is `size.shortest_edge` (the long edge is
//!    `int(shortest * long / short)`, as `get_resize_output_image_size`), with the antialiased
//!    separable bicubic convolution of Pillow / torch (`a = -0.5`, support scaled by the
//!    downscale factor, horizontal pass then vertical pass, 8-bit rounding between passes).
//! 5. Center crop (`top = (h - crop) / 2` rounded down; zero padding if the image is smaller).
//! 6. Rescale by `rescale_factor` and normalise with `image_mean` / `image_std`, CHW `f32`.
//!
//! ## Known differences
//! - JPEG: Pillow decodes with libjpeg-turbo, the `image` crate with zune-jpeg; their chroma
//!   upsampling differs by a level or two on some pixels (measured in `tests/preprocess.rs`).
//! - Lossy WebP: Pillow uses libwebp, the `image` crate `image-webp`; same order of difference.
//! - Transparent palette entries (GIF, or PNG `tRNS`): Pillow keeps the palette colour behind
//!   the transparent index, the `image` crate gives black. Opaque palettes match exactly.
//! - [`Backend::Pil`] only: Pillow 13 runs the vertical pass first for some size pairs (the rule
//!   is not reproduced here), which moves part of the pixels by a few levels. The default
//!   torchvision backend is bit-exact on every lossless fixture.
//! - ICC profiles are ignored on both sides.
//!
//! # Example
//! ```
//! use clipsearch::preprocess::{preprocess_rgba, PreprocessConfig};
//! let cfg = PreprocessConfig::clip_default();
//! let rgba = vec![128u8; 300 * 200 * 4];
//! let pixels = preprocess_rgba(300, 200, &rgba, &cfg).unwrap();
//! assert_eq!(pixels.len(), 3 * 224 * 224);
//! ```
use std::io::Cursor;

use image::{DynamicImage, ImageDecoder, ImageError, ImageFormat, ImageReader, Limits};
use serde_json::Value;

use crate::{Error, Result};

/// OpenAI CLIP's per-channel mean (`OPENAI_CLIP_MEAN` in transformers).
pub const OPENAI_CLIP_MEAN: [f32; 3] = [0.48145466, 0.4578275, 0.40821073];
/// OpenAI CLIP's per-channel standard deviation (`OPENAI_CLIP_STD` in transformers).
#[allow(clippy::excessive_precision)] // transformers' literal, rounded to f32 like torch does
pub const OPENAI_CLIP_STD: [f32; 3] = [0.26862954, 0.26130258, 0.27577711];
/// Default limit on either side of a decoded image, in pixels.
pub const DEFAULT_MAX_SIDE: u32 = 16384;
/// Default limit on the bytes the decoder may allocate (1 GiB).
pub const DEFAULT_MAX_ALLOC: u64 = 1 << 30;

/// Which Hugging Face image processor to reproduce bit for bit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Backend {
    /// `CLIPImageProcessor` / `AutoImageProcessor` when torchvision is installed (the default):
    /// `torchvision.transforms.v2.functional.resize(antialias=True)` on uint8, i.e. torch's
    /// `_upsample_bicubic2d_aa` with int16 fixed-point weights.
    #[default]
    Torchvision,
    /// `CLIPImageProcessorPil`: `PIL.Image.resize` (Pillow `Resample.c`, 22-bit fixed point).
    Pil,
}

/// The resampling filter (`resample` in `preprocessor_config.json`, PIL's numbering).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resample {
    /// `2`: antialiased bilinear (triangle filter).
    Bilinear,
    /// `3`: antialiased bicubic, `a = -0.5` (CLIP's choice).
    Bicubic,
}

/// The resize target (`size` in `preprocessor_config.json`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Size {
    /// Scale so the shorter side has this length, keeping the aspect ratio (CLIP).
    ShortestEdge(u32),
    /// Resize to exactly this height and width.
    Exact {
        /// Output height.
        height: u32,
        /// Output width.
        width: u32,
    },
}

/// Parameters of `preprocessor_config.json`.
#[derive(Debug, Clone, PartialEq)]
pub struct PreprocessConfig {
    /// Side of the square crop, i.e. the vision tower's `image_size` (224 for ViT-B/32).
    pub crop_size: u32,
    /// Whether to resize (`do_resize`).
    pub do_resize: bool,
    /// Resize target (`size`).
    pub size: Size,
    /// Resampling filter (`resample`).
    pub resample: Resample,
    /// Whether to center crop to `crop_size` (`do_center_crop`).
    pub do_center_crop: bool,
    /// Whether to multiply by `rescale_factor` (`do_rescale`).
    pub do_rescale: bool,
    /// Usually `1/255` (`rescale_factor`).
    pub rescale_factor: f64,
    /// Whether to normalise with mean/std (`do_normalize`).
    pub do_normalize: bool,
    /// Per-channel mean (`image_mean`).
    pub image_mean: [f32; 3],
    /// Per-channel standard deviation (`image_std`).
    pub image_std: [f32; 3],
    /// `do_convert_rgb`. Recorded for completeness: after `load_image` the image is already RGB,
    /// so this has no effect on the result.
    pub do_convert_rgb: bool,
    /// Which Hugging Face backend to reproduce.
    pub backend: Backend,
    /// Images with a side longer than this are refused with [`Error::ImageTooLarge`].
    pub max_side: u32,
}

impl PreprocessConfig {
    /// OpenAI CLIP's preprocessing (ViT-B/32, B/16, L/14 at 224 px): shortest edge 224, bicubic,
    /// center crop 224, rescale 1/255, normalise with [`OPENAI_CLIP_MEAN`] / [`OPENAI_CLIP_STD`].
    pub fn clip_default() -> Self {
        Self {
            crop_size: 224,
            do_resize: true,
            size: Size::ShortestEdge(224),
            resample: Resample::Bicubic,
            do_center_crop: true,
            do_rescale: true,
            rescale_factor: 1.0 / 255.0,
            do_normalize: true,
            image_mean: OPENAI_CLIP_MEAN,
            image_std: OPENAI_CLIP_STD,
            do_convert_rgb: true,
            backend: Backend::Torchvision,
            max_side: DEFAULT_MAX_SIDE,
        }
    }

    /// Reads a Hugging Face `preprocessor_config.json`. Absent keys take `CLIPImageProcessor`'s
    /// defaults ([`clip_default`](Self::clip_default)).
    ///
    /// Accepts `size` as `{"shortest_edge": n}`, `{"height": h, "width": w}` or a legacy int
    /// (shortest edge), `crop_size` as an int or `{"height": n, "width": n}`.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] if the bytes are not a JSON object, a value has the wrong type,
    /// `resample` is not 2 (bilinear) or 3 (bicubic), the crop is not square, a size is 0, a
    /// std is 0, or mean/std do not have 3 values.
    ///
    /// # Example
    /// ```
    /// use clipsearch::preprocess::PreprocessConfig;
    /// let cfg = PreprocessConfig::from_json(br#"{"size": 224, "crop_size": 224}"#).unwrap();
    /// assert_eq!(cfg, PreprocessConfig::clip_default());
    /// ```
    pub fn from_json(bytes: &[u8]) -> Result<Self> {
        let v: Value = serde_json::from_slice(bytes).map_err(|e| {
            Error::InvalidConfig(format!("preprocessor_config.json is not valid JSON: {e}"))
        })?;
        let obj = v.as_object().ok_or_else(|| {
            Error::InvalidConfig("preprocessor_config.json is not a JSON object".into())
        })?;
        let mut cfg = Self::clip_default();
        let bad = |k: &str, what: &str| {
            Error::InvalidConfig(format!("preprocessor_config.json: `{k}` must be {what}"))
        };
        let get_bool = |k: &str, default: bool| -> Result<bool> {
            match obj.get(k) {
                None | Some(Value::Null) => Ok(default),
                Some(Value::Bool(b)) => Ok(*b),
                Some(_) => Err(bad(k, "true or false")),
            }
        };
        let positive = |k: &str, v: &Value| -> Result<u32> {
            v.as_u64()
                .filter(|n| *n > 0 && *n <= u64::from(u32::MAX))
                .map(|n| n as u32)
                .ok_or_else(|| bad(k, "a positive integer"))
        };
        let triple = |k: &str, default: [f32; 3]| -> Result<[f32; 3]> {
            match obj.get(k) {
                None | Some(Value::Null) => Ok(default),
                Some(Value::Number(n)) => {
                    let x = n.as_f64().ok_or_else(|| bad(k, "a number"))? as f32;
                    Ok([x; 3])
                }
                Some(Value::Array(a)) if a.len() == 3 => {
                    let mut out = [0f32; 3];
                    for (o, x) in out.iter_mut().zip(a) {
                        *o = x.as_f64().ok_or_else(|| bad(k, "3 numbers"))? as f32;
                    }
                    Ok(out)
                }
                Some(_) => Err(bad(k, "3 numbers (one per RGB channel)")),
            }
        };

        cfg.do_resize = get_bool("do_resize", cfg.do_resize)?;
        cfg.do_center_crop = get_bool("do_center_crop", cfg.do_center_crop)?;
        cfg.do_rescale = get_bool("do_rescale", cfg.do_rescale)?;
        cfg.do_normalize = get_bool("do_normalize", cfg.do_normalize)?;
        cfg.do_convert_rgb = get_bool("do_convert_rgb", cfg.do_convert_rgb)?;
        match obj.get("size") {
            None | Some(Value::Null) => {}
            Some(v @ Value::Number(_)) => cfg.size = Size::ShortestEdge(positive("size", v)?),
            Some(Value::Object(m)) => {
                if let Some(s) = m.get("shortest_edge") {
                    cfg.size = Size::ShortestEdge(positive("size.shortest_edge", s)?);
                } else if let (Some(h), Some(w)) = (m.get("height"), m.get("width")) {
                    cfg.size = Size::Exact {
                        height: positive("size.height", h)?,
                        width: positive("size.width", w)?,
                    };
                } else {
                    return Err(bad(
                        "size",
                        "{\"shortest_edge\": n} or {\"height\", \"width\"}",
                    ));
                }
            }
            Some(_) => return Err(bad("size", "an integer or an object")),
        }
        match obj.get("crop_size") {
            None | Some(Value::Null) => {}
            Some(v @ Value::Number(_)) => cfg.crop_size = positive("crop_size", v)?,
            Some(Value::Object(m)) => {
                let h = positive("crop_size.height", m.get("height").unwrap_or(&Value::Null))?;
                let w = positive("crop_size.width", m.get("width").unwrap_or(&Value::Null))?;
                if h != w {
                    return Err(Error::InvalidConfig(format!(
                        "crop_size {h}x{w} is not square: CLIP's vision tower takes square images"
                    )));
                }
                cfg.crop_size = h;
            }
            Some(_) => return Err(bad("crop_size", "an integer or {\"height\", \"width\"}")),
        }
        match obj.get("resample") {
            None | Some(Value::Null) => {}
            Some(v) => {
                cfg.resample = match v.as_u64() {
                    Some(2) => Resample::Bilinear,
                    Some(3) => Resample::Bicubic,
                    _ => {
                        return Err(Error::InvalidConfig(format!(
                            "resample {v} is not supported: use 3 (bicubic) or 2 (bilinear)"
                        )))
                    }
                }
            }
        }
        match obj.get("rescale_factor") {
            None | Some(Value::Null) => {}
            Some(v) => {
                cfg.rescale_factor = v
                    .as_f64()
                    .filter(|x| x.is_finite())
                    .ok_or_else(|| bad("rescale_factor", "a number"))?
            }
        }
        cfg.image_mean = triple("image_mean", cfg.image_mean)?;
        cfg.image_std = triple("image_std", cfg.image_std)?;
        if cfg.image_std.iter().any(|s| *s == 0.0 || !s.is_finite())
            || cfg.image_mean.iter().any(|m| !m.is_finite())
        {
            return Err(Error::InvalidConfig(
                "image_std must be finite and non-zero, image_mean finite".into(),
            ));
        }
        Ok(cfg)
    }
}

/// What the header of an encoded image declares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImageInfo {
    /// Detected container format.
    pub format: ImageFormat,
    /// Declared width in pixels (before EXIF rotation).
    pub width: u32,
    /// Declared height in pixels (before EXIF rotation).
    pub height: u32,
}

/// A decoded, upright, 8-bit RGB image (interleaved `RGBRGB...`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RgbImage {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// `width * height * 3` bytes.
    pub data: Vec<u8>,
}

fn format_of(bytes: &[u8]) -> Result<ImageFormat> {
    if bytes.is_empty() {
        return Err(Error::EmptyInput);
    }
    let supported = [
        ImageFormat::Jpeg,
        ImageFormat::Png,
        ImageFormat::WebP,
        ImageFormat::Gif,
        ImageFormat::Bmp,
    ];
    match image::guess_format(bytes) {
        Ok(f) if supported.contains(&f) => Ok(f),
        Ok(f) => Err(Error::NotAnImage(format!(
            "{f:?} images are not supported: use JPEG, PNG, WebP, GIF or BMP"
        ))),
        Err(_) => {
            let head = bytes.iter().find(|b| !b.is_ascii_whitespace());
            Err(Error::NotAnImage(if head == Some(&b'<') {
                "the bytes look like an HTML or XML document (an error page?), not an image".into()
            } else {
                "unrecognised format: expected JPEG, PNG, WebP, GIF or BMP".into()
            }))
        }
    }
}

/// Whether a JPEG has an end-of-image marker (`FF D9`) after the start of its last scan
/// (`FF DA`). Entropy-coded data never holds `FF D9` (a data `FF` is stuffed as `FF 00`).
pub(crate) fn jpeg_has_end(bytes: &[u8]) -> bool {
    let last_sos = bytes.windows(2).rposition(|w| w == [0xFF, 0xDA]);
    let last_eoi = bytes.windows(2).rposition(|w| w == [0xFF, 0xD9]);
    matches!((last_sos, last_eoi), (Some(s), Some(e)) if e > s)
}

fn decode_err(e: ImageError) -> Error {
    Error::ImageDecode(format!("{e}: the file is corrupt or truncated"))
}

/// Reads the format and declared dimensions from the header only (no pixel allocation).
///
/// Use it to refuse oversized images before handing them to any decoder (e.g. the browser's).
///
/// # Errors
/// [`Error::EmptyInput`] for zero bytes, [`Error::NotAnImage`] for bytes that are not a supported
/// image format, [`Error::ImageDecode`] for a corrupt header.
///
/// # Example
/// ```
/// use clipsearch::preprocess::probe;
/// assert!(matches!(probe(b""), Err(clipsearch::Error::EmptyInput)));
/// assert!(matches!(probe(b"<html></html>"), Err(clipsearch::Error::NotAnImage(_))));
/// ```
pub fn probe(bytes: &[u8]) -> Result<ImageInfo> {
    let format = format_of(bytes)?;
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    reader.no_limits();
    let (width, height) = reader.into_dimensions().map_err(decode_err)?;
    Ok(ImageInfo {
        format,
        width,
        height,
    })
}

fn check_side(width: u32, height: u32, max_side: u32) -> Result<()> {
    if width > max_side || height > max_side {
        return Err(Error::ImageTooLarge {
            width,
            height,
            limit: max_side,
        });
    }
    Ok(())
}

/// Decodes encoded image bytes to an upright 8-bit RGB image as `transformers.image_utils.
/// load_image` does (EXIF orientation applied, alpha dropped, gray replicated, 16-bit to the
/// high byte).
///
/// # Errors
/// [`Error::EmptyInput`], [`Error::NotAnImage`], [`Error::ImageTooLarge`] (checked from the header
/// before decoding), [`Error::ImageDecode`] for corrupt or truncated data.
pub fn decode_rgb(bytes: &[u8], max_side: u32) -> Result<RgbImage> {
    let info = probe(bytes)?;
    check_side(info.width, info.height, max_side)?;
    if info.format == ImageFormat::Jpeg && !jpeg_has_end(bytes) {
        // zune-jpeg fills a truncated scan with gray; Pillow refuses ("image file is truncated").
        return Err(Error::ImageDecode(
            "the JPEG is truncated (no end-of-image marker after its last scan)".into(),
        ));
    }
    let mut reader = ImageReader::with_format(Cursor::new(bytes), info.format);
    let mut limits = Limits::default();
    limits.max_image_width = Some(max_side);
    limits.max_image_height = Some(max_side);
    limits.max_alloc = Some(DEFAULT_MAX_ALLOC);
    reader.limits(limits);
    let too_large = |e: ImageError| match e {
        ImageError::Limits(_) => Error::ImageTooLarge {
            width: info.width,
            height: info.height,
            limit: max_side,
        },
        e => decode_err(e),
    };
    let mut decoder = reader.into_decoder().map_err(too_large)?;
    // A broken EXIF block is ignored, as Pillow does.
    let orientation = decoder
        .orientation()
        .unwrap_or(image::metadata::Orientation::NoTransforms);
    let mut img = DynamicImage::from_decoder(decoder).map_err(too_large)?;
    img.apply_orientation(orientation);
    Ok(to_rgb_like_pil(img))
}

/// Pillow's `convert("RGB")`: drop alpha, replicate gray, keep the high byte of 16-bit samples.
fn to_rgb_like_pil(img: DynamicImage) -> RgbImage {
    let (width, height) = (img.width(), img.height());
    let data = match img {
        DynamicImage::ImageRgb8(b) => b.into_raw(),
        DynamicImage::ImageRgba8(b) => b
            .into_raw()
            .chunks_exact(4)
            .flat_map(|p| [p[0], p[1], p[2]])
            .collect(),
        DynamicImage::ImageLuma8(b) => b.into_raw().into_iter().flat_map(|l| [l, l, l]).collect(),
        DynamicImage::ImageLumaA8(b) => b
            .into_raw()
            .chunks_exact(2)
            .flat_map(|p| [p[0], p[0], p[0]])
            .collect(),
        DynamicImage::ImageRgb16(b) => b.into_raw().into_iter().map(|v| (v >> 8) as u8).collect(),
        DynamicImage::ImageRgba16(b) => b
            .into_raw()
            .chunks_exact(4)
            .flat_map(|p| [(p[0] >> 8) as u8, (p[1] >> 8) as u8, (p[2] >> 8) as u8])
            .collect(),
        DynamicImage::ImageLuma16(b) => b
            .into_raw()
            .into_iter()
            .flat_map(|l| {
                let l = gray16_to_8(l);
                [l, l, l]
            })
            .collect(),
        DynamicImage::ImageLumaA16(b) => b
            .into_raw()
            .chunks_exact(2)
            .flat_map(|p| {
                let l = gray16_to_8(p[0]);
                [l, l, l]
            })
            .collect(),
        other => other.to_rgb8().into_raw(),
    };
    RgbImage {
        width,
        height,
        data,
    }
}

/// Pillow opens a 16-bit grayscale PNG as mode `I;16` (or `I`); `convert("RGB")` clips to 255.
fn gray16_to_8(v: u16) -> u8 {
    v.min(255) as u8
}

// ---------------------------------------------------------------------------------------------
// Resize: separable antialiased convolution, as Pillow `src/libImaging/Resample.c` (13.0) and
// torch `aten/src/ATen/native/cpu/UpSampleKernel.cpp` (`_compute_index_ranges_int16_weights`,
// `_compute_indices_min_size_weights_aa`, 2.x).
// ---------------------------------------------------------------------------------------------

/// Fixed-point coefficients of one resampling pass.
struct Coeffs {
    /// First source index of each output index.
    start: Vec<usize>,
    /// Number of taps of each output index.
    len: Vec<usize>,
    /// `ksize` weights per output index.
    weights: Vec<i32>,
    ksize: usize,
    precision: u32,
}

fn filter(resample: Resample, backend: Backend, x: f64) -> f64 {
    let x = x.abs();
    match resample {
        Resample::Bilinear => {
            if x < 1.0 {
                1.0 - x
            } else {
                0.0
            }
        }
        Resample::Bicubic => {
            let a = -0.5;
            if x < 1.0 {
                ((a + 2.0) * x - (a + 3.0)) * x * x + 1.0
            } else if x < 2.0 {
                match backend {
                    // Pillow: (((x - 5) * x + 8) * x - 4) * a
                    Backend::Pil => (((x - 5.0) * x + 8.0) * x - 4.0) * a,
                    // torch cubic_convolution2: ((A * x - 5A) * x + 8A) * x - 4A
                    Backend::Torchvision => ((a * x - 5.0 * a) * x + 8.0 * a) * x - 4.0 * a,
                }
            } else {
                0.0
            }
        }
    }
}

fn support(resample: Resample) -> f64 {
    match resample {
        Resample::Bilinear => 1.0,
        Resample::Bicubic => 2.0,
    }
}

fn coeffs(in_size: usize, out_size: usize, resample: Resample, backend: Backend) -> Coeffs {
    let scale = in_size as f64 / out_size as f64;
    let filterscale = scale.max(1.0);
    let support = support(resample) * filterscale;
    let ksize = support.ceil() as usize * 2 + 1;
    let inv = 1.0 / filterscale;
    let mut start = Vec::with_capacity(out_size);
    let mut len = Vec::with_capacity(out_size);
    let mut w = vec![0f64; out_size * ksize];
    let mut wt_max = 0f64;
    for (xx, k) in w.chunks_exact_mut(ksize).enumerate() {
        let center = (xx as f64 + 0.5) * scale;
        // `(int)` truncation toward zero, then clamp, as in both references.
        let xmin = ((center - support + 0.5) as i64).max(0) as usize;
        let xmax = ((center + support + 0.5) as i64).min(in_size as i64) as usize;
        let n = xmax.saturating_sub(xmin).min(ksize);
        let mut total = 0.0;
        for (x, kx) in k.iter_mut().take(n).enumerate() {
            let v = filter(
                resample,
                backend,
                (x as f64 + xmin as f64 - center + 0.5) * inv,
            );
            *kx = v;
            total += v;
        }
        if total != 0.0 {
            for kx in k.iter_mut().take(n) {
                *kx /= total;
                wt_max = wt_max.max(*kx);
            }
        }
        start.push(xmin);
        len.push(n);
    }
    let precision = match backend {
        Backend::Pil => 22,
        Backend::Torchvision => {
            let mut p = 0u32;
            while p < 22 {
                let next = (0.5 + wt_max * f64::from(1u32 << (p + 1))) as i32;
                if next >= 1 << 15 {
                    break;
                }
                p += 1;
            }
            p
        }
    };
    let one = f64::from(1u32 << precision);
    let weights = w
        .iter()
        .map(|&v| {
            let s = v * one;
            if s < 0.0 {
                (-0.5 + s) as i32
            } else {
                (0.5 + s) as i32
            }
        })
        .collect();
    Coeffs {
        start,
        len,
        weights,
        ksize,
        precision,
    }
}

#[inline]
fn clip8(acc: i32, precision: u32) -> u8 {
    (acc >> precision).clamp(0, 255) as u8
}

/// Horizontal pass over interleaved RGB rows.
fn resample_horizontal(src: &[u8], w_in: usize, h: usize, c: &Coeffs) -> Vec<u8> {
    let w_out = c.start.len();
    let mut out = vec![0u8; w_out * h * 3];
    let half = if c.precision > 0 {
        1i32 << (c.precision - 1)
    } else {
        0
    };
    for (row_in, row_out) in src
        .chunks_exact(w_in * 3)
        .zip(out.chunks_exact_mut(w_out * 3))
    {
        for (xx, px) in row_out.chunks_exact_mut(3).enumerate() {
            let k = &c.weights[xx * c.ksize..xx * c.ksize + c.len[xx]];
            let s = &row_in[c.start[xx] * 3..(c.start[xx] + c.len[xx]) * 3];
            let (mut r, mut g, mut b) = (half, half, half);
            for (p, &wk) in s.chunks_exact(3).zip(k) {
                r += i32::from(p[0]) * wk;
                g += i32::from(p[1]) * wk;
                b += i32::from(p[2]) * wk;
            }
            px[0] = clip8(r, c.precision);
            px[1] = clip8(g, c.precision);
            px[2] = clip8(b, c.precision);
        }
    }
    out
}

/// Vertical pass over interleaved RGB rows.
fn resample_vertical(src: &[u8], w: usize, c: &Coeffs) -> Vec<u8> {
    let h_out = c.start.len();
    let stride = w * 3;
    let mut out = vec![0u8; stride * h_out];
    let half = if c.precision > 0 {
        1i32 << (c.precision - 1)
    } else {
        0
    };
    let mut acc = vec![0i32; stride];
    for (yy, row_out) in out.chunks_exact_mut(stride).enumerate() {
        acc.fill(half);
        let k = &c.weights[yy * c.ksize..yy * c.ksize + c.len[yy]];
        for (j, &wk) in k.iter().enumerate() {
            let y = c.start[yy] + j;
            let row = &src[y * stride..(y + 1) * stride];
            for (a, &p) in acc.iter_mut().zip(row) {
                *a += i32::from(p) * wk;
            }
        }
        for (o, &a) in row_out.iter_mut().zip(&acc) {
            *o = clip8(a, c.precision);
        }
    }
    out
}

/// Resizes an interleaved RGB8 image with Pillow's / torch's separable antialiased filter.
fn resize(
    img: &RgbImage,
    out_w: u32,
    out_h: u32,
    resample: Resample,
    backend: Backend,
) -> RgbImage {
    let (w, h) = (img.width as usize, img.height as usize);
    let (ow, oh) = (out_w as usize, out_h as usize);
    let mut data = std::borrow::Cow::Borrowed(&img.data[..]);
    let mut cur_w = w;
    if ow != w {
        let c = coeffs(w, ow, resample, backend);
        data = std::borrow::Cow::Owned(resample_horizontal(&data, w, h, &c));
        cur_w = ow;
    }
    if oh != h {
        let c = coeffs(h, oh, resample, backend);
        data = std::borrow::Cow::Owned(resample_vertical(&data, cur_w, &c));
    }
    RgbImage {
        width: out_w,
        height: out_h,
        data: data.into_owned(),
    }
}

/// Output (height, width) of a shortest-edge resize, as `get_resize_output_image_size`:
/// `new_long = int(size * long / short)` in double precision.
pub fn shortest_edge_size(width: u32, height: u32, size: u32) -> (u32, u32) {
    let (short, long) = if width <= height {
        (width, height)
    } else {
        (height, width)
    };
    let new_long = (f64::from(size) * f64::from(long) / f64::from(short)) as u32;
    if width <= height {
        (new_long, size)
    } else {
        (size, new_long)
    }
}

/// Runs resize, center crop, rescale and normalisation on a decoded upright RGB image.
///
/// Returns the CHW `f32` tensor and its (height, width): `crop_size` x `crop_size` whenever
/// `do_center_crop` is on.
///
/// # Errors
/// [`Error::InvalidArgument`] if the image is empty or `data` has the wrong length.
pub fn preprocess_rgb(img: &RgbImage, cfg: &PreprocessConfig) -> Result<(Vec<f32>, u32, u32)> {
    let (w, h) = (img.width, img.height);
    if w == 0 || h == 0 {
        return Err(Error::InvalidArgument(format!(
            "image is {w}x{h} pixels: nothing to embed"
        )));
    }
    if img.data.len() as u64 != u64::from(w) * u64::from(h) * 3 {
        return Err(Error::InvalidArgument(format!(
            "RGB buffer has {} bytes, expected {w}x{h}x3",
            img.data.len()
        )));
    }
    let resized;
    let img = if cfg.do_resize {
        let (oh, ow) = match cfg.size {
            Size::ShortestEdge(s) => shortest_edge_size(w, h, s),
            Size::Exact { height, width } => (height, width),
        };
        if oh == 0 || ow == 0 {
            return Err(Error::InvalidArgument(format!(
                "image {w}x{h} is too thin: it would resize to {ow}x{oh}"
            )));
        }
        if (ow, oh) == (w, h) {
            img
        } else {
            resized = resize(img, ow, oh, cfg.resample, cfg.backend);
            &resized
        }
    } else {
        img
    };
    let (iw, ih) = (img.width as usize, img.height as usize);
    // Center crop (torchvision backend: pad with zeros by floor((c - s) / 2) first; PIL backend:
    // numpy center_crop pads by ceil). Then top/left = floor((s - c) / 2).
    let (cw, ch) = if cfg.do_center_crop {
        (cfg.crop_size as usize, cfg.crop_size as usize)
    } else {
        (iw, ih)
    };
    let pad = |c: usize, s: usize| -> i64 {
        if c <= s {
            0
        } else {
            match cfg.backend {
                Backend::Torchvision => ((c - s) / 2) as i64,
                Backend::Pil => (c - s).div_ceil(2) as i64,
            }
        }
    };
    let (pad_x, pad_y) = (pad(cw, iw), pad(ch, ih));
    let off_x = if cw <= iw { ((iw - cw) / 2) as i64 } else { 0 } - pad_x;
    let off_y = if ch <= ih { ((ih - ch) / 2) as i64 } else { 0 } - pad_y;

    // Per-channel affine map from the 8-bit value: out = (v * a) - b, matching each backend's
    // arithmetic order as closely as f32 allows.
    let mut lut = [[0f32; 256]; 3];
    for (c, table) in lut.iter_mut().enumerate() {
        for (v, o) in table.iter_mut().enumerate() {
            *o = normalise(v as u8, c, cfg);
        }
    }
    let zero: [f32; 3] = [lut[0][0], lut[1][0], lut[2][0]];
    let plane = cw * ch;
    let mut out = vec![0f32; 3 * plane];
    for y in 0..ch {
        let sy = y as i64 + off_y;
        for x in 0..cw {
            let sx = x as i64 + off_x;
            let inside = sy >= 0 && sx >= 0 && (sy as usize) < ih && (sx as usize) < iw;
            for c in 0..3 {
                out[c * plane + y * cw + x] = if inside {
                    let i = (sy as usize * iw + sx as usize) * 3 + c;
                    lut[c][usize::from(img.data[i])]
                } else {
                    zero[c]
                };
            }
        }
    }
    Ok((out, ch as u32, cw as u32))
}

/// One 8-bit channel value through rescale and normalise, in the reference's arithmetic.
fn normalise(v: u8, c: usize, cfg: &PreprocessConfig) -> f32 {
    let x = f32::from(v);
    let (m, s) = (cfg.image_mean[c], cfg.image_std[c]);
    match cfg.backend {
        Backend::Torchvision => {
            if cfg.do_rescale && cfg.do_normalize {
                // Fused: mean and std divided by the rescale factor (f32), then (x - m') / s'.
                let inv = (1.0 / cfg.rescale_factor) as f32;
                (x - m * inv) / (s * inv)
            } else if cfg.do_normalize {
                (x - m) / s
            } else if cfg.do_rescale {
                x * cfg.rescale_factor as f32
            } else {
                x
            }
        }
        Backend::Pil => {
            let x = if cfg.do_rescale {
                (f64::from(v) * cfg.rescale_factor) as f32
            } else {
                x
            };
            if cfg.do_normalize {
                (x - m) / s
            } else {
                x
            }
        }
    }
}

fn square_output(out: (Vec<f32>, u32, u32), cfg: &PreprocessConfig) -> Result<Vec<f32>> {
    let (data, h, w) = out;
    if h != cfg.crop_size || w != cfg.crop_size {
        return Err(Error::InvalidConfig(format!(
            "preprocessing gives {w}x{h} pixels but the vision tower needs {c}x{c}: enable \
             do_center_crop or resize to the crop size",
            c = cfg.crop_size
        )));
    }
    Ok(data)
}

/// Encoded image bytes -> CHW `f32` pixels, `3 * crop_size * crop_size` values, exactly as
/// `CLIPImageProcessor(load_image(bytes))`.
///
/// # Errors
/// [`Error::EmptyInput`] for zero bytes; [`Error::NotAnImage`] for bytes that are not JPEG, PNG,
/// WebP, GIF or BMP (e.g. an HTML error page); [`Error::ImageTooLarge`] when the header declares
/// a side over `cfg.max_side` (checked before decoding); [`Error::ImageDecode`] for corrupt or
/// truncated data; [`Error::InvalidConfig`] if the configuration does not produce a
/// `crop_size` square.
///
/// # Example
/// ```
/// use clipsearch::preprocess::{preprocess, PreprocessConfig};
/// let err = preprocess(b"<!DOCTYPE html><html>403</html>", &PreprocessConfig::clip_default());
/// assert!(matches!(err, Err(clipsearch::Error::NotAnImage(_))));
/// ```
pub fn preprocess(bytes: &[u8], cfg: &PreprocessConfig) -> Result<Vec<f32>> {
    let img = decode_rgb(bytes, cfg.max_side)?;
    square_output(preprocess_rgb(&img, cfg)?, cfg)
}

/// Decoded RGBA8 pixels (e.g. from the browser's `createImageBitmap`, already upright) -> CHW
/// `f32` pixels, with the same alpha handling as [`preprocess`] (alpha dropped).
///
/// Pass straight (non-premultiplied) RGBA: with premultiplied pixels, transparent areas differ.
///
/// # Errors
/// [`Error::InvalidArgument`] if `rgba.len() != w * h * 4` or a side is 0;
/// [`Error::ImageTooLarge`] if a side exceeds `cfg.max_side`; [`Error::InvalidConfig`] as in
/// [`preprocess`].
pub fn preprocess_rgba(w: u32, h: u32, rgba: &[u8], cfg: &PreprocessConfig) -> Result<Vec<f32>> {
    check_side(w, h, cfg.max_side)?;
    if u64::from(w) * u64::from(h) * 4 != rgba.len() as u64 || w == 0 || h == 0 {
        return Err(Error::InvalidArgument(format!(
            "RGBA buffer has {} bytes, expected {w}x{h}x4 and a non-empty image",
            rgba.len()
        )));
    }
    let img = RgbImage {
        width: w,
        height: h,
        data: rgba
            .chunks_exact(4)
            .flat_map(|p| [p[0], p[1], p[2]])
            .collect(),
    };
    square_output(preprocess_rgb(&img, cfg)?, cfg)
}

//! The one error type of clipsearch.
//!
//! Every fallible function returns [`Result<T>`]. Each variant says what went wrong and what to do
//! about it; [`Error::code`] gives a stable name that the JavaScript bindings put in `err.name`.
//!
//! Privacy: no variant ever carries a URL's query string. Code that builds an error from a URL
//! must pass it through [`crate::fetch::redact_url`] first.

/// Result alias used throughout the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in clipsearch.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    // ---- models -------------------------------------------------------------------------
    /// The model file is truncated, corrupt, or not a model at all.
    #[error("invalid model file: {0}. Re-download or re-convert the model.")]
    InvalidModel(String),
    /// A tensor the architecture needs is absent from the weights.
    #[error("model is missing tensor `{0}`: the file is incomplete or was made for another architecture")]
    MissingTensor(String),
    /// A tensor has a shape other than the configuration implies.
    #[error("tensor `{name}` has shape {found:?} but the config implies {expected:?}")]
    TensorShape {
        /// Hugging Face tensor name.
        name: String,
        /// Shape derived from the config.
        expected: Vec<usize>,
        /// Shape found in the file.
        found: Vec<usize>,
    },
    /// The model configuration is missing or invalid.
    #[error("invalid model config: {0}")]
    InvalidConfig(String),
    /// The weights use a quantization type clipsearch does not implement.
    #[error("unsupported quantization `{0}`: use one of f32, f16, q8_0, q4_0, q4_1")]
    UnsupportedQuantization(String),
    /// The tokenizer files are missing or invalid.
    #[error("tokenizer error: {0}")]
    Tokenizer(String),
    /// A tower that was not loaded was asked to embed (e.g. images with a text-only model).
    #[error("the {0} tower is not loaded: load a model file that contains it")]
    TowerNotLoaded(&'static str),
    /// A numerical failure inside the model (should not happen on valid input).
    #[error("model computation failed: {0}")]
    Compute(String),

    // ---- images ---------------------------------------------------------------------------
    /// The bytes are empty.
    #[error("the input is empty (0 bytes)")]
    EmptyInput,
    /// The bytes are not an image format clipsearch decodes (JPEG, PNG, WebP, GIF, BMP).
    #[error("not an image: {0}")]
    NotAnImage(String),
    /// The image format is recognised but the data could not be decoded.
    #[error("could not decode image: {0}")]
    ImageDecode(String),
    /// The image declares dimensions beyond the configured limit; refused before decoding.
    #[error("image is {width}x{height} pixels, over the limit of {limit} pixels per side")]
    ImageTooLarge {
        /// Declared width.
        width: u32,
        /// Declared height.
        height: u32,
        /// Limit in pixels per side.
        limit: u32,
    },

    // ---- collections ----------------------------------------------------------------------
    /// Vectors from one model were offered to a collection built with another.
    #[error(
        "model mismatch: the collection uses model `{expected}` but the data comes from `{found}`"
    )]
    ModelMismatch {
        /// Model key of the collection.
        expected: String,
        /// Model key of the offered data.
        found: String,
    },
    /// A vector's length differs from the collection's dimension.
    #[error("dimension mismatch: expected {expected} values, got {found}")]
    DimensionMismatch {
        /// Collection dimension.
        expected: usize,
        /// Offered vector length.
        found: usize,
    },
    /// A vector holds NaN or infinite values, or is all zeros.
    #[error("invalid vector: {0}")]
    InvalidVector(String),
    /// No item has this id.
    #[error("no item with id `{0}`")]
    UnknownId(String),
    /// A metadata filter expression is malformed.
    #[error("invalid filter: {0}")]
    InvalidFilter(String),
    /// Saved collection or table bytes are corrupt or of an unknown version.
    #[error("invalid saved data: {0}")]
    InvalidData(String),
    /// An argument is out of range or malformed.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),

    // ---- network (URLs are always redacted: scheme, host and path only) ---------------------
    /// The URL could not be parsed.
    #[error("invalid URL `{0}`")]
    InvalidUrl(String),
    /// A presigned URL has expired (S3 answered 403 "Request has expired").
    #[error("presigned URL has expired: {url}. Ask your backend for a fresh URL.")]
    UrlExpired {
        /// Redacted URL.
        url: String,
    },
    /// The server refused access (403), e.g. a tampered or wrongly signed URL.
    #[error("access denied (403) for {url}: the URL's signature or permissions are wrong")]
    AccessDenied {
        /// Redacted URL.
        url: String,
    },
    /// The object does not exist (404).
    #[error("not found (404): {url}")]
    NotFound {
        /// Redacted URL.
        url: String,
    },
    /// The browser blocked the response: the bucket has no CORS rule for this page's origin.
    #[error("CORS blocked {url}: the bucket does not allow origin {origin}. Add this CORS rule to the bucket: {rule}")]
    CorsBlocked {
        /// Redacted URL.
        url: String,
        /// This page's origin.
        origin: String,
        /// The bucket CORS rule (JSON) that would allow it.
        rule: String,
    },
    /// Another HTTP status.
    #[error("HTTP {status} for {url}")]
    HttpStatus {
        /// Redacted URL.
        url: String,
        /// HTTP status code.
        status: u16,
    },
    /// The request failed at the network level after all retries.
    #[error("network error for {url} after {attempts} attempt(s): {reason}")]
    Network {
        /// Redacted URL.
        url: String,
        /// Attempts made.
        attempts: u32,
        /// What the platform reported.
        reason: String,
    },
    /// The request took longer than the timeout.
    #[error("timed out after {ms} ms: {url}")]
    Timeout {
        /// Redacted URL.
        url: String,
        /// Timeout in milliseconds.
        ms: u32,
    },
    /// The operation was aborted by the caller.
    #[error("aborted")]
    Aborted,

    // ---- host -----------------------------------------------------------------------------
    /// A file-system error (native only).
    #[error("I/O error: {0}")]
    Io(String),
}

impl Error {
    /// A stable, PascalCase name for this error, used as `err.name` in JavaScript and in the
    /// CLI's JSON output. These names never change once released.
    ///
    /// # Example
    /// ```
    /// let e = clipsearch::Error::DimensionMismatch { expected: 512, found: 768 };
    /// assert_eq!(e.code(), "DimensionMismatch");
    /// ```
    pub fn code(&self) -> &'static str {
        match self {
            Error::InvalidModel(_) => "InvalidModel",
            Error::MissingTensor(_) => "MissingTensor",
            Error::TensorShape { .. } => "TensorShape",
            Error::InvalidConfig(_) => "InvalidConfig",
            Error::UnsupportedQuantization(_) => "UnsupportedQuantization",
            Error::Tokenizer(_) => "TokenizerError",
            Error::TowerNotLoaded(_) => "TowerNotLoaded",
            Error::Compute(_) => "ComputeError",
            Error::EmptyInput => "EmptyInput",
            Error::NotAnImage(_) => "NotAnImage",
            Error::ImageDecode(_) => "ImageDecode",
            Error::ImageTooLarge { .. } => "ImageTooLarge",
            Error::ModelMismatch { .. } => "ModelMismatch",
            Error::DimensionMismatch { .. } => "DimensionMismatch",
            Error::InvalidVector(_) => "InvalidVector",
            Error::UnknownId(_) => "UnknownId",
            Error::InvalidFilter(_) => "InvalidFilter",
            Error::InvalidData(_) => "InvalidData",
            Error::InvalidArgument(_) => "InvalidArgument",
            Error::InvalidUrl(_) => "InvalidUrl",
            Error::UrlExpired { .. } => "UrlExpired",
            Error::AccessDenied { .. } => "AccessDenied",
            Error::NotFound { .. } => "NotFound",
            Error::CorsBlocked { .. } => "CorsBlocked",
            Error::HttpStatus { .. } => "HttpError",
            Error::Network { .. } => "NetworkError",
            Error::Timeout { .. } => "Timeout",
            Error::Aborted => "AbortError",
            Error::Io(_) => "IoError",
        }
    }
}

impl From<candle_core::Error> for Error {
    fn from(e: candle_core::Error) -> Self {
        Error::Compute(e.to_string())
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::Io(e.to_string())
    }
}
